"""The bench URLs plus the floor of the Stripe webhook: a view that only verifies the signature."""

import stripe
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.urls import urlpatterns as bench_urlpatterns


@csrf_exempt
def bare_stripe(request):
    try:
        stripe.Webhook.construct_event(
            request.body.decode(), request.headers.get("Stripe-Signature"), settings.STRIPE_WEBHOOK_SECRET
        )
    except (stripe.SignatureVerificationError, ValueError):
        return HttpResponse(status=400)
    return JsonResponse({"status": "verified"})


urlpatterns = [path("bench/bare-stripe", bare_stripe), *bench_urlpatterns]
