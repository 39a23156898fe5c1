"""Membership: add by user id, invite by email, accept, change role, remove, leave, expire.

Invariants (also for staff in the admin): an organization always has at
least one owner (409 ``last_owner``); only owners grant or take away the
owner role; agents hold only member or viewer; new members' email domains
must be allowed by the security policy; a live per-seat plan caps the active
human members (409 ``seat_limit_reached``, apps/billing/services/stripe_accounts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.billing.services.stripe_accounts import ensure_seat_available
from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.core.tokens import hash_token, new_token

from .. import roles, selectors
from ..audit import AuditContext, record_org_event
from ..models import Organization, OrganizationMember
from ._base import (
    domain_allowed,
    ensure_live,
    lock,
    org_settings,
    require,
)

INVITATION_TTL = timedelta(days=7)
Status = OrganizationMember.Status


@dataclass(frozen=True)
class IssuedInvitation:
    member: OrganizationMember
    token: str  # the only copy: it is mailed, never stored


def _check_grant(*, actor_role: str | None, organization: Organization, role: str, as_staff: bool) -> None:
    if role not in roles.ALL_ROLES:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    if as_staff:
        return
    if role == roles.OWNER and actor_role != roles.OWNER:
        raise PermissionDenied("Only owners can grant the owner role.", code="only_owners_grant_owner")
    if role not in roles.grantable_roles(actor_role, org_settings(organization)):
        raise PermissionDenied(f"Your role cannot grant the {role} role.", code="role_not_grantable")


def _check_agent_role(user: Any, role: str) -> None:
    if getattr(user, "is_ai", False) and role not in roles.AGENT_ROLES:
        raise ValidationFailed(
            "Agents can only be members or viewers.", field="role", code="agent_role_not_allowed"
        )


def _ensure_not_last_owner(org: Organization, row: OrganizationMember) -> None:
    """Refuse to demote or remove ``row`` when it is the org's only active owner."""
    if row.role != roles.OWNER or row.status != Status.ACTIVE:
        return
    owners = OrganizationMember.objects.filter(organization=org, status=Status.ACTIVE, role=roles.OWNER)
    if owners.count() <= 1:
        raise Conflict(
            "An organization needs at least one owner; transfer ownership or promote another owner first.",
            code="last_owner",
        )


@transaction.atomic
def add_member(
    *,
    actor: Any,
    organization: Organization,
    user: Any,
    role: str = roles.MEMBER,
    via: AuditContext | None = None,
    as_staff: bool = False,
) -> OrganizationMember:
    """Add a user of the same network directly (people and agents); active at once."""
    actor_role = require(actor, organization, "org.members.invite", as_staff=as_staff)
    ensure_same_network(organization.network_id, user)
    org = lock(organization)
    ensure_live(org)
    _check_grant(actor_role=actor_role, organization=org, role=role, as_staff=as_staff)
    _check_agent_role(user, role)
    if not user.is_active or getattr(user, "state", "active") != "active":
        raise ValidationFailed("This user cannot join organizations.", field="user", code="user_inactive")
    if user.is_ai:
        owned_here = user.agent_owner_organization_id == org.pk
        owned_by_actor = user.agent_owner_user_id == actor.pk
        if not (owned_here or owned_by_actor or as_staff):
            raise ValidationFailed(
                "Only agents of this organization or your own agents can be added.",
                field="user",
                code="agent_not_yours",
            )
        if user.agent_status == "disabled":
            raise ValidationFailed("This agent is disabled.", field="user", code="user_inactive")
    elif not domain_allowed(user.email, selectors.security_policy(org)):
        raise ValidationFailed(
            "This user's email domain is not allowed by the organization's security policy.",
            field="user",
            code="email_domain_not_allowed",
        )
    if OrganizationMember.objects.filter(organization=org, user=user).exists():
        raise Conflict("This user is already a member.", code="already_member")
    ensure_seat_available(organization=org, adding_human=not user.is_ai)  # 409 seat_limit_reached
    if user.email:  # a pending invitation for the same person is superseded
        OrganizationMember.objects.filter(
            organization=org, status=Status.INVITED, invite_email=user.email
        ).delete()
    try:
        with transaction.atomic():
            member = OrganizationMember.objects.create(
                network_id=org.network_id,
                organization=org,
                user=user,
                role=role,
                status=Status.ACTIVE,
                invited_by=actor,
                joined_at=timezone.now(),
            )
    except IntegrityError as exc:
        raise Conflict("This user is already a member.", code="already_member") from exc
    record_org_event(
        organization=org,
        actor=actor,
        action="org.member.added",
        target=member,
        data={"user": str(user.pk), "role": role, "is_ai": bool(user.is_ai)},
        via=via,
    )
    return member


@transaction.atomic
def invite_member(
    *,
    actor: Any,
    organization: Organization,
    email: str,
    role: str = roles.MEMBER,
    via: AuditContext | None = None,
    as_staff: bool = False,
) -> IssuedInvitation:
    """An invitation for an email address: 32 random bytes, only the sha256 kept, 7 days, mailed on commit."""
    actor_role = require(actor, organization, "org.members.invite", as_staff=as_staff)
    email = email.strip().lower()
    org = lock(organization)
    ensure_live(org)
    _check_grant(actor_role=actor_role, organization=org, role=role, as_staff=as_staff)
    if not domain_allowed(email, selectors.security_policy(org)):
        raise ValidationFailed(
            "This email domain is not allowed by the organization's security policy.",
            field="email",
            code="email_domain_not_allowed",
        )
    if OrganizationMember.objects.filter(organization=org, status=Status.ACTIVE, user__email=email).exists():
        raise Conflict("This person is already a member.", code="already_member")
    now = timezone.now()
    pending = OrganizationMember.objects.filter(
        organization=org, status=Status.INVITED, invite_email=email
    ).first()
    if pending is not None:
        if pending.invite_expires_at and pending.invite_expires_at > now:
            raise Conflict(
                "This address already has a pending invitation; revoke it to send a new one.",
                code="already_invited",
            )
        _close_invitation_item(pending.pk, "dismissed")
        pending.delete()
    token = new_token()
    member = OrganizationMember.objects.create(
        network_id=org.network_id,
        organization=org,
        invite_email=email,
        role=role,
        status=Status.INVITED,
        invited_by=actor,
        invite_token_hash=hash_token(token),
        invite_expires_at=now + INVITATION_TTL,
    )
    record_org_event(
        organization=org,
        actor=actor,
        action="org.member.invited",
        target=member,
        data={"email": email, "role": role, "expires_at": member.invite_expires_at.isoformat()},
        via=via,
    )
    from ..mail import send_invitation_on_commit

    send_invitation_on_commit(member=member, organization=org, inviter=actor, token=token)
    _invitation_to_inbox(member=member, organization=org, inviter=actor)
    return IssuedInvitation(member=member, token=token)


def _invitation_to_inbox(*, member: OrganizationMember, organization: Organization, inviter: Any) -> None:
    """An ``org_invite`` action item for an invitee who already has an account here (the link is mailed)."""
    from apps.accounts.models import User
    from apps.inbox.services import deliver_inbox_item

    invitee = User.objects.filter(
        network_id=organization.network_id, email=member.invite_email, is_active=True
    ).first()
    if invitee is None:
        return
    who = getattr(inviter, "display_name", "") or getattr(inviter, "handle", "") or "Someone"
    deliver_inbox_item(
        recipient=invitee,
        kind="org_invite",
        target_type="organizationmember",
        target_id=member.pk,
        actor=inviter,
        title=f"{who} invited you to join {organization.name}",
        body=f"Role: {member.role}. Open the link in the invitation email to accept.",
        data={"organization_id": str(organization.pk), "role": member.role},
        requires_action=True,
        skip_channels=("email",),  # the invitation email (with its link) is the email
    )


def _close_invitation_item(member_id: Any, state: str) -> None:
    from apps.inbox.services import close_action_items

    close_action_items(kind="org_invite", target_type="organizationmember", target_id=member_id, state=state)


def invitation_for_token(*, token: str, network_id: Any) -> OrganizationMember | None:
    """The pending invitation behind a token in this network (expired ones included)."""
    if not token or len(token) > 200:
        return None
    return (
        OrganizationMember.objects.filter(
            network_id=network_id, status=Status.INVITED, invite_token_hash=hash_token(token)
        )
        .select_related("organization", "invited_by")
        .first()
    )


@transaction.atomic
def accept_invitation(*, user: Any, token: str, via: AuditContext | None = None) -> OrganizationMember:
    """The invited person (same, verified email; allowed domain) joins with the invited role."""
    from allauth.account.models import EmailAddress

    invitation = invitation_for_token(token=token, network_id=user.network_id)
    if invitation is None:
        raise ValidationFailed(
            "This invitation link is invalid or was revoked.", field="token", code="invalid_token"
        )
    org = lock(invitation.organization)
    invitation = (
        OrganizationMember.objects.select_for_update().filter(pk=invitation.pk, status=Status.INVITED).first()
    )
    if invitation is None:
        raise InvalidState("This invitation was already used.", code="invalid_state")
    if invitation.invite_expires_at is None or invitation.invite_expires_at <= timezone.now():
        raise ValidationFailed("This invitation has expired.", field="token", code="invitation_expired")
    ensure_live(org)
    email = (user.email or "").lower()
    if user.is_ai or email != invitation.invite_email:
        raise PermissionDenied(
            "This invitation was sent to another email address.", code="invitation_email_mismatch"
        )
    if not EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists():
        raise PermissionDenied("Verify your email address first.", code="email_not_verified")
    if not domain_allowed(email, selectors.security_policy(org)):
        raise PermissionDenied(
            "Your email domain is not allowed by the organization's security policy.",
            code="email_domain_not_allowed",
        )
    if OrganizationMember.objects.filter(organization=org, user=user).exists():
        raise Conflict("You are already a member of this organization.", code="already_member")
    ensure_seat_available(organization=org)  # 409 seat_limit_reached
    invitation.user = user
    invitation.status = Status.ACTIVE
    invitation.joined_at = timezone.now()
    invitation.invite_token_hash = None
    invitation.invite_expires_at = None
    invitation.save(
        update_fields=["user", "status", "joined_at", "invite_token_hash", "invite_expires_at", "updated_at"]
    )
    record_org_event(
        organization=org,
        actor=user,
        action="org.invitation.accepted",
        target=invitation,
        data={"email": email, "role": invitation.role},
        via=via,
    )
    _close_invitation_item(invitation.pk, "done")
    return invitation


@transaction.atomic
def change_member_role(
    *,
    actor: Any,
    member: OrganizationMember,
    role: str,
    via: AuditContext | None = None,
    as_staff: bool = False,
) -> OrganizationMember:
    organization = member.organization
    actor_role = require(actor, organization, "org.members.change_role", as_staff=as_staff)
    org = lock(organization)
    ensure_live(org)
    row = (
        OrganizationMember.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=member.pk)
        .first()
    )
    if row is None:
        raise NotFound()
    if row.role == role:
        return row
    _check_grant(actor_role=actor_role, organization=org, role=role, as_staff=as_staff)
    if row.role == roles.OWNER and not as_staff and actor_role != roles.OWNER:
        raise PermissionDenied("Only owners can change an owner's role.", code="only_owners_grant_owner")
    if row.user is not None:
        _check_agent_role(row.user, role)
    _ensure_not_last_owner(org, row)
    previous = row.role
    row.role = role
    row.save(update_fields=["role", "updated_at"])
    record_org_event(
        organization=org,
        actor=actor,
        action="org.member.role_changed",
        target=row,
        data={
            "user": str(row.user_id) if row.user_id else None,
            "email": row.invite_email,
            "from": previous,
            "to": role,
        },
        via=via,
    )
    return row


@transaction.atomic
def remove_member(
    *, actor: Any, member: OrganizationMember, via: AuditContext | None = None, as_staff: bool = False
) -> None:
    """Remove someone else (or revoke an invitation); your own row means leaving."""
    if member.user_id is not None and member.user_id == actor.pk and not as_staff:
        leave_organization(actor=actor, organization=member.organization, via=via)
        return
    organization = member.organization
    invited = member.status == Status.INVITED
    actor_role = require(
        actor, organization, "org.members.invite" if invited else "org.members.remove", as_staff=as_staff
    )
    org = lock(organization)
    row = OrganizationMember.objects.select_for_update().filter(pk=member.pk).first()
    if row is None:
        raise NotFound()
    if row.role == roles.OWNER and not as_staff and actor_role != roles.OWNER:
        raise PermissionDenied("Only owners can remove an owner.", code="only_owners_grant_owner")
    if invited and row.role in roles.ELEVATED_ROLES and not as_staff:
        _check_grant(actor_role=actor_role, organization=org, role=row.role, as_staff=False)
    _ensure_not_last_owner(org, row)
    row.delete()
    record_org_event(
        organization=org,
        actor=actor,
        action="org.invitation.revoked" if invited else "org.member.removed",
        target_type="organizationmember",
        target_id=member.pk,
        data={"user": str(row.user_id) if row.user_id else None, "email": row.invite_email, "role": row.role},
        via=via,
    )
    if invited:
        _close_invitation_item(member.pk, "dismissed")


@transaction.atomic
def leave_organization(*, actor: Any, organization: Organization, via: AuditContext | None = None) -> None:
    """Leave an org (archived ones too); the last owner cannot (409 ``last_owner``)."""
    ensure_same_network(organization.network_id, actor)
    org = lock(organization)
    row = (
        OrganizationMember.objects.select_for_update()
        .filter(organization=org, user=actor, status=Status.ACTIVE)
        .first()
    )
    if row is None:
        raise NotFound()
    _ensure_not_last_owner(org, row)
    row.delete()
    record_org_event(
        organization=org,
        actor=actor,
        action="org.member.left",
        target_type="organizationmember",
        target_id=row.pk,
        data={"user": str(actor.pk), "role": row.role},
        via=via,
    )


def expire_invitations(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Delete invitations past their expiry (one audit row each); safe to run twice or concurrently."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                OrganizationMember.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=Status.INVITED, invite_expires_at__lte=now)
                .select_related("organization")
                .order_by("invite_expires_at")[:batch_size]
            )
            if not rows:
                return total
            for row in rows:
                record_org_event(
                    organization=row.organization,
                    actor=None,
                    action="org.invitation.expired",
                    target_type="organizationmember",
                    target_id=row.pk,
                    data={"email": row.invite_email, "role": row.role},
                )
                _close_invitation_item(row.pk, "dismissed")
            OrganizationMember.objects.filter(pk__in=[r.pk for r in rows], status=Status.INVITED).delete()
            total += len(rows)
        if len(rows) < batch_size:
            return total


def invitation_accept_url(token: str) -> str:
    template = getattr(settings, "ORGANIZATION_INVITATION_URL", None) or (
        f"{settings.SITE_URL}/organizations/invitations/{{token}}/"
    )
    return template.replace("{token}", token)
