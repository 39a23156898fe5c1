"""``GET /s/{code}``: count the click, set the attribution cookie, 302 to the target with UTM."""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.core.clientip import client_ip

from . import services, targets
from .models import Share

VISITOR_COOKIE = "colony_vid"


def read_attribution(request: HttpRequest) -> dict | None:
    """The signed attribution cookie's payload, or None (missing, tampered, expired)."""
    raw = request.get_signed_cookie(services.COOKIE_NAME, default=None, salt=services.COOKIE_SALT)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def share_source(request: HttpRequest, network) -> dict | None:
    """The attribution cookie's share, for a waitlist join in ``network``: None unless it is this
    network's and younger than the network's attribution window (what a signup is credited by)."""
    payload = read_attribution(request)
    if not payload or payload.get("network") != str(network.pk):
        return None
    if services.attribution_time(payload, network) is None:
        return None
    return {k: v for k, v in payload.items() if k != "network"}


@never_cache
@require_safe
def share_redirect(request: HttpRequest, code: str) -> HttpResponse:
    share = (
        Share.objects.filter(code=code[:10], network__status="active").select_related("network").first()
        if code.isalnum()
        else None
    )
    if share is None:
        raise Http404("No such link.")
    location = services.redirect_url(share)
    # defence in depth: only ever our own origin (targets build the URL from our rows)
    own_host = targets.base_url(share.network).split("://", 1)[-1]
    if not url_has_allowed_host_and_scheme(location, allowed_hosts={own_host}, require_https=False):
        raise Http404("No such link.")
    visitor_id = request.COOKIES.get(VISITOR_COOKIE, "")[:64]
    fresh_visitor = not visitor_id
    if fresh_visitor:
        visitor_id = secrets.token_urlsafe(16)
    counted = services.record_click(
        share=share,
        user_agent=request.headers.get("User-Agent", ""),
        ip=client_ip(request),
        visitor_id=visitor_id,  # a fresh one too: its later clicks carry the same id
    )
    response = HttpResponseRedirect(location)
    if counted:
        days = services.attribution_days(share.network)
        secure = settings.SESSION_COOKIE_SECURE
        if days:
            response.set_signed_cookie(
                services.COOKIE_NAME,
                json.dumps(services.attribution_payload(share), separators=(",", ":")),
                salt=services.COOKIE_SALT,
                max_age=days * 86400,
                httponly=True,
                samesite="Lax",
                secure=secure,
            )
        if fresh_visitor:
            response.set_cookie(
                VISITOR_COOKIE, visitor_id, max_age=365 * 86400, httponly=True, samesite="Lax", secure=secure
            )
    return response
