"""What can be shared: resolving a target for a sharer, its canonical URL, its maintainers.

A target the sharer cannot see reads as missing (400 "does not exist" on
``target_id``); a visible but private one (a private community or project, a
followers-only or unpublished post) is refused with ``target_private``. The
URL is built here from the row, on the network's own domain: the redirect can
only ever lead to our pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.core.exceptions import NotFound, ValidationFailed

from .models import ShareTarget


@dataclass(frozen=True)
class Target:
    type: str
    id: Any
    path: str


def base_url(network: Any) -> str:
    """The network's own origin (its domain when it has one, else ``SITE_URL``)."""
    domain = getattr(network, "domain", None)
    return f"https://{domain}" if domain else settings.SITE_URL


def _missing(target_id: Any) -> ValidationFailed:
    return ValidationFailed(f'Invalid pk "{target_id}" - object does not exist.', field="target_id")


def _private() -> ValidationFailed:
    return ValidationFailed("Private content cannot be shared.", field="target_id", code="target_private")


def _post(viewer: Any, network: Any, pk: Any) -> Target:
    from apps.social import selectors

    post = selectors.post_for(network=network, viewer=viewer, pk=pk)
    if (
        post.status != "published"
        or post.visibility == "followers"
        or (post.community is not None and post.community.is_private)
    ):
        raise _private()
    return Target(ShareTarget.POST, post.pk, f"/posts/{post.pk}")


def _community(viewer: Any, network: Any, pk: Any) -> Target:
    from apps.social import selectors

    community = selectors.community_for(network=network, viewer=viewer, pk=pk)
    if community.is_private:
        raise _private()
    return Target(ShareTarget.COMMUNITY, community.pk, f"/c/{community.slug}")


def _project(viewer: Any, network: Any, pk: Any) -> Target:
    from apps.projects import selectors

    project = selectors.project_for(network=network, viewer=viewer, pk=pk)
    if project.visibility == "private":
        raise _private()
    return Target(ShareTarget.PROJECT, project.pk, f"/projects/{project.pk}")


def _roadmap_task(viewer: Any, network: Any, pk: Any) -> Target:
    from apps.dispatcher.models import RoadmapTask
    from apps.projects import permissions

    task = (
        RoadmapTask.objects.filter(network=network, pk=pk)
        .filter(permissions.visible_q(viewer, prefix="project__"))
        .select_related("project")
        .first()
    )
    if task is None:
        raise NotFound()
    if task.project.visibility == "private":
        raise _private()
    return Target(ShareTarget.ROADMAP_TASK, task.pk, f"/projects/{task.project_id}/tasks/{task.pk}")


def _profile(viewer: Any, network: Any, pk: Any) -> Target:
    from apps.accounts.models import User

    user = User.objects.filter(network=network, pk=pk, is_active=True, state=User.State.ACTIVE).first()
    if user is None:
        raise NotFound()
    return Target(ShareTarget.PROFILE, user.pk, f"/@{user.handle}")


_RESOLVERS = {
    ShareTarget.POST: _post,
    ShareTarget.COMMUNITY: _community,
    ShareTarget.PROJECT: _project,
    ShareTarget.ROADMAP_TASK: _roadmap_task,
    ShareTarget.PROFILE: _profile,
}


def resolve(*, viewer: Any, network: Any, target_type: str, target_id: Any) -> Target:
    """The target as ``viewer`` may share it, else a 400 naming ``target_id`` / ``target_type``."""
    resolver = _RESOLVERS.get(target_type)
    if resolver is None:
        raise ValidationFailed(
            "Invite links are shared from the invites API (referral and invite codes)."
            if target_type == ShareTarget.INVITE
            else f"Choose one of: {', '.join(t.value for t in _RESOLVERS)}.",
            field="target_type",
        )
    try:
        return resolver(viewer, network, target_id)
    except (NotFound, ValueError, TypeError) as exc:
        raise _missing(target_id) from exc


def is_maintainer(*, viewer: Any, network: Any, target_type: str, target_id: Any) -> bool:
    """The target's maintainers see every share of it (and its stats), not only their own."""
    if not getattr(viewer, "is_authenticated", False):
        return False
    from apps.social.permissions import can_moderate, is_network_moderator

    if target_type == ShareTarget.PROFILE:
        return str(target_id) == str(viewer.pk)
    if target_type in (ShareTarget.POST, ShareTarget.COMMUNITY) and is_network_moderator(viewer):
        return True
    try:
        if target_type == ShareTarget.POST:
            from apps.social.models import Post

            post = Post.objects.filter(network=network, pk=target_id).select_related("community").first()
            return post is not None and (post.author_id == viewer.pk or can_moderate(viewer, post.community))
        if target_type == ShareTarget.COMMUNITY:
            from apps.social.models import Community

            community = Community.objects.filter(network=network, pk=target_id).first()
            return community is not None and can_moderate(viewer, community)
        if target_type in (ShareTarget.PROJECT, ShareTarget.ROADMAP_TASK):
            from apps.projects.models import Project
            from apps.projects.permissions import Level, project_level

            if target_type == ShareTarget.ROADMAP_TASK:
                from apps.dispatcher.models import RoadmapTask

                project_id = (
                    RoadmapTask.objects.filter(network=network, pk=target_id)
                    .values_list("project_id", flat=True)
                    .first()
                )
            else:
                project_id = target_id
            project = Project.objects.filter(network=network, pk=project_id).first()
            return project is not None and project_level(viewer, project) >= Level.MAINTAIN
    except (ValueError, TypeError):
        return False
    return False
