"""``Authorization: Bearer col_<prefix>_<secret>`` → ``(user, api_key)``.

Hot path (``hotpath.load``): one Redis round trip judges the secret's HMAC
against the cached key, returns the key with its user and network *and*,
only when the secret matched, counts the request (rate limit, usage,
last-used guard); a wrong secret or an unknown prefix is counted per client
IP and per prefix instead (429 past ``API_KEY_FAILURE_RATE_PER_IP`` /
``_PER_PREFIX``) and never spends the key's budget. No SQL when warm. The
cache (60 s) is dropped when the key changes and when its user or network is
saved, so a suspension or a revoke takes effect at once. The only SQL write
is ``last_used_at``, at most once a minute per key.
"""

from __future__ import annotations

import ipaddress
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rest_framework import authentication, exceptions

if TYPE_CHECKING:
    from apps.accounts.models import User

    from .models import ApiKey

# DRF imports this module while ``rest_framework.views`` loads, so everything
# that imports DRF views (our services, the accounts app) is imported lazily.


class ApiKeyInvalid(exceptions.AuthenticationFailed):
    default_detail = "Invalid API key."
    default_code = "invalid_api_key"


class ApiKeyRevoked(exceptions.AuthenticationFailed):
    default_detail = "This API key was revoked."
    default_code = "api_key_revoked"


class ApiKeyExpired(exceptions.AuthenticationFailed):
    default_detail = "This API key has expired."
    default_code = "api_key_expired"


class ApiKeyIpNotAllowed(exceptions.PermissionDenied):
    default_detail = "This API key may not be used from this IP address."
    default_code = "ip_not_allowed"


class ApiKeysDisabled(exceptions.PermissionDenied):
    default_detail = "The organization of this API key does not allow API keys."
    default_code = "api_keys_disabled"


class ApiKeyThrottled(exceptions.Throttled):
    default_detail = "Too many requests with this API key."


class ApiKeyFailuresThrottled(exceptions.Throttled):
    default_detail = "Too many failed API key attempts; wait before trying again."


@lru_cache(maxsize=1024)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in allowed)


def _valid_ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def ip_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, allowed: tuple[str, ...]) -> bool:
    if not allowed:
        return True
    if ip is None:
        return False
    return any(ip in network for network in _networks(allowed) if network.version == ip.version)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[User, ApiKey] | None:
        from apps.accounts.models import User
        from apps.accounts.services import client_ip

        from . import hotpath, selectors, services, tokens

        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token.startswith(tokens.KEY_PREFIX):
            return None  # some other bearer scheme
        parsed = tokens.parse(token)
        if parsed is None:
            raise ApiKeyInvalid()
        prefix, secret = parsed
        address = client_ip(request)
        # one Redis round trip when warm: the secret is judged there, and only a
        # matching one charges the key; failures count per IP and per prefix
        principal = hotpath.load(prefix, secret_hash=tokens.hash_secret(secret), ip=address)
        if principal.failure is not None:
            if principal.failure.throttled:
                raise ApiKeyFailuresThrottled(wait=principal.failure.retry_after)
            raise ApiKeyInvalid()
        record, user, admission = principal.record, principal.user, principal.admission
        if admission is None:  # the key's user is gone
            raise ApiKeyInvalid()
        if record.revoked:
            raise ApiKeyRevoked()
        if record.expires_at is not None and record.expires_at <= time.time():
            raise ApiKeyExpired()
        ip = _valid_ip(address)
        if not ip_allowed(ip, record.allowed_ips):
            raise ApiKeyIpNotAllowed()
        if user is None or str(user.network_id) != record.network_id:
            raise ApiKeyInvalid()
        if not user.is_active or user.state != User.State.ACTIVE:
            # deactivated, deleted, or deletion requested (keys resume if it is cancelled)
            raise exceptions.AuthenticationFailed("User inactive or deleted.", code="user_inactive")
        if record.organization_id and not selectors.organization_allows_key(
            organization_id=record.organization_id, user=user
        ):
            raise ApiKeysDisabled()
        if not admission.allowed:
            raise ApiKeyThrottled(wait=admission.retry_after)
        if admission.touch_last_used:
            services.touch_last_used(key_id=record.id, ip=str(ip) if ip else None)
        _count_errors_after_response(request, key_id=record.id, hour=admission.hour)
        return user, principal.api_key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword


def _count_errors_after_response(request: Any, *, key_id: str, hour: int) -> None:
    """Count the response as an error (status ≥ 400) once the view has produced it.

    Wraps ``finalize_response`` (and the re-raise of uncaught exceptions) of
    this request's view instance only: no middleware or settings change.
    """
    from . import usage

    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return
    finalize = view.finalize_response
    reraise = view.raise_uncaught_exception

    def finalize_response(req: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = finalize(req, response, *args, **kwargs)
        if response.status_code >= 400:
            usage.count_error(key_id, hour)
        return response

    def raise_uncaught_exception(exc: Exception) -> None:
        usage.count_error(key_id, hour)
        reraise(exc)

    view.finalize_response = finalize_response
    view.raise_uncaught_exception = raise_uncaught_exception
