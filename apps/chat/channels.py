"""Who belongs to a channel: the one place channel membership follows its parent.

* A project's channel: the project's owner (owner), and the active members of
  its owning organization (org owner/admin → admin, others → member) — the
  people with project access through ownership. Network-wide *view* of an
  open project does not make everyone a channel member.
* A community's channel: the community's active members (moderator/owner →
  admin) — read through ``community_member_roles``, which uses social's
  membership model when it exists.

``sync_channel_members`` (apps.chat.services) applies the difference; the
receivers in ``apps.chat.receivers`` call it on commit when a membership or a
project's owner changes.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as django_apps

from .models import Conversation, MemberRole

_ORG_ROLE = {"owner": MemberRole.ADMIN, "admin": MemberRole.ADMIN}


def project_member_roles(project: Any) -> dict[Any, str]:
    from apps.organizations.models import OrganizationMember

    roles: dict[Any, str] = {}
    if project.owner_organization_id is not None:
        for user_id, role in OrganizationMember.objects.filter(
            organization_id=project.owner_organization_id, status="active", user__isnull=False
        ).values_list("user_id", "role"):
            roles[user_id] = _ORG_ROLE.get(role, MemberRole.MEMBER)
    if project.owner_user_id is not None:
        roles[project.owner_user_id] = MemberRole.OWNER
    return roles


def community_member_model() -> Any:
    """social's CommunityMember, or None while apps/social has no such model."""
    try:
        return django_apps.get_model("social", "CommunityMember")
    except LookupError:
        return None


def community_member_roles(community_id: Any) -> dict[Any, str]:
    model = community_member_model()
    if model is None or community_id is None:
        return {}
    rows = model.objects.filter(community_id=community_id, status="active").values_list("user_id", "role")
    return {
        user_id: (MemberRole.ADMIN if role in ("owner", "moderator") else MemberRole.MEMBER)
        for user_id, role in rows
    }


def owning_organization_id(conversation: Conversation) -> Any:
    """The organization owning a channel's project or community (None: user-owned, or not a channel)."""
    if conversation.kind != Conversation.Kind.CHANNEL:
        return None
    if conversation.project_id is not None:
        return conversation.project.owner_organization_id
    if conversation.community_id is not None:
        return conversation.community.owner_organization_id
    return None


def desired_members(conversation: Conversation) -> dict[Any, str]:
    """user id → role the channel's parent grants (empty for groups and direct conversations)."""
    if conversation.kind != Conversation.Kind.CHANNEL:
        return {}
    if conversation.project_id is not None:
        return project_member_roles(conversation.project)
    return community_member_roles(conversation.community_id)
