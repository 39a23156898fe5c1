"""Community roles (SCHEMA §21) — the one place they are decided.

Levels: none < member < moderator < owner. A user-owned community gives its
owner ``owner``; on an org-owned one the organization's owners and admins act
as owner (org RBAC). Network moderators, admins and staff moderate every
community. A private community the caller cannot see is a ``NotFound``
(identical to a missing one); a visible one the caller may not change is a
``PermissionDenied``.

Every function takes the membership row when the caller already has it
(``membership=``) so a request reads it at most once.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.core.exceptions import NotFound, PermissionDenied
from apps.organizations.models import OrganizationMember
from apps.organizations.roles import ADMIN, OWNER, member_role

from .models import Community, CommunityMember, CommunityVisibility, MemberStatus

_UNSET: Any = object()


class Level(IntEnum):
    NONE = 0
    MEMBER = 1
    MODERATOR = 2
    OWNER = 3


_ROLE_LEVEL = {"member": Level.MEMBER, "moderator": Level.MODERATOR, "owner": Level.OWNER}


def is_authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def is_network_moderator(user: Any) -> bool:
    return is_authenticated(user) and (
        bool(user.is_staff) or getattr(user, "network_role", None) in ("moderator", "admin")
    )


def membership_of(user: Any, community: Community) -> CommunityMember | None:
    if not is_authenticated(user):
        return None
    cache = getattr(community, "_membership_cache", None)
    if cache is None:
        cache = community._membership_cache = {}
    if user.pk not in cache:
        cache[user.pk] = CommunityMember.objects.filter(community=community, user=user).first()
    return cache[user.pk]


def is_ban_active(member: CommunityMember | None) -> bool:
    return bool(
        member is not None
        and member.status == MemberStatus.BANNED
        and (member.banned_until is None or member.banned_until > timezone.now())
    )


def community_level(user: Any, community: Community, *, membership: Any = _UNSET) -> Level:
    """The caller's own role level (network moderators are handled by the callers)."""
    if not is_authenticated(user) or user.network_id != community.network_id:
        return Level.NONE
    if community.owner_user_id is not None and community.owner_user_id == user.pk:
        return Level.OWNER
    if community.owner_organization_id is not None:
        if member_role(user, community.owner_organization_id) in (OWNER, ADMIN):
            return Level.OWNER
    member = membership_of(user, community) if membership is _UNSET else membership
    if member is None or member.status != MemberStatus.ACTIVE:
        return Level.NONE
    return _ROLE_LEVEL.get(member.role, Level.NONE)


def can_view(user: Any, community: Community, *, membership: Any = _UNSET) -> bool:
    if community.visibility != CommunityVisibility.PRIVATE:
        return True
    if is_network_moderator(user):
        return True
    return community_level(user, community, membership=membership) >= Level.MEMBER


def require_view(user: Any, community: Community, *, membership: Any = _UNSET) -> None:
    if not can_view(user, community, membership=membership):
        raise NotFound()


def can_moderate(user: Any, community: Community | None, *, membership: Any = _UNSET) -> bool:
    if is_network_moderator(user):
        return True
    if community is None:
        return False
    return community_level(user, community, membership=membership) >= Level.MODERATOR


def require_moderate(user: Any, community: Community | None, *, membership: Any = _UNSET) -> None:
    if community is not None:
        require_view(user, community, membership=membership)
    if not can_moderate(user, community, membership=membership):
        raise PermissionDenied("Only this community's moderators may do this.", code="not_a_moderator")


def require_owner(user: Any, community: Community) -> None:
    require_view(user, community)
    if is_authenticated(user) and user.is_staff:
        return
    if community_level(user, community) < Level.OWNER:
        raise PermissionDenied("Only the community's owner may do this.", code="not_community_owner")


def require_post(user: Any, community: Community, *, membership: Any = _UNSET) -> None:
    """Posting: not banned; restricted and private communities need an active membership."""
    member = membership_of(user, community) if membership is _UNSET else membership
    require_view(user, community, membership=member)
    if community.archived_at is not None:
        raise PermissionDenied("This community is archived.", code="community_archived")
    if is_ban_active(member):
        raise PermissionDenied("You are banned from this community.", code="banned")
    if community_level(user, community, membership=member) >= Level.MODERATOR:
        return
    if community.visibility == CommunityVisibility.PUBLIC:
        return
    if member is None or member.status not in (MemberStatus.ACTIVE, MemberStatus.BANNED):
        raise PermissionDenied("Join this community to post in it.", code="not_a_member")
    # BANNED with an expired ban counts as a member again (the job flips the row later)


def visible_communities_q(user: Any, *, prefix: str = "") -> Q:
    """Communities (or rows reached through ``prefix`` ``community__``) the user may see."""
    open_q = Q(**{f"{prefix}visibility__in": [CommunityVisibility.PUBLIC, CommunityVisibility.RESTRICTED]})
    if not is_authenticated(user):
        return open_q
    if is_network_moderator(user):
        return Q()
    pk = f"{prefix}pk" if prefix else "pk"
    members = CommunityMember.objects.filter(
        community=OuterRef(pk), user=user, status__in=[MemberStatus.ACTIVE]
    )
    org_admin = OrganizationMember.objects.filter(
        organization=OuterRef(f"{prefix}owner_organization"),
        user=user,
        status="active",
        role__in=[OWNER, ADMIN],
    )
    return open_q | Q(**{f"{prefix}owner_user": user}) | Q(Exists(members)) | Q(Exists(org_admin))
