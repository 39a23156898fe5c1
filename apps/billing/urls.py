from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ai, stripe

router = SimpleRouter(trailing_slash=True)
# --- AI providers and usage ---
router.register("ai-provider-configs", ai.AIProviderConfigViewSet, basename="ai-provider-config")
router.register("ai-usage", ai.AIUsageViewSet, basename="ai-usage")
# --- Stripe ---
router.register("billing-accounts", stripe.BillingAccountViewSet, basename="billing-account")

urlpatterns = [
    path("ai-models/", ai.AIModelListView.as_view(), name="ai-models"),
    path("webhooks/stripe/", stripe.StripeWebhookView.as_view(), name="stripe-webhook"),
    *router.urls,
]
