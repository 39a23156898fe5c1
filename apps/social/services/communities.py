"""Communities and their members.

Membership: (none) → active (public: join) | pending (restricted: join request,
moderators notified with an action item) → active (approve) | removed
(reject). Private communities are joined only when a moderator adds you.
Any → banned (moderators; reason, optional expiry) → removed (unban, or the
ban expiring: ``expire_bans``). ``member_count`` counts active members and
moves by F() with each transition.

An org-owned community is created by those the org's role matrix allows
(``org.communities.create``); its owners and admins act as its owner.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.core import audit, uploads
from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed
from apps.inbox.services import close_action_items
from apps.organizations.models import OrganizationMember
from apps.organizations.roles import ADMIN, OWNER, has_org_permission

from .. import permissions as perms
from ..models import Community, CommunityMember, CommunityVisibility, MemberRole, MemberStatus
from ._common import log_moderation, notify, rate

JOIN_REQUEST_KIND = "community_join_request"
_COMMUNITY_FIELDS = ("name", "description", "rules", "visibility")


def _members_delta(community_id: Any, delta: int) -> None:
    Community.objects.filter(pk=community_id).update(
        member_count=Greatest(F("member_count") + delta, Value(0))
    )


def _lock_member(member_id: Any) -> CommunityMember:
    return (
        CommunityMember.objects.select_for_update(of=("self",)).select_related("community").get(pk=member_id)
    )


def _set_image(actor: Any, community: Community, field: str, upload: Any) -> None:
    if upload is None:
        setattr(community, field, None)
        return
    uploads.consume_uploads(actor=actor, uploads=[upload], kinds=["image"])
    setattr(community, field, upload.file.name)


@transaction.atomic
def create_community(
    *,
    actor: Any,
    slug: str,
    name: str,
    description: str = "",
    rules: str = "",
    visibility: str = CommunityVisibility.PUBLIC,
    owner_organization: Any = None,
) -> Community:
    ensure_same_network(actor.network_id, owner_organization)
    if owner_organization is not None:
        if owner_organization.archived_at is not None:
            raise InvalidState("This organization is archived.")
        if not has_org_permission(actor, owner_organization, "org.communities.create"):
            raise PermissionDenied(
                "Your role in this organization does not allow creating communities.",
                code="org_permission_denied",
            )
    rate(actor, "communities")
    try:
        with transaction.atomic():
            community = Community.objects.create(
                network_id=actor.network_id,
                owner_user=None if owner_organization is not None else actor,
                owner_organization=owner_organization,
                slug=slug,
                name=name,
                description=description,
                rules=rules,
                visibility=visibility,
                member_count=1,
            )
    except IntegrityError as exc:
        raise ValidationFailed("This slug is taken.", field="slug", code="slug_taken") from exc
    CommunityMember.objects.create(
        network_id=actor.network_id,
        community=community,
        user=actor,
        role=MemberRole.OWNER if owner_organization is None else MemberRole.MODERATOR,
    )
    audit.record(
        network=actor.network_id,
        actor=actor,
        action="community.created",
        target=community,
        organization=owner_organization,
        data={"slug": slug, "visibility": visibility},
    )
    return community


@transaction.atomic
def update_community(*, actor: Any, community: Community, **fields: Any) -> Community:
    perms.require_owner(actor, community)
    locked = Community.objects.select_for_update(of=("self",)).get(pk=community.pk)
    if locked.archived_at is not None:
        raise InvalidState("This community is archived.")
    changed: dict[str, Any] = {}
    for name in _COMMUNITY_FIELDS:
        if name in fields and fields[name] != getattr(locked, name):
            setattr(locked, name, fields[name])
            changed[name] = fields[name]
    for name in ("avatar", "banner"):
        if name in fields:
            _set_image(actor, locked, name, fields[name])
            changed[name] = str(fields[name].pk) if fields[name] is not None else None
    if changed:
        locked.save()
        audit.record(
            network=locked.network_id,
            actor=actor,
            action="community.updated",
            target=locked,
            organization=locked.owner_organization,
            data=changed,
        )
    return locked


@transaction.atomic
def archive_community(*, actor: Any, community: Community) -> Community:
    perms.require_owner(actor, community)
    updated = Community.objects.filter(pk=community.pk, archived_at__isnull=True).update(
        archived_at=timezone.now()
    )
    if not updated:
        raise InvalidState("This community is already archived.")
    audit.record(
        network=community.network_id,
        actor=actor,
        action="community.archived",
        target=community,
        organization=community.owner_organization,
    )
    community.refresh_from_db()
    return community


def _join_request_recipients(community: Community) -> list[Any]:
    from apps.accounts.models import User

    q = Q(
        pk__in=CommunityMember.objects.filter(
            community=community, status=MemberStatus.ACTIVE, role__in=[MemberRole.MODERATOR, MemberRole.OWNER]
        ).values("user_id")
    )
    if community.owner_user_id:
        q |= Q(pk=community.owner_user_id)
    if community.owner_organization_id:
        q |= Q(
            pk__in=OrganizationMember.objects.filter(
                organization_id=community.owner_organization_id, status="active", role__in=[OWNER, ADMIN]
            ).values("user_id")
        )
    return list(User.objects.filter(q, network_id=community.network_id)[:100])


@transaction.atomic
def join_community(*, actor: Any, community: Community, note: str = "") -> CommunityMember:
    """Public: active at once. Restricted: a pending request (moderators get an action item)."""
    ensure_same_network(actor.network_id, community)
    perms.require_view(actor, community)
    if community.archived_at is not None:
        raise InvalidState("This community is archived.")
    existing = (
        CommunityMember.objects.select_for_update(of=("self",))
        .filter(community=community, user=actor)
        .first()
    )
    if existing is not None:
        if existing.status == MemberStatus.BANNED:
            if perms.is_ban_active(existing):
                raise PermissionDenied("You are banned from this community.", code="banned")
            existing.delete()  # an expired ban: start over
        else:
            return existing  # idempotent: already active or pending
    if community.visibility == CommunityVisibility.PRIVATE:
        raise PermissionDenied("A moderator has to add you to this private community.", code="invite_only")
    status = (
        MemberStatus.ACTIVE if community.visibility == CommunityVisibility.PUBLIC else MemberStatus.PENDING
    )
    member = CommunityMember.objects.create(
        network_id=actor.network_id, community=community, user=actor, status=status, request_note=note[:500]
    )
    if status == MemberStatus.ACTIVE:
        _members_delta(community.pk, +1)
    else:
        for recipient in _join_request_recipients(community):
            notify(
                recipient=recipient,
                kind=JOIN_REQUEST_KIND,
                actor=actor,
                target_type="community_member",
                target_id=member.pk,
                title=f"@{actor.handle} asks to join {community.name}",
                body=note[:500],
                target_url=f"/c/{community.slug}/members?status=pending",
                data={"community": str(community.pk)},
                requires_action=True,
            )
    return member


@transaction.atomic
def leave_community(*, actor: Any, community: Community) -> None:
    member = (
        CommunityMember.objects.select_for_update(of=("self",))
        .filter(community=community, user=actor)
        .first()
    )
    if member is None:
        return  # idempotent
    if member.status == MemberStatus.BANNED:
        raise InvalidState("A ban is not lifted by leaving.", code="banned")
    if member.role == MemberRole.OWNER and community.owner_user_id == actor.pk:
        raise InvalidState(
            "The owner cannot leave; archive the community instead.", code="owner_cannot_leave"
        )
    member.delete()
    if member.status == MemberStatus.ACTIVE:
        _members_delta(community.pk, -1)
    else:
        close_action_items(
            kind=JOIN_REQUEST_KIND, target_type="community_member", target_id=member.pk, state="dismissed"
        )


@transaction.atomic
def add_member(*, actor: Any, community: Community, user: Any) -> CommunityMember:
    """A moderator adds someone (the way into a private community)."""
    ensure_same_network(community.network_id, user)
    perms.require_moderate(actor, community)
    member = (
        CommunityMember.objects.select_for_update(of=("self",)).filter(community=community, user=user).first()
    )
    if member is not None:
        if member.status == MemberStatus.BANNED and perms.is_ban_active(member):
            raise InvalidState("This person is banned; unban them first.", code="banned")
        if member.status == MemberStatus.ACTIVE:
            return member
        return approve_member(actor=actor, member=member) if member.status == MemberStatus.PENDING else member
    member = CommunityMember.objects.create(network_id=community.network_id, community=community, user=user)
    _members_delta(community.pk, +1)
    return member


@transaction.atomic
def approve_member(*, actor: Any, member: CommunityMember) -> CommunityMember:
    member = _lock_member(member.pk)
    perms.require_moderate(actor, member.community)
    if member.status != MemberStatus.PENDING:
        raise InvalidState("Only a pending request can be approved.")
    member.status = MemberStatus.ACTIVE
    member.save(update_fields=["status", "updated_at"])
    _members_delta(member.community_id, +1)
    close_action_items(kind=JOIN_REQUEST_KIND, target_type="community_member", target_id=member.pk)
    log_moderation(
        moderator=actor,
        action="member.approve",
        target_type="user",
        target_id=member.user_id,
        network_id=member.network_id,
        community=member.community,
        target_user=member.user,
    )
    return member


@transaction.atomic
def remove_member(*, actor: Any, member: CommunityMember, reason: str = "") -> None:
    """A pending request is rejected, an active member removed, a ban lifted."""
    member = _lock_member(member.pk)
    if member.status == MemberStatus.BANNED:
        unban_member(actor=actor, community=member.community, user=member.user, reason=reason)
        return
    perms.require_moderate(actor, member.community)
    _guard_target(actor, member)
    member.delete()
    if member.status == MemberStatus.ACTIVE:
        _members_delta(member.community_id, -1)
        action = "member.remove"
    else:
        close_action_items(
            kind=JOIN_REQUEST_KIND, target_type="community_member", target_id=member.pk, state="dismissed"
        )
        action = "member.reject"
    log_moderation(
        moderator=actor,
        action=action,
        target_type="user",
        target_id=member.user_id,
        network_id=member.network_id,
        community=member.community,
        target_user=member.user,
        reason=reason,
    )


def _guard_target(actor: Any, member: CommunityMember) -> None:
    """Moderators act on members; only owners (or network moderators) act on moderators."""
    if member.user_id == actor.pk:
        raise ValidationFailed("You cannot do this to yourself.", field="user")
    community = member.community
    target_level = perms.community_level(member.user, community)
    if target_level >= perms.Level.OWNER:
        raise PermissionDenied("The community's owner cannot be removed or banned.", code="target_is_owner")
    if perms.is_network_moderator(member.user) and not perms.is_network_moderator(actor):
        raise PermissionDenied("Network moderators cannot be banned here.", code="target_is_moderator")
    if target_level >= perms.Level.MODERATOR and not (
        perms.is_network_moderator(actor) or perms.community_level(actor, community) >= perms.Level.OWNER
    ):
        raise PermissionDenied("Only the owner may act on a moderator.", code="target_is_moderator")


@transaction.atomic
def ban_member(
    *, actor: Any, community: Community, user: Any, reason: str = "", until: Any = None
) -> CommunityMember:
    ensure_same_network(community.network_id, user)
    perms.require_moderate(actor, community)
    if until is not None and until <= timezone.now():
        raise ValidationFailed("A ban must end in the future (or never).", field="until")
    member = (
        CommunityMember.objects.select_for_update(of=("self",)).filter(community=community, user=user).first()
    )
    if member is None:
        member = CommunityMember(network_id=community.network_id, community=community, user=user)
        was_active = False
    else:
        was_active = member.status == MemberStatus.ACTIVE
        if member.status == MemberStatus.PENDING:
            close_action_items(
                kind=JOIN_REQUEST_KIND, target_type="community_member", target_id=member.pk, state="dismissed"
            )
    member.community = community
    _guard_target(actor, member)
    member.status = MemberStatus.BANNED
    member.role = MemberRole.MEMBER
    member.ban_reason = reason
    member.banned_until = until
    member.save()
    if was_active:
        _members_delta(community.pk, -1)
    log_moderation(
        moderator=actor,
        action="member.ban",
        target_type="user",
        target_id=user.pk,
        network_id=community.network_id,
        community=community,
        target_user=user,
        reason=reason,
        expires_at=until,
    )
    return member


@transaction.atomic
def unban_member(*, actor: Any, community: Community, user: Any, reason: str = "") -> None:
    perms.require_moderate(actor, community)
    deleted, _ = CommunityMember.objects.filter(
        community=community, user=user, status=MemberStatus.BANNED
    ).delete()
    if not deleted:
        raise InvalidState("This person is not banned here.")
    log_moderation(
        moderator=actor,
        action="member.unban",
        target_type="user",
        target_id=user.pk,
        network_id=community.network_id,
        community=community,
        target_user=user,
        reason=reason,
    )


@transaction.atomic
def set_member_role(*, actor: Any, member: CommunityMember, role: str) -> CommunityMember:
    member = _lock_member(member.pk)
    perms.require_owner(actor, member.community)
    if role not in (MemberRole.MEMBER, MemberRole.MODERATOR):
        raise ValidationFailed("Choose member or moderator.", field="role")
    if member.status != MemberStatus.ACTIVE:
        raise InvalidState("Only an active member can be given a role.")
    if member.role == MemberRole.OWNER:
        raise PermissionDenied("The owner's role cannot be changed.", code="target_is_owner")
    if member.role != role:
        previous = member.role
        member.role = role
        member.save(update_fields=["role", "updated_at"])
        log_moderation(
            moderator=actor,
            action="member.role",
            target_type="user",
            target_id=member.user_id,
            network_id=member.network_id,
            community=member.community,
            target_user=member.user,
            data={"from": previous, "to": role},
        )
    return member


def expire_bans(*, now: Any = None) -> int:
    """Lift bans whose time is up (logged as the system's unban)."""
    now = now or timezone.now()
    done = 0
    with transaction.atomic():
        rows = list(
            CommunityMember.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=MemberStatus.BANNED, banned_until__lte=now)
            .select_related("community", "user")[:1000]
        )
        for member in rows:
            member.delete()
            log_moderation(
                moderator=None,
                action="member.unban",
                target_type="user",
                target_id=member.user_id,
                network_id=member.network_id,
                community=member.community,
                target_user=member.user,
                reason="ban expired",
            )
            done += 1
    return done
