"""Every write on API keys: create, rename, revoke, rotate, usage rollup, reminders."""

from __future__ import annotations

import functools
import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core import audit
from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, InvalidState, ValidationFailed
from apps.core.ids import uuid7
from apps.core.mail import send_mail_on_commit

from . import selectors, tokens, usage
from .models import ApiKey, ApiKeyUsage
from .scopes import UnknownScope, expand_scopes

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=365)
ROTATION_GRACE = timedelta(hours=24)
REMINDER_WINDOW = timedelta(days=7)
USAGE_RETENTION = timedelta(days=396)  # 13 months


@dataclass(frozen=True)
class IssuedKey:
    """A freshly minted key: ``token`` exists only here, never in the database."""

    api_key: ApiKey
    token: str


def normalize_allowed_ips(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError as exc:
            raise ValidationFailed(
                f"{value!r} is not an IP address or CIDR range.", field="allowed_ips"
            ) from exc
        if str(network) not in out:
            out.append(str(network))
    return out


def _validated_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Name the key.", field="name")
    return name[:200]


def _validated_scopes(scopes: list[str]) -> list[str]:
    try:
        expanded = expand_scopes(scopes)
    except UnknownScope as exc:
        raise ValidationFailed(f"Unknown scope(s): {exc}.", field="scopes", code="unknown_scope") from exc
    if not expanded:
        raise ValidationFailed("Give at least one scope.", field="scopes")
    return expanded


def _validated_expiry(expires_at: datetime | None) -> datetime:
    now = timezone.now()
    if expires_at is None:
        return now + DEFAULT_LIFETIME
    if expires_at <= now:
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    if expires_at > now + MAX_LIFETIME:
        raise ValidationFailed("A key lives at most 365 days.", field="expires_at")
    return expires_at


def _check_key_owner(*, actor: User, agent: User | None) -> User:
    if agent is None:
        return actor
    ensure_same_network(actor.network_id, agent)
    visible = User.objects.filter(pk=agent.pk).filter(selectors.manageable_agents_q(actor)).exists()
    if not visible:
        raise ValidationFailed(f'Invalid pk "{agent.pk}" - object does not exist.', field="agent")
    return agent


def _check_organization(*, key_user: User, organization: Any) -> None:
    if organization is None:
        return
    ensure_same_network(key_user.network_id, organization)
    if not selectors.organization_allows_key(organization_id=organization.pk, user=key_user):
        from apps.organizations.models import OrganizationMember

        member = OrganizationMember.objects.filter(
            organization=organization, user=key_user, status="active"
        ).exists() or (key_user.is_ai and key_user.agent_owner_organization_id == organization.pk)
        if not member or organization.archived_at is not None:
            raise ValidationFailed(
                f'Invalid pk "{organization.pk}" - object does not exist.', field="organization"
            )
        raise ValidationFailed(
            "This organization does not allow API keys.", field="organization", code="api_keys_disabled"
        )


def _lock_and_check_quota(key_user: User) -> None:
    """Serialize creations per key owner (row lock), then enforce the active-key limit."""
    User.objects.select_for_update().filter(pk=key_user.pk).values_list("pk", flat=True).first()
    active = selectors.active_keys(ApiKey.objects.filter(user=key_user)).count()
    if active >= settings.API_KEY_MAX_ACTIVE_PER_USER:
        raise Conflict(
            f"At most {settings.API_KEY_MAX_ACTIVE_PER_USER} active API keys per user; revoke one first.",
            code="too_many_keys",
        )


def _insert_key(**fields: Any) -> IssuedKey:
    for _attempt in range(3):
        new = tokens.generate()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(prefix=new.prefix, secret_hash=new.secret_hash, **fields)
        except IntegrityError:  # prefix collision (62**10 space): draw again
            continue
        # a probe of this prefix before it existed may have cached "unknown"
        transaction.on_commit(functools.partial(selectors.forget_prefix, new.prefix))
        return IssuedKey(api_key=api_key, token=new.token)
    raise Conflict("Could not allocate a key prefix; try again.")


@transaction.atomic
def create_api_key(
    *,
    actor: User,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
    organization: Any = None,
    agent: User | None = None,
) -> IssuedKey:
    """Mint a key for the actor or one of the agents they manage; the token is returned once."""
    key_user = _check_key_owner(actor=actor, agent=agent)
    name = _validated_name(name)
    scope_list = _validated_scopes(scopes)
    expiry = _validated_expiry(expires_at)
    ips = normalize_allowed_ips(allowed_ips)
    _check_organization(key_user=key_user, organization=organization)
    _lock_and_check_quota(key_user)
    issued = _insert_key(
        network_id=key_user.network_id,
        user=key_user,
        organization=organization,
        name=name,
        scopes=scope_list,
        allowed_ips=ips,
        expires_at=expiry,
        created_by=actor,
    )
    audit.record(
        network=key_user.network_id,
        actor=actor,
        action="apikey.created",
        target=issued.api_key,
        organization=organization,
        data={"prefix": issued.api_key.prefix, "scopes": scope_list, "user": str(key_user.pk)},
    )
    return issued


@transaction.atomic
def rename_api_key(*, actor: User, api_key: ApiKey, name: str) -> ApiKey:
    ensure_same_network(actor.network_id, api_key)
    ApiKey.objects.filter(pk=api_key.pk).update(name=_validated_name(name), updated_at=timezone.now())
    api_key.refresh_from_db()
    return api_key


@transaction.atomic
def revoke_api_key(*, actor: User, api_key: ApiKey, reason: str = "", ip: str | None = None) -> ApiKey:
    """Revoke now; the cached lookup is dropped on commit. Revoking twice → 409.

    Staff (Django admin) act across networks; everyone else only in their own.
    """
    if not actor.is_staff:
        ensure_same_network(actor.network_id, api_key)
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoke_reason=(reason or "")[:2000], updated_at=now
    )
    if not updated:
        raise InvalidState("This key is already revoked.")
    api_key.refresh_from_db()
    audit.record(
        network=api_key.network_id,
        actor=actor,
        action="apikey.revoked",
        target=api_key,
        organization=api_key.organization if api_key.organization_id else None,
        data={"prefix": api_key.prefix, "reason": api_key.revoke_reason},
        ip=ip,
    )
    prefix = api_key.prefix
    transaction.on_commit(lambda: selectors.forget_prefix(prefix))
    return api_key


@transaction.atomic
def rotate_api_key(*, actor: User, api_key: ApiKey) -> IssuedKey:
    """A new key with the same settings; the old one expires in 24 h (or sooner if it already did)."""
    ensure_same_network(actor.network_id, api_key)
    now = timezone.now()
    old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if old.revoked_at is not None or old.is_expired or old.replaced_by_id is not None:
        raise InvalidState("Only a live key that was not rotated yet can be rotated.")
    lifetime = (old.expires_at - old.created_at) if old.expires_at else DEFAULT_LIFETIME
    lifetime = min(max(lifetime, timedelta(days=1)), MAX_LIFETIME)
    issued = _insert_key(
        network_id=old.network_id,
        user_id=old.user_id,
        organization_id=old.organization_id,
        name=old.name,
        scopes=old.scopes,
        allowed_ips=old.allowed_ips,
        expires_at=now + lifetime,
        created_by=actor,
    )
    grace_end = now + ROTATION_GRACE
    new_expiry = min(old.expires_at, grace_end) if old.expires_at else grace_end
    ApiKey.objects.filter(pk=old.pk).update(replaced_by=issued.api_key, expires_at=new_expiry, updated_at=now)
    audit.record(
        network=old.network_id,
        actor=actor,
        action="apikey.rotated",
        target=old,
        data={"prefix": old.prefix, "new_prefix": issued.api_key.prefix},
    )
    prefix = old.prefix
    transaction.on_commit(lambda: selectors.forget_prefix(prefix))
    api_key.refresh_from_db()
    return issued


def touch_last_used(*, key_id: Any, ip: str | None) -> None:
    """At most once a minute per key (the caller holds the Redis guard)."""
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now(), last_used_ip=ip)


_UPSERT = """
INSERT INTO {usage} (id, created_at, updated_at, network_id, api_key_id, hour_at,
                     request_count, error_count, throttled_count)
SELECT v.id, now(), now(), k.network_id, k.id, v.hour_at, v.r, v.e, v.t
FROM unnest(%s::uuid[], %s::uuid[], %s::timestamptz[], %s::int[], %s::int[], %s::int[])
     AS v(id, key_id, hour_at, r, e, t)
JOIN {keys} k ON k.id = v.key_id
ON CONFLICT (network_id, api_key_id, hour_at) DO UPDATE SET
    request_count = {usage}.request_count + excluded.request_count,
    error_count = {usage}.error_count + excluded.error_count,
    throttled_count = {usage}.throttled_count + excluded.throttled_count,
    updated_at = excluded.updated_at
"""


def rollup_usage() -> int:
    """Move the Redis counters into ApiKeyUsage; returns the number of (key, hour) rows touched.

    Read-and-reset is atomic in Redis, the add is an upsert: running twice or
    concurrently never counts a request twice. A failed write restores the
    counters for the next run.
    """
    counts = usage.drain()
    if not counts:
        return 0
    ids, key_ids, hours, r, e, t = [], [], [], [], [], []
    for (key_id, hour), values in sorted(counts.items()):
        try:
            key_uuid = uuid.UUID(key_id)
        except ValueError:
            logger.warning("apikeys usage: dropping counters of malformed key id %r", key_id)
            continue
        ids.append(uuid7())
        key_ids.append(key_uuid)
        hours.append(datetime.fromtimestamp(hour, tz=UTC))
        r.append(values.get("r", 0))
        e.append(values.get("e", 0))
        t.append(values.get("t", 0))
    sql = _UPSERT.format(usage=ApiKeyUsage._meta.db_table, keys=ApiKey._meta.db_table)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [ids, key_ids, hours, r, e, t])
    except DatabaseError:
        usage.restore(counts)
        raise
    return len(ids)


def purge_usage(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - USAGE_RETENTION
    deleted, _ = ApiKeyUsage.objects.filter(hour_at__lt=cutoff).delete()
    return deleted


def _reminder_recipient(api_key: ApiKey) -> str | None:
    user = api_key.user
    if not user.is_ai:
        return user.email
    owner = user.agent_owner_user or api_key.created_by
    return owner.email if owner is not None else None


def send_expiry_reminders(*, now: datetime | None = None) -> int:
    """Email the owner of each key expiring within 7 days, once per key (claimed by a conditional UPDATE)."""
    now = now or timezone.now()
    due = (
        ApiKey.objects.filter(
            revoked_at__isnull=True,
            replaced_by__isnull=True,
            expiry_reminded_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + REMINDER_WINDOW,
            network__status="active",
        )
        .order_by("expires_at")
        .values_list("pk", flat=True)
    )
    sent = 0
    for key_id in list(due[:1000]):
        if _remind_one(key_id=key_id, now=now):
            sent += 1
    return sent


@transaction.atomic
def _remind_one(*, key_id: Any, now: datetime) -> bool:
    claimed = ApiKey.objects.filter(
        pk=key_id, expiry_reminded_at__isnull=True, revoked_at__isnull=True
    ).update(expiry_reminded_at=now)
    if not claimed:
        return False
    api_key = ApiKey.objects.select_related("user", "user__agent_owner_user", "created_by", "network").get(
        pk=key_id
    )
    recipient = _reminder_recipient(api_key)
    audit.record(
        network=api_key.network_id,
        actor=None,
        action="apikey.expiry_reminded",
        target=api_key,
        data={
            "prefix": api_key.prefix,
            "expires_at": api_key.expires_at.isoformat(),
            "sent": bool(recipient),
        },
    )
    if not recipient:
        return False
    send_mail_on_commit(
        to=recipient,
        template="apikeys/expiry_reminder",
        context={"api_key": api_key},
        network=api_key.network,
        subject=f"Your API key “{api_key.name}” expires soon",
    )
    return True
