"""Notifications' one door: ``notify`` (push / email / in-app per the user's settings), and devices.

INTERFACE (fixed; other domains may call it directly for items that have no inbox row):

    notify(*, recipient, kind: str, title: str, body: str = "", data: dict | None = None,
           inbox_item=None, dedupe_key: str, skip_channels=()) -> None

Safe inside a transaction (acts on commit; every notice of one transaction is
written by one INSERT); idempotent per (recipient, channel, dedupe_key).
``skip_channels`` names channels the caller has already served (an email it
sent itself). Channel choice, quiet hours and digests: ``rules``; the rows
and their delivery: ``dispatch`` and ``delivery``.

Devices: ``register_push_token`` upserts by the token's hash (a device
registered again moves to the current user, one row); ``unregister_push_token``;
``send_test_push`` pushes to one device now.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import audit
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.oncommit import on_commit_batch
from apps.preferences.validators import NOTIFICATION_KIND

from . import dispatch, push
from .dispatch import Notice
from .models import PushNotificationToken

logger = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_BODY = 2000
MAX_DEDUPE_KEY = 200


def json_ready(data: dict | None, *, name: str = "data") -> dict[str, Any]:
    """A JSON object with UUIDs and datetimes as strings (raises TypeError for anything else)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TypeError(f"{name} must be a dict")
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _flush_notices(notices: list[Notice]) -> None:
    with transaction.atomic():
        after = dispatch.dispatch(notices)
        if after is not None:
            transaction.on_commit(after, robust=True)


def notify(
    *,
    recipient: Any,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    inbox_item: Any = None,
    dedupe_key: str,
    skip_channels: tuple[str, ...] | frozenset[str] = (),
) -> None:
    if recipient is None:
        return
    if not isinstance(kind, str) or not NOTIFICATION_KIND.match(kind):
        raise ValueError(f"{kind!r} is not a notification kind")
    if not isinstance(dedupe_key, str) or not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY:
        raise ValueError(f"dedupe_key must be a non-empty string of at most {MAX_DEDUPE_KEY} characters")
    notice = Notice(
        recipient_id=getattr(recipient, "pk", recipient),
        kind=kind,
        title=str(title)[:MAX_TITLE],
        body=str(body or "")[:MAX_BODY],
        data=json_ready(data),
        dedupe_key=dedupe_key,
        inbox_item_id=getattr(inbox_item, "pk", inbox_item),
        skip_channels=frozenset(skip_channels),
    )
    on_commit_batch(_flush_notices, notice)


# --- devices ------------------------------------------------------------------------

_PROVIDER_FOR_PLATFORM = {"web": "webpush", "android": "fcm", "ios": "apns"}
_PLATFORMS_FOR_PROVIDER = {"webpush": {"web"}, "fcm": {"android", "ios", "web"}, "apns": {"ios"}}


@transaction.atomic
def register_push_token(
    *,
    actor: Any,
    platform: str,
    token: Any,
    provider: str | None = None,
    device_label: str = "",
    app_version: str | None = None,
) -> tuple[PushNotificationToken, bool]:
    """Upsert the device by its hash; returns (row, created). Another user's device moves to ``actor``."""
    if platform not in PushNotificationToken.Platform.values:
        raise ValidationFailed("Unknown platform.", field="platform", code="invalid_choice")
    provider = provider or _PROVIDER_FOR_PLATFORM[platform]
    if platform not in _PLATFORMS_FOR_PROVIDER.get(provider, set()):
        raise ValidationFailed(
            f"Provider {provider} does not serve {platform} devices.",
            field="provider",
            code="invalid_provider",
        )
    if provider == "webpush":
        subscription = push.parse_web_subscription(token)
        stored = json.dumps(subscription, separators=(",", ":"), sort_keys=True)
        token_hash, hint = push.token_identity(provider, subscription)
    else:
        stored = push.parse_device_token(token)
        token_hash, hint = push.token_identity(provider, stored)
    now = timezone.now()
    fields = {
        "network_id": actor.network_id,
        "user": actor,
        "platform": platform,
        "provider": provider,
        "token": stored,
        "token_hint": hint,
        "device_label": (device_label or "")[:200],
        "app_version": (app_version or None) and app_version[:50],
        "enabled": True,
        "last_seen_at": now,
        "failure_count": 0,
    }
    row = PushNotificationToken.objects.select_for_update().filter(token_hash=token_hash).first()
    if row is None:
        try:
            with transaction.atomic():
                row = PushNotificationToken.objects.create(token_hash=token_hash, **fields)
        except IntegrityError:  # registered concurrently: fall through to the update
            row = PushNotificationToken.objects.select_for_update().get(token_hash=token_hash)
        else:
            audit.record(
                network=actor.network_id, actor=actor, action="notifications.device.registered", target=row
            )
            return row, True
    previous_user = row.user_id
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    if previous_user != actor.pk:
        audit.record(
            network=actor.network_id,
            actor=actor,
            action="notifications.device.moved",
            target=row,
            data={"from_user": str(previous_user)},
        )
    return row, False


@transaction.atomic
def unregister_push_token(*, actor: Any, token: PushNotificationToken) -> None:
    if token.user_id != actor.pk:
        raise NotFound()
    PushNotificationToken.objects.filter(pk=token.pk, user_id=actor.pk).delete()


def send_test_push(*, actor: Any, token: PushNotificationToken) -> push.PushResult:
    """Push a test message to one of the actor's devices now (not recorded as a notification)."""
    if token.user_id != actor.pk:
        raise NotFound()
    from .delivery import apply_push_result

    class _Probe:  # what push_payload reads from a notification
        pk = f"test-{token.pk}"
        kind = "system"
        title = "Test notification"
        body = "Push notifications work on this device."
        data = {"url": "", "test": True}
        inbox_item_id = None

    result = push.provider_for(token.provider).send(token, push.push_payload(notification=_Probe()))
    apply_push_result(token=token, result=result)
    return result
