from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .api import public, views

router = SimpleRouter(trailing_slash=True)
router.register("email-campaigns", views.EmailCampaignViewSet, basename="email-campaign")
router.register("email-suppressions", views.EmailSuppressionViewSet, basename="email-suppression")

urlpatterns = [
    re_path(r"^webhooks/ses/?$", public.SESWebhookView.as_view(), name="webhook-ses"),
    path("email-unsubscribe/<str:token>/", public.EmailUnsubscribeView.as_view(), name="email-unsubscribe"),
    *router.urls,
]
