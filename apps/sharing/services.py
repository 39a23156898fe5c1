"""Share links: create (get-or-create), count clicks, credit signups.

* ``create_share`` — one row per (sharer, target, channel): the existing one is
  returned. The target must be visible to the sharer and not private
  (``targets.resolve``); its URL is built by the server.
* ``record_click`` — bots are not counted; ``click_count`` by ``F()`` in one
  UPDATE; the visitor hash goes into a Redis HyperLogLog (``PFADD``) and the
  share into a dirty set that ``sync_unique_visitors`` copies into
  ``unique_visitor_count`` (``PFCOUNT``). The caller sets the signed
  ``colony_attr`` cookie (last touch wins).
* ``credit_signup`` — a new user arriving with a cookie younger than the
  network's ``attribution_days``: the attribution is copied into
  ``User.signup_attribution`` by a conditional UPDATE (only when it holds no
  share yet), and only that UPDATE moves ``signup_count``: counted once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import ValidationFailed
from apps.core.ratelimit import enforce_network_rate
from apps.core.redis import get_redis

from . import targets
from .models import Share, ShareChannel

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 8
COOKIE_NAME = "colony_attr"
COOKIE_SALT = "sharing.attribution"
HLL_KEY = "share:uv:{id}"
DIRTY_KEY = "share:uv:dirty"
#: crawlers, link unfurlers and HTTP libraries: redirected, never counted
BOT_UA = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|embedly|quora link|whatsapp|telegram|"
    r"discord|slack|vkshare|pinterest|bitly|curl|wget|python-|httpx|go-http|java/|okhttp|headless|"
    r"lighthouse|monitor",
    re.IGNORECASE,
)
_UTM_TEXT = re.compile(r"^[\w .\-]{0,100}$")


def attribution_days(network: Any) -> int:
    return int(network.setting("attribution_days", settings.SHARE_ATTRIBUTION_DAYS) or 0)


def attribution_time(attribution: dict[str, Any], network: Any) -> datetime | None:
    """When the cookie's share was clicked, or None when that is unreadable, naive or older than
    ``network``'s attribution window (what both a signup and a waitlist join are credited by)."""
    try:
        at = datetime.fromisoformat(str(attribution.get("at")))
    except ValueError:
        return None
    if timezone.is_naive(at) or at < timezone.now() - timedelta(days=attribution_days(network)):
        return None
    return at


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _clean_utm(value: str, field: str) -> str:
    value = (value or "").strip()
    if not _UTM_TEXT.match(value):
        raise ValidationFailed(
            "Use up to 100 letters, digits, spaces, dots, dashes or underscores.", field=field
        )
    return value


def share_url(share: Share) -> str:
    """The public short link."""
    return f"{targets.base_url(share.network)}/s/{share.code}"


def redirect_url(share: Share) -> str:
    """The target with the share's UTM parameters (built from our own rows only)."""
    params = {
        "utm_source": share.utm_source,
        "utm_medium": share.utm_medium,
        "utm_campaign": share.utm_campaign,
    }
    if share.utm_content:
        params["utm_content"] = share.utm_content
    if share.utm_term:
        params["utm_term"] = share.utm_term
    sep = "&" if "?" in share.target_url else "?"
    return f"{share.target_url}{sep}{urlencode(params)}"


@transaction.atomic
def create_share(
    *,
    actor: Any,
    target_type: str,
    target_id: Any,
    channel: str = ShareChannel.LINK,
    utm_content: str = "",
    utm_term: str = "",
) -> tuple[Share, bool]:
    """Returns (share, created); the same sharer, target and channel give back the same link."""
    if channel not in ShareChannel.values:
        raise ValidationFailed(f"Choose one of: {', '.join(ShareChannel.values)}.", field="channel")
    network = actor.network
    target = targets.resolve(viewer=actor, network=network, target_type=target_type, target_id=target_id)
    lookup = {"network": network, "sharer": actor, "target_type": target.type, "target_id": target.id}
    existing = Share.objects.filter(channel=channel, **lookup).first()
    if existing is not None:
        return existing, False
    enforce_network_rate(network=network, name="shares", subject=actor.pk, default="200/h")
    fields = {
        "target_url": targets.base_url(network) + target.path,
        "utm_source": channel,
        "utm_content": _clean_utm(utm_content, "utm_content"),
        "utm_term": _clean_utm(utm_term, "utm_term"),
    }
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Share.objects.create(code=_new_code(), channel=channel, **lookup, **fields), True
        except IntegrityError:
            # a concurrent identical share won, or (rarely) the code was taken: look, then retry
            existing = Share.objects.filter(channel=channel, **lookup).first()
            if existing is not None:
                return existing, False
    raise RuntimeError("could not allocate a share code")  # 62^8 codes: not reached in practice


def shares_of_target(
    qs: QuerySet[Share], *, viewer: Any, network: Any, target_type: str, target_id: Any
) -> tuple[QuerySet[Share], bool]:
    """A target's shares as ``viewer`` sees them: every one when they maintain the target, else
    their own; with whether they maintain it."""
    qs = qs.filter(target_type=target_type, target_id=target_id)
    if targets.is_maintainer(viewer=viewer, network=network, target_type=target_type, target_id=target_id):
        return qs, True
    return qs.filter(sharer=viewer), False


def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(BOT_UA.search(user_agent))


def visitor_hash(*, ip: str | None, user_agent: str, visitor_id: str = "") -> str:
    """A keyed hash, never the raw IP: the browser's ``colony_vid`` cookie id, else IP + user agent."""
    key = settings.SECRET_KEY.encode()
    material = f"v:{visitor_id}" if visitor_id else f"ip:{ip or ''}|ua:{user_agent[:300]}"
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()[:32]


def record_click(*, share: Share, user_agent: str, ip: str | None, visitor_id: str = "") -> bool:
    """Count one human click (bots: nothing); returns whether it was counted."""
    if is_bot(user_agent):
        return False
    Share.objects.filter(pk=share.pk).update(click_count=F("click_count") + 1, last_clicked_at=timezone.now())
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.pfadd(HLL_KEY.format(id=share.pk), visitor_hash(ip=ip, user_agent=user_agent, visitor_id=visitor_id))
    pipe.sadd(DIRTY_KEY, str(share.pk))
    pipe.execute()
    return True


def attribution_payload(share: Share) -> dict[str, Any]:
    return {
        "share": str(share.pk),
        "code": share.code,
        "network": str(share.network_id),
        "channel": share.channel,
        "target_type": share.target_type,
        "target_id": str(share.target_id),
        "utm_source": share.utm_source,
        "utm_medium": share.utm_medium,
        "utm_campaign": share.utm_campaign,
        "utm_content": share.utm_content,
        "utm_term": share.utm_term,
        "at": timezone.now().isoformat(),
    }


def sync_unique_visitors(*, batch: int = 500) -> int:
    """Copy each dirty share's HyperLogLog count into its row (idempotent; safe to run twice)."""
    redis = get_redis()
    synced = 0
    while True:
        ids = [i.decode() if isinstance(i, bytes) else i for i in (redis.spop(DIRTY_KEY, batch) or [])]
        if not ids:
            return synced
        pipe = redis.pipeline(transaction=False)
        for share_id in ids:
            pipe.pfcount(HLL_KEY.format(id=share_id))
        counts = pipe.execute()
        for share_id, count in zip(ids, counts, strict=True):
            Share.objects.filter(pk=share_id).update(unique_visitor_count=int(count))
            synced += 1
        if len(ids) < batch:
            return synced


@transaction.atomic
def credit_signup(*, user: Any, attribution: dict[str, Any] | None) -> bool:
    """Credit a fresh signup to the share in its attribution cookie; returns whether it counted."""
    from apps.accounts.models import User

    if not attribution or not isinstance(attribution, dict):
        return False
    share = Share.objects.filter(pk=attribution.get("share"), network_id=user.network_id).first()
    if share is None:
        return False
    ensure_same_network(user.network_id, share)
    at = attribution_time(attribution, user.network)
    if at is None:
        return False
    current = User.objects.filter(pk=user.pk).values_list("signup_attribution", flat=True).first() or {}
    merged = {**current, "share": attribution_payload(share) | {"at": at.isoformat()}}
    updated = (
        User.objects.filter(pk=user.pk)
        .exclude(signup_attribution__has_key="share")
        .update(signup_attribution=merged)
    )
    if not updated:
        return False
    Share.objects.filter(pk=share.pk).update(signup_count=F("signup_count") + 1)
    user.signup_attribution = merged
    return True
