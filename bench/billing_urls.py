"""The bench URLs plus the floor of the Stripe webhook: a view that only verifies the signature.

The floor is the SDK's signature check alone (``WebhookSignature.verify_header`` on the raw body,
300 s tolerance — what ``construct_event`` runs before building its object), answered with a fixed
JSON: no parse, no storage, no queue. The same middleware stack runs in front of both views."""

import stripe
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.urls import urlpatterns as bench_urlpatterns


@csrf_exempt
def bare_stripe(request):
    try:
        stripe.WebhookSignature.verify_header(
            request.body.decode(),
            request.headers.get("Stripe-Signature"),
            settings.STRIPE_WEBHOOK_SECRET,
            300,
        )
    except (stripe.SignatureVerificationError, ValueError):
        return HttpResponse(status=400)
    return HttpResponse(b'{"status": "verified"}', content_type="application/json")


urlpatterns = [path("bench/bare-stripe", bare_stripe), *bench_urlpatterns]
