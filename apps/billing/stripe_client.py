"""The one place the ``stripe`` SDK is configured and its errors are translated.

``stripe_client()`` is a ``StripeClient`` on ``STRIPE_API_KEY``, pointed at
``STRIPE_API_BASE`` when set (the local stub in tests), with the SDK's own
network retries (which resend the same ``Idempotency-Key``). Every create
call passes ``options={"idempotency_key": …}`` derived from one of our rows.

``call(fn, *args, **kwargs)`` runs one SDK call and turns its errors into
domain errors: a declined card → 402 ``card_declined``, rate limited → 429,
anything else from Stripe → 502 ``stripe_error``. Tasks catch
``StripeUnavailable`` to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import stripe
from django.conf import settings
from rest_framework import status

from apps.core.exceptions import Conflict, DomainError, PaymentRequired, RateLimited

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StripeNotConfigured(Conflict):
    default_code = "stripe_not_configured"
    default_message = "Payments are not configured on this platform."


class StripeUnavailable(DomainError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "stripe_error"
    default_message = "The payment provider failed to answer; try again."


class CardDeclined(PaymentRequired):
    default_code = "card_declined"
    default_message = "The card was declined."


class StripeRateLimited(RateLimited):
    default_code = "stripe_rate_limited"
    default_message = "The payment provider is busy; try again shortly."


@lru_cache(maxsize=8)
def _client(api_key: str, api_base: str, retries: int) -> stripe.StripeClient:
    base = (
        {"api": api_base, "connect": api_base, "files": api_base, "meter_events": api_base}
        if api_base
        else None
    )
    return stripe.StripeClient(
        api_key,
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=20),
    )


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_API_KEY:
        raise StripeNotConfigured()
    return _client(
        settings.STRIPE_API_KEY, settings.STRIPE_API_BASE.rstrip("/"), settings.STRIPE_MAX_NETWORK_RETRIES
    )


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """One SDK call; Stripe errors become domain errors (never a 500)."""
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        raise CardDeclined(getattr(exc, "user_message", None) or "The card was declined.") from exc
    except stripe.RateLimitError as exc:
        raise StripeRateLimited() from exc
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "http_status", None) == 404:
            raise StripeObjectMissing() from exc
        logger.warning("stripe: invalid request (%s)", getattr(exc, "code", ""))
        raise StripeUnavailable("The payment provider refused the request.") from exc
    except stripe.StripeError as exc:
        logger.warning("stripe: %s (http %s)", type(exc).__name__, getattr(exc, "http_status", None))
        raise StripeUnavailable() from exc


class StripeObjectMissing(StripeUnavailable):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "stripe_object_missing"
    default_message = "Stripe does not know this object."


def as_dict(obj: Any) -> dict:
    """A StripeObject (or dict) as a plain dict."""
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return dict(obj)
