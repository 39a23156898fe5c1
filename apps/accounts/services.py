"""Account services: handles, profile, sessions and their revocation, staff actions."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone
from user_agents import parse as parse_user_agent

from apps.core import audit, ratelimit
from apps.core.cache import LocalThrottle
from apps.core.clientip import client_ip  # noqa: F401 — re-exported for older callers
from apps.core.exceptions import NotFound, RateLimited, ValidationFailed

from .models import User, UserSession
from .signals import send_users_changed_on_commit

_HANDLE_CLEAN = re.compile(r"[^a-z0-9_]")
LAST_SEEN_INTERVAL = timedelta(minutes=5)


def unique_handle(*, network: Any, seed: str) -> str:
    base = _HANDLE_CLEAN.sub("_", (seed or "user").lower()).strip("_")[:24] or "user"
    if len(base) < 3:
        base = (base + "_user")[:24]
    candidate = base
    while User.objects.filter(network=network, handle=candidate).exists():
        candidate = f"{base}_{secrets.token_hex(2)}"
    return candidate


@transaction.atomic
def update_profile(*, actor: User, user: User, **fields: Any) -> User:
    if actor.pk != user.pk:
        raise NotFound()
    allowed = {"display_name", "bio", "handle", "avatar"}
    changed = []
    for name, value in fields.items():
        if name not in allowed:
            continue
        if name == "handle":
            value = value.lower()
            if User.objects.filter(network_id=user.network_id, handle=value).exclude(pk=user.pk).exists():
                raise ValidationFailed("This handle is taken.", field="handle", code="handle_taken")
        setattr(user, name, value)
        changed.append(name)
    if changed:
        # only what changed: the untouched fields' validators and the CHECK constraints over them
        # (each one a SELECT in a savepoint: ~24 statements and ~8 ms of CPU per PATCH) cannot fail
        # now; the handle's uniqueness is checked above, and every constraint stays in the database
        user.full_clean(exclude=[f.name for f in User._meta.concrete_fields if f.name not in changed])
        user.save(update_fields=changed + ["updated_at"])
    return user


# --- re-authentication ---------------------------------------------------------

#: wrong passwords per user before 429 (a stolen session must not brute-force the password)
PASSWORD_FAILURE_RATE = "5/15m"


def confirm_password(*, user: User, password: str | None) -> None:
    """The user's password, confirming a sensitive change (rate-limited per user)."""
    rate = ratelimit.Rate.parse(PASSWORD_FAILURE_RATE)
    bucket = f"reauth-fail:{user.pk}"
    if ratelimit.peek(bucket, rate) >= rate.limit:
        raise RateLimited("Too many wrong passwords; wait before trying again.", retry_after=rate.window)
    if not user.has_usable_password():  # signed up with a social account only
        raise ValidationFailed(
            "Set a password for your account first; it is needed to confirm this change.",
            field="password",
            code="password_not_set",
        )
    if not password or not user.check_password(password):
        ratelimit.hit(bucket, rate)
        raise ValidationFailed("The password is not correct.", field="password", code="invalid_password")


# --- sessions ---------------------------------------------------------------


def device_label(user_agent: str) -> str:
    if not user_agent:
        return "Unknown device"
    ua = parse_user_agent(user_agent)
    browser = ua.browser.family if ua.browser.family != "Other" else ""
    system = ua.os.family if ua.os.family != "Other" else ""
    if not browser and not system:
        return user_agent[:60]
    return " on ".join(p for p in (browser, system) if p)


def _session_kind(request: Any) -> str:
    """``app`` for allauth-headless app clients (their X-Session-Token is the session key)."""
    headless = getattr(getattr(request, "allauth", None), "headless", None)
    client = getattr(headless, "client", None)
    value = getattr(client, "value", client)
    return UserSession.Kind.APP if value == "app" else UserSession.Kind.BROWSER


def start_user_session(*, request: Any, user: User) -> UserSession | None:
    """Record the session a login just created (idempotent per session key)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    if not session.session_key:
        session.save()
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
    expires_at = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    row, _ = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "kind": _session_kind(request),
            "ip": client_ip(request),
            "user_agent": user_agent,
            "device_label": device_label(user_agent),
            "last_seen_at": timezone.now(),
            "expires_at": expires_at,
            "revoked_at": None,
        },
    )
    return row


def follow_session_key(*, old_key: str | None, new_key: str | None) -> None:
    """The session got a new key (``update_session_auth_hash`` after a password change)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key, revoked_at__isnull=True).update(session_key=new_key)


def session_key_before_request(request: Any) -> str | None:
    """The key this request arrived with: the X-Session-Token of app clients, else the cookie's."""
    if _session_kind(request) == UserSession.Kind.APP:
        return request.headers.get("X-Session-Token") or None
    return getattr(request, "_colony_session_key_at_start", None)


def _seen_marker(session_key: str) -> str:
    return f"usersession:seen:{session_key}"


#: per process, a session reaches the Redis guard below at most once a minute
_LOCAL_TOUCHES = LocalThrottle(60)


def touch_user_session(*, session_key: str | None) -> bool:
    """Move last_seen_at forward at most every 5 minutes (one Redis check otherwise).

    Returns False when the session's row is revoked (the caller treats the
    session as dead); a session without a row is left alone. Each process
    lets a session through to the Redis guard at most once a minute (in
    memory), so most requests cost nothing here. Revocation does not wait
    for this: ``revoke_sessions`` deletes the session itself.
    """
    if not session_key or not _LOCAL_TOUCHES.due(session_key):
        return True
    marker = _seen_marker(session_key)
    if not cache.add(marker, 1, int(LAST_SEEN_INTERVAL.total_seconds())):
        return True
    updated = UserSession.objects.filter(session_key=session_key, revoked_at__isnull=True).update(
        last_seen_at=timezone.now()
    )
    if updated:
        return True
    if UserSession.objects.filter(session_key=session_key, revoked_at__isnull=False).exists():
        cache.delete(marker)
        _LOCAL_TOUCHES.forget(session_key)
        return False
    return True


def session_group(session_key: str) -> str:
    return f"session.{session_key}"


def user_group(user_id: Any) -> str:
    return f"user.{user_id}"


def _close_sockets(session_keys: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    send = async_to_sync(layer.group_send)
    for key in session_keys:
        send(session_group(key), {"type": "session.revoked"})


def close_sockets_on_commit(session_keys: list[str]) -> None:
    """Close these sessions' WebSockets (``session.<key>`` groups) once the transaction commits."""
    keys = [key for key in session_keys if key]
    if keys:
        transaction.on_commit(lambda: _close_sockets(keys))


def revoke_sessions(*, user: User, sessions: list[UserSession], reason: str = "revoked") -> int:
    """End Django sessions, mark rows revoked, close their sockets on commit."""
    keys = [s.session_key for s in sessions if s.revoked_at is None]
    if not keys:
        return 0
    now = timezone.now()
    with transaction.atomic():
        UserSession.objects.filter(user=user, session_key__in=keys, revoked_at__isnull=True).update(
            revoked_at=now
        )
        Session.objects.filter(session_key__in=keys).delete()
        transaction.on_commit(lambda: _forget_cached_sessions(keys))
        transaction.on_commit(lambda: _close_sockets(keys))
    return len(keys)


def _forget_cached_sessions(keys: list[str]) -> None:
    # cached_db sessions live in the cache too; drop them so a revoked key is dead at once
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX

    cache.delete_many([KEY_PREFIX + key for key in keys] + [_seen_marker(key) for key in keys])


def revoke_other_sessions(*, actor: User, current_session_key: str | None) -> int:
    rows = list(
        UserSession.objects.filter(user=actor, revoked_at__isnull=True).exclude(
            session_key=current_session_key or ""
        )
    )
    return revoke_sessions(user=actor, sessions=rows)


def revoke_all_sessions(*, user: User) -> int:
    rows = list(UserSession.objects.filter(user=user, revoked_at__isnull=True))
    # sessions logged in before UserSession rows existed are found by scanning is costly;
    # every login since creates a row, so the rows are authoritative.
    return revoke_sessions(user=user, sessions=rows)


# --- agents -------------------------------------------------------------------


def set_agents_status(*, agents: models.QuerySet, status: str, from_status: str | None = None) -> list[Any]:
    """Move agents (a User queryset) to ``status``; returns the ids that changed.

    The one bulk writer of ``agent_status`` (organization archive pauses,
    account deletion disables); caches keyed by user are told on commit.
    """
    agents = agents.filter(is_ai=True)
    if from_status is not None:
        agents = agents.filter(agent_status=from_status)
    ids = list(agents.values_list("pk", flat=True))
    if ids:
        User.objects.filter(pk__in=ids).update(agent_status=status, updated_at=timezone.now())
        send_users_changed_on_commit(ids)
    return ids


# --- staff actions ------------------------------------------------------------


@transaction.atomic
def suspend_user(*, actor: User, user: User, until: Any = None, reason: str = "") -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    user.suspended_until = until or (timezone.now() + timedelta(days=36500))
    user.suspension_reason = reason
    user.save(update_fields=["suspended_until", "suspension_reason", "updated_at"])
    revoke_all_sessions(user=user)
    audit.record(
        network=user.network_id,
        actor=actor,
        action="account.user.suspended",
        target=user,
        data={"until": user.suspended_until.isoformat(), "reason": reason},
    )
    return user


@transaction.atomic
def unsuspend_user(*, actor: User, user: User) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    user.suspended_until = None
    user.suspension_reason = ""
    user.save(update_fields=["suspended_until", "suspension_reason", "updated_at"])
    audit.record(network=user.network_id, actor=actor, action="account.user.unsuspended", target=user)
    return user


@transaction.atomic
def force_logout(*, actor: User, user: User) -> int:
    count = revoke_all_sessions(user=user)
    audit.record(
        network=user.network_id,
        actor=actor,
        action="account.user.forced_logout",
        target=user,
        data={"sessions": count},
    )
    return count


@transaction.atomic
def set_network_role(*, actor: User, user: User, role: str) -> User:
    if role not in User.NetworkRole.values:
        raise ValidationFailed("Unknown role.", field="network_role")
    before = user.network_role
    user.network_role = role
    user.save(update_fields=["network_role", "updated_at"])
    audit.record(
        network=user.network_id,
        actor=actor,
        action="account.user.role_changed",
        target=user,
        data={"before": before, "after": role},
    )
    return user


# --- housekeeping -----------------------------------------------------------------

SESSION_ROW_RETENTION = timedelta(days=30)
CLEAR_BATCH = 5000


def clear_sessions(*, now: Any = None, batch_size: int = CLEAR_BATCH) -> dict[str, int]:
    """Daily: drop expired Django sessions, and UserSession rows ended over 30 days ago.

    Idempotent; deletes in short batches (no long locks). Login history keeps
    its rows (their ``session`` link becomes null).
    """
    now = now or timezone.now()
    expired, _ = Session.objects.filter(expire_date__lt=now).delete()
    cutoff = now - SESSION_ROW_RETENTION
    ended = UserSession.objects.filter(
        models.Q(revoked_at__lt=cutoff) | models.Q(expires_at__lt=cutoff)
    ).values_list("pk", flat=True)
    rows = 0
    while True:
        ids = list(ended[:batch_size])
        if not ids:
            break
        deleted, _ = UserSession.objects.filter(pk__in=ids).delete()
        rows += deleted
    return {"sessions": expired, "user_sessions": rows}
