"""What every organization service shares: the permission check, the org lock, side effects."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed

from .. import roles
from ..models import Organization, OrganizationSecurityPolicy, OrganizationSettings


def org_settings(organization: Organization) -> OrganizationSettings | None:
    try:
        return organization.settings
    except OrganizationSettings.DoesNotExist:
        return None


def require(actor: Any, organization: Organization, permission: str, *, as_staff: bool = False) -> str | None:
    """The actor's role in the org, once ``permission`` is checked against the §21 matrix.

    ``as_staff`` (the Django admin) skips the membership requirement for
    ``is_staff`` actors only; the org's invariants still hold for them.
    """
    if as_staff:
        if not getattr(actor, "is_staff", False):
            raise PermissionDenied("Only staff may do this.")
        return roles.member_role(actor, organization)
    ensure_same_network(organization.network_id, actor)
    role = roles.member_role(actor, organization)
    if role is None:
        raise PermissionDenied("You are not a member of this organization.", code="not_org_member")
    if not roles.org_role_allows(role, organization, permission):
        raise PermissionDenied(
            "Your role in this organization does not allow this.", code="org_permission_denied"
        )
    return role


def lock(organization: Organization) -> Organization:
    """Re-read the org FOR UPDATE: role/membership changes of one org serialise on this row.

    Lock order everywhere: the organization row, then its member rows.
    """
    return Organization.objects.select_for_update().get(pk=organization.pk)


def ensure_live(organization: Organization) -> None:
    if organization.archived_at is not None:
        raise InvalidState("This organization is archived.", code="organization_archived")


def forget_security_state_on_commit(user_ids: Iterable[Any]) -> None:
    """Members' cached 2FA requirement (apps.accounts) is dropped once the change is committed."""
    ids = [uid for uid in user_ids if uid is not None]
    if not ids:
        return

    def forget() -> None:
        from apps.accounts.selectors import forget_security_state

        for uid in ids:
            forget_security_state(uid)

    transaction.on_commit(forget)


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def domain_allowed(email: str | None, policy: OrganizationSecurityPolicy | None) -> bool:
    """Empty ``allowed_email_domains`` = any domain; else an exact (case-insensitive) match."""
    if policy is None or not policy.allowed_email_domains:
        return True
    if not email:
        return False
    return email_domain(email) in {d.lower() for d in policy.allowed_email_domains}


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalise_domains(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in values:
        value = str(raw).strip().lower().lstrip("@")
        if not _DOMAIN.match(value):
            raise ValidationFailed(f"{raw!r} is not a domain name.", field="allowed_email_domains")
        if value not in out:
            out.append(value)
    return out


def changed_fields(instance: Any, changes: dict[str, Any], allowed: Iterable[str]) -> dict[str, list[Any]]:
    """Apply ``changes`` (only ``allowed`` names) to ``instance``; return {field: [old, new]}."""
    allowed = set(allowed)
    diff: dict[str, list[Any]] = {}
    for name, value in changes.items():
        if name not in allowed:
            raise ValidationFailed(f"{name} cannot be changed here.", field=name)
        old = getattr(instance, name)
        if old != value:
            setattr(instance, name, value)
            diff[name] = [_jsonable(old), _jsonable(value)]
    return diff


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
