"""Channel membership follows its parent (fan-out only: the rule is ``sync_channel_members``).

Organization memberships and project ownership changes re-sync the channels of
the affected projects on commit; community memberships those of the community
(connected only when apps/social has a CommunityMember model).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save


def _sync_projects_of_org(organization_id: Any) -> None:
    from apps.projects.models import Project

    from .models import Conversation
    from .services import sync_project_channels

    project_ids = set(
        Conversation.objects.filter(
            kind="channel", project__owner_organization_id=organization_id
        ).values_list("project_id", flat=True)
    )
    for project_id in Project.objects.filter(pk__in=project_ids).values_list("pk", flat=True):
        sync_project_channels(project_id=project_id)


def org_member_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    organization_id = instance.organization_id

    def sync() -> None:
        # the sockets joining the org's channels are judged by the org's policy against the
        # member's security state, which apps.organizations.receivers already dropped on commit
        _sync_projects_of_org(organization_id)

    transaction.on_commit(sync)


def project_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    if created:
        return
    from .models import Conversation

    project_id = instance.pk
    if not Conversation.objects.filter(project_id=project_id, kind="channel").exists():
        return

    def sync() -> None:
        from .services import sync_project_channels

        sync_project_channels(project_id=project_id)

    transaction.on_commit(sync)


def community_member_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    community_id = instance.community_id

    def sync() -> None:
        from .services import sync_community_channels

        sync_community_channels(community_id=community_id)

    transaction.on_commit(sync)


def connect() -> None:
    from apps.organizations.models import OrganizationMember
    from apps.projects.models import Project

    from .channels import community_member_model

    post_save.connect(org_member_changed, sender=OrganizationMember, dispatch_uid="chat.org_member_saved")
    post_delete.connect(org_member_changed, sender=OrganizationMember, dispatch_uid="chat.org_member_deleted")
    post_save.connect(project_saved, sender=Project, dispatch_uid="chat.project_saved")
    community_member = community_member_model()
    if community_member is not None:
        post_save.connect(community_member_changed, sender=community_member, dispatch_uid="chat.cm_saved")
        post_delete.connect(community_member_changed, sender=community_member, dispatch_uid="chat.cm_deleted")
