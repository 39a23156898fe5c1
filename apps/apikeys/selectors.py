"""Reads: the key and user loads behind the hot path's cache, and the keys a user may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import ApiKey

#: how long ``hotpath`` caches a key's principal


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What authentication needs of a key row (cached in Redis for 60 s)."""

    id: str
    prefix: str
    network_id: str
    user_id: str
    organization_id: str | None
    secret_hash: str
    scopes: tuple[str, ...]
    allowed_ips: tuple[str, ...]
    expires_at: float | None  # epoch seconds
    revoked: bool

    def to_instance(self, *, user: Any = None) -> ApiKey:
        """An unsaved-looking ApiKey (no queries), bound to ``user`` and its network when given."""
        instance = ApiKey(
            id=uuid.UUID(self.id),
            prefix=self.prefix,
            network_id=uuid.UUID(self.network_id),
            user_id=uuid.UUID(self.user_id),
            organization_id=uuid.UUID(self.organization_id) if self.organization_id else None,
            scopes=list(self.scopes),
            allowed_ips=list(self.allowed_ips),
            expires_at=(
                datetime.fromtimestamp(self.expires_at, tz=UTC) if self.expires_at is not None else None
            ),
        )
        instance._state.adding = False
        instance._state.db = "default"
        if user is not None:
            instance.user = user
            instance.network = user.network
        return instance


def key_record(prefix: str) -> KeyRecord | None:
    """The key with this prefix in one indexed query (``hotpath`` caches it); None if unknown."""
    row = (
        ApiKey.objects.filter(prefix=prefix)
        .values_list(
            "id",
            "network_id",
            "user_id",
            "organization_id",
            "secret_hash",
            "scopes",
            "allowed_ips",
            "expires_at",
            "revoked_at",
        )
        .first()
    )
    if row is None:
        return None
    key_id, network_id, user_id, org_id, secret_hash, scopes, ips, expires_at, revoked_at = row
    return KeyRecord(
        id=str(key_id),
        prefix=prefix,
        network_id=str(network_id),
        user_id=str(user_id),
        organization_id=str(org_id) if org_id else None,
        secret_hash=secret_hash,
        scopes=tuple(scopes),
        allowed_ips=tuple(ips or ()),
        expires_at=expires_at.timestamp() if expires_at else None,
        revoked=revoked_at is not None,
    )


def forget_prefix(prefix: str) -> None:
    forget_prefixes([prefix])


def forget_prefixes(prefixes: list[str]) -> None:
    """Drop the cached principals of these keys."""
    from .hotpath import forget

    forget(prefixes)


def organization_allows_key(*, organization_id: Any, user: Any) -> bool:
    """An org-limited key works while the org is live, allows keys and the user belongs to it."""
    from apps.organizations.models import Organization, OrganizationMember
    from apps.organizations.selectors import api_keys_allowed

    org = (
        Organization.objects.filter(pk=organization_id, archived_at__isnull=True)
        .select_related("security_policy")
        .annotate(
            caller_is_member=Exists(
                OrganizationMember.objects.filter(
                    organization=OuterRef("pk"), user_id=user.pk, status=OrganizationMember.Status.ACTIVE
                )
            )
        )
        .first()
    )
    if org is None:
        return False
    if not (org.caller_is_member or (user.is_ai and user.agent_owner_organization_id == org.pk)):
        return False
    return api_keys_allowed(org)


def manageable_agents_q(user: Any, *, prefix: str = "") -> Q:
    """Agents ``user`` manages: their own, and those of orgs where they may manage agents (§21)."""
    from apps.organizations import roles
    from apps.organizations.models import OrganizationMember

    permission = "org.agents.manage"
    role_q = Q(role__in=roles.MATRIX[permission])
    flag = roles.MEMBER_SETTING.get(permission)
    if flag:
        role_q |= Q(role=roles.MEMBER, **{f"organization__settings__{flag}": True})
    org_ids = OrganizationMember.objects.filter(role_q, user_id=user.pk, status="active").values(
        "organization_id"
    )
    return Q(**{f"{prefix}is_ai": True}) & (
        Q(**{f"{prefix}agent_owner_user_id": user.pk})
        | Q(
            **{
                f"{prefix}agent_owner_organization_id__in": org_ids,
                f"{prefix}agent_owner_organization__archived_at__isnull": True,
            }
        )
    )


def visible_api_keys(qs: QuerySet[ApiKey], *, viewer: Any) -> QuerySet[ApiKey]:
    """The viewer's own keys and the keys of agents they manage."""
    return qs.filter(Q(user_id=viewer.pk) | manageable_agents_q(viewer, prefix="user__"))


def active_keys(qs: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
    """Keys that count against the per-user limit: live and not replaced by a rotation."""
    now = timezone.now()
    return qs.filter(revoked_at__isnull=True, replaced_by__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
