"""Organization lifecycle: create, edit, settings, security policy, archive/restore, transfer."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed

from .. import roles, selectors
from ..audit import AuditContext, record_org_event
from ..models import (
    Organization,
    OrganizationMember,
    OrganizationSecurityPolicy,
    OrganizationSettings,
)
from ..signals import organization_archived, organization_restored
from ._base import (
    changed_fields,
    ensure_live,
    forget_security_state_on_commit,
    lock,
    normalise_domains,
    org_settings,
    require,
)

PROFILE_FIELDS = ("name", "slug", "description", "website_url", "billing_email")
SETTINGS_FIELDS = (
    "default_project_visibility",
    "members_can_create_projects",
    "members_can_create_agents",
    "members_can_invite",
    "default_agent_model",
    "features",
)
POLICY_FIELDS = (
    "require_2fa",
    "allowed_email_domains",
    "session_max_age_hours",
    "ip_allowlist",
    "api_keys_allowed",
    "require_tool_approval",
)
MAX_SESSION_AGE_HOURS = 24 * 365
MAX_ALLOWLIST = 100


def _unique_slug(network_id: Any, name: str) -> str:
    base = (slugify(name) or "org")[:40].strip("-") or "org"
    taken = set(
        Organization.objects.filter(network_id=network_id, slug__startswith=base).values_list(
            "slug", flat=True
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _slug_taken(network_id: Any, slug: str, *, exclude: Any = None) -> bool:
    qs = Organization.objects.filter(network_id=network_id, slug=slug)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


@transaction.atomic
def create_organization(
    *,
    actor: Any,
    name: str,
    slug: str | None = None,
    description: str = "",
    website_url: str | None = None,
    billing_email: str | None = None,
    via: AuditContext | None = None,
) -> Organization:
    """Org + owner membership + settings + policy, in one transaction; the creator is the owner."""
    if getattr(actor, "is_ai", False):
        raise PermissionDenied("Agents cannot create organizations.", code="agents_cannot_own")
    network_id = actor.network_id
    if slug:
        if _slug_taken(network_id, slug):
            raise ValidationFailed("This slug is taken.", field="slug", code="slug_taken")
    else:
        slug = _unique_slug(network_id, name)
    org = Organization(
        network_id=network_id,
        name=name,
        slug=slug,
        description=description or "",
        website_url=website_url or None,
        billing_email=(billing_email or "").lower() or None,
        created_by=actor,
    )
    try:
        with transaction.atomic():
            org.save()
    except IntegrityError as exc:  # a concurrent create took the slug
        raise ValidationFailed("This slug is taken.", field="slug", code="slug_taken") from exc
    OrganizationMember.objects.create(
        network_id=network_id,
        organization=org,
        user=actor,
        role=roles.OWNER,
        status=OrganizationMember.Status.ACTIVE,
        joined_at=timezone.now(),
    )
    OrganizationSettings.objects.create(network_id=network_id, organization=org)
    OrganizationSecurityPolicy.objects.create(network_id=network_id, organization=org)
    record_org_event(
        organization=org, actor=actor, action="org.created", data={"name": name, "slug": slug}, via=via
    )
    return org


@transaction.atomic
def update_organization(
    *,
    actor: Any,
    organization: Organization,
    via: AuditContext | None = None,
    as_staff: bool = False,
    **changes: Any,
) -> Organization:
    require(actor, organization, "org.edit", as_staff=as_staff)
    org = lock(organization)
    ensure_live(org)
    if "billing_email" in changes:
        changes["billing_email"] = (changes["billing_email"] or "").lower() or None
    if "website_url" in changes:
        changes["website_url"] = changes["website_url"] or None
    if changes.get("slug") and _slug_taken(org.network_id, changes["slug"], exclude=org.pk):
        raise ValidationFailed("This slug is taken.", field="slug", code="slug_taken")
    diff = changed_fields(org, changes, PROFILE_FIELDS)
    if diff:
        try:
            with transaction.atomic():
                org.save(update_fields=[*diff, "updated_at"])
        except IntegrityError as exc:
            raise ValidationFailed("This slug is taken.", field="slug", code="slug_taken") from exc
        record_org_event(organization=org, actor=actor, action="org.updated", data={"changes": diff}, via=via)
    return org


@transaction.atomic
def update_settings(
    *,
    actor: Any,
    organization: Organization,
    via: AuditContext | None = None,
    as_staff: bool = False,
    **changes: Any,
) -> OrganizationSettings:
    require(actor, organization, "org.edit", as_staff=as_staff)
    org = lock(organization)
    ensure_live(org)
    row = OrganizationSettings.objects.select_for_update().get(organization=org)
    diff = changed_fields(row, changes, SETTINGS_FIELDS)
    if diff:
        row.save(update_fields=[*diff, "updated_at"])
        record_org_event(
            organization=org,
            actor=actor,
            action="org.settings.updated",
            target=row,
            data={"changes": diff},
            via=via,
        )
    return row


def normalise_allowlist(values: list[str]) -> list[str]:
    if len(values) > MAX_ALLOWLIST:
        raise ValidationFailed(f"At most {MAX_ALLOWLIST} entries.", field="ip_allowlist")
    out: list[str] = []
    for raw in values:
        try:
            network = ipaddress.ip_network(str(raw).strip(), strict=False)
        except ValueError as exc:
            raise ValidationFailed(
                f"{raw!r} is not an IP address or CIDR range.", field="ip_allowlist", code="invalid_cidr"
            ) from exc
        if str(network) not in out:
            out.append(str(network))
    return out


def ip_in_allowlist(ip: str | None, allowlist: list[str]) -> bool:
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    for entry in allowlist:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if network.version == address.version and address in network:
            return True
    return False


@transaction.atomic
def update_security_policy(
    *,
    actor: Any,
    organization: Organization,
    via: AuditContext | None = None,
    as_staff: bool = False,
    **changes: Any,
) -> OrganizationSecurityPolicy:
    """Owners change the policy; it takes effect on the next request of every member.

    Refused when it would lock the acting owner out at once (their own IP
    outside the new allowlist, or 2FA required while they have none).
    """
    require(actor, organization, "org.security_policy", as_staff=as_staff)
    org = lock(organization)
    ensure_live(org)
    if "ip_allowlist" in changes:
        changes["ip_allowlist"] = normalise_allowlist(list(changes["ip_allowlist"] or []))
    if "allowed_email_domains" in changes:
        changes["allowed_email_domains"] = normalise_domains(changes["allowed_email_domains"] or [])
    hours = changes.get("session_max_age_hours")
    if hours is not None and not (1 <= int(hours) <= MAX_SESSION_AGE_HOURS):
        raise ValidationFailed(
            f"Between 1 and {MAX_SESSION_AGE_HOURS} hours (or null for no limit).",
            field="session_max_age_hours",
        )
    if not as_staff:
        if changes.get("ip_allowlist") and via is not None and via.ip:
            if not ip_in_allowlist(via.ip, changes["ip_allowlist"]):
                raise ValidationFailed(
                    f"Your current address {via.ip} is outside this allowlist; you would lock yourself out.",
                    field="ip_allowlist",
                    code="would_lock_out",
                )
        if changes.get("require_2fa") and not getattr(actor, "is_ai", False):
            from apps.accounts.selectors import has_confirmed_totp

            if not has_confirmed_totp(actor):
                raise ValidationFailed(
                    "Enable two-factor authentication on your own account first.",
                    field="require_2fa",
                    code="enrol_2fa_first",
                )
    row = OrganizationSecurityPolicy.objects.select_for_update().get(organization=org)
    diff = changed_fields(row, changes, POLICY_FIELDS)
    if diff:
        row.updated_by = actor
        row.save(update_fields=[*diff, "updated_by", "updated_at"])
        record_org_event(
            organization=org,
            actor=actor,
            action="org.security_policy.updated",
            target=row,
            data={"changes": diff},
            via=via,
        )
        # members' cached 2FA requirement and org policies (apps.organizations.policy)
        forget_security_state_on_commit(selectors.active_member_user_ids(org))
    return row


@transaction.atomic
def archive_organization(
    *, actor: Any, organization: Organization, via: AuditContext | None = None, as_staff: bool = False
) -> Organization:
    """Owner-only: the org turns read-only, its agents pause, the projects app archives its projects."""
    require(actor, organization, "org.archive", as_staff=as_staff)
    org = lock(organization)
    if org.archived_at is not None:
        raise InvalidState("This organization is already archived.", code="organization_archived")
    from apps.accounts.models import User
    from apps.accounts.services import set_agents_status

    now = timezone.now()
    Organization.objects.filter(pk=org.pk, archived_at__isnull=True).update(archived_at=now, updated_at=now)
    org.archived_at = now
    paused = set_agents_status(
        agents=User.objects.filter(agent_owner_organization=org), status="paused", from_status="active"
    )
    organization_archived.send(sender=Organization, organization=org, actor=actor)
    record_org_event(
        organization=org,
        actor=actor,
        action="org.archived",
        data={"paused_agents": [str(pk) for pk in paused], "by_staff": as_staff},
        via=via,
    )
    forget_security_state_on_commit(selectors.active_member_user_ids(org))
    return org


@transaction.atomic
def restore_organization(
    *, actor: Any, organization: Organization, via: AuditContext | None = None, as_staff: bool = True
) -> Organization:
    """Staff (admin) undo an archive; paused agents stay paused until their owners resume them."""
    require(actor, organization, "org.archive", as_staff=as_staff)
    org = lock(organization)
    if org.archived_at is None:
        raise InvalidState("This organization is not archived.", code="organization_not_archived")
    Organization.objects.filter(pk=org.pk).update(archived_at=None, updated_at=timezone.now())
    org.archived_at = None
    organization_restored.send(sender=Organization, organization=org, actor=actor)
    record_org_event(
        organization=org, actor=actor, action="org.restored", data={"by_staff": as_staff}, via=via
    )
    forget_security_state_on_commit(selectors.active_member_user_ids(org))
    return org


@transaction.atomic
def transfer_ownership(
    *,
    actor: Any,
    organization: Organization,
    new_owner: Any,
    via: AuditContext | None = None,
    as_staff: bool = False,
) -> OrganizationMember:
    """The target member becomes an owner and the acting owner steps down to admin.

    Staff (``as_staff``) make the target an owner and leave the other owners as they are.
    """
    require(actor, organization, "org.transfer_ownership", as_staff=as_staff)
    org = lock(organization)
    ensure_live(org)
    if new_owner.pk == actor.pk:
        raise ValidationFailed("You already own this organization.", field="user")
    target = (
        OrganizationMember.objects.select_for_update()
        .filter(organization=org, user=new_owner, status=OrganizationMember.Status.ACTIVE)
        .first()
    )
    if target is None:
        raise ValidationFailed("The new owner must be an active member.", field="user", code="not_a_member")
    if new_owner.is_ai:
        raise ValidationFailed(
            "Agents cannot own organizations.", field="user", code="agent_role_not_allowed"
        )
    previous_role = target.role
    OrganizationMember.objects.filter(pk=target.pk).update(role=roles.OWNER, updated_at=timezone.now())
    target.role = roles.OWNER
    demoted = False
    if not as_staff:
        demoted = bool(
            OrganizationMember.objects.filter(
                organization=org, user=actor, status="active", role=roles.OWNER
            ).update(role=roles.ADMIN, updated_at=timezone.now())
        )
    record_org_event(
        organization=org,
        actor=actor,
        action="org.ownership_transferred",
        target=target,
        data={
            "to_user": str(new_owner.pk),
            "previous_role": previous_role,
            "previous_owner_now_admin": demoted,
            "by_staff": as_staff,
        },
        via=via,
    )
    return target


def settings_of(organization: Organization) -> OrganizationSettings:
    row = org_settings(organization)
    if row is None:  # orgs made before settings existed: create lazily
        row, _ = OrganizationSettings.objects.get_or_create(
            organization=organization, defaults={"network_id": organization.network_id}
        )
    return row


def policy_of(organization: Organization) -> OrganizationSecurityPolicy:
    row = selectors.security_policy(organization)
    if row is None:
        row, _ = OrganizationSecurityPolicy.objects.get_or_create(
            organization=organization, defaults={"network_id": organization.network_id}
        )
    return row


__all__ = [
    "archive_organization",
    "create_organization",
    "ip_in_allowlist",
    "normalise_allowlist",
    "policy_of",
    "restore_organization",
    "settings_of",
    "transfer_ownership",
    "update_organization",
    "update_security_policy",
    "update_settings",
]
