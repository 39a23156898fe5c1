"""Reports: open → actioned | dismissed, by a moderator.

A report names one post, chat message or user. Post reports join their
community's queue (its moderators and the network's); message and user
reports go to the network's moderators. One open report per reporter and
post (a repeat returns it). ``Post.report_count`` counts open reports (the
admin's "reported" filter). Resolving may act at once: hide or delete the
post, or ban its author from the community.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, PermissionDenied, ValidationFailed

from .. import permissions as perms
from ..models import Post, Report, ReportStatus
from ._common import log_moderation, rate

RESOLUTIONS = ("hide", "delete", "ban_author")


@transaction.atomic
def file_report(
    *,
    actor: Any,
    reason: str,
    details: str = "",
    post: Post | None = None,
    message_id: Any = None,
    reported_user: Any = None,
) -> tuple[Report, bool]:
    """Returns (report, created)."""
    if sum(x is not None for x in (post, message_id, reported_user)) != 1:
        raise ValidationFailed("Report exactly one post, message or user.", field="non_field_errors")
    if reason not in Report.Reason.values:
        raise ValidationFailed(f"Choose one of: {', '.join(Report.Reason.values)}.", field="reason")
    ensure_same_network(actor.network_id, post, reported_user)
    if reported_user is not None and reported_user.pk == actor.pk:
        raise ValidationFailed("You cannot report yourself.", field="reported_user")
    if post is not None:
        existing = Report.objects.filter(reporter=actor, post=post, status=ReportStatus.OPEN).first()
        if existing is not None:
            return existing, False
    rate(actor, "reports")
    try:
        with transaction.atomic():
            report = Report.objects.create(
                network_id=actor.network_id,
                reporter=actor,
                post=post,
                message_id=message_id,
                reported_user=reported_user,
                community_id=post.community_id if post is not None else None,
                reason=reason,
                details=details,
            )
    except IntegrityError:
        return Report.objects.get(reporter=actor, post=post, status=ReportStatus.OPEN), False
    if post is not None:
        Post.objects.filter(pk=post.pk).update(report_count=F("report_count") + 1)
    return report, True


def can_handle(actor: Any, report: Report) -> bool:
    return (
        perms.can_moderate(actor, report.community)
        if report.community_id
        else perms.is_network_moderator(actor)
    )


def moderated_reports_q(actor: Any) -> Q:
    """Reports in the actor's queue (network moderators: all)."""
    from ..models import CommunityMember, MemberRole, MemberStatus

    if perms.is_network_moderator(actor):
        return Q()
    communities = CommunityMember.objects.filter(
        user_id=actor.pk, status=MemberStatus.ACTIVE, role__in=[MemberRole.MODERATOR, MemberRole.OWNER]
    ).values("community_id")
    return Q(community_id__in=communities) | Q(community__owner_user_id=actor.pk)


@transaction.atomic
def resolve_report(
    *,
    actor: Any,
    report: Report,
    status: str,
    note: str = "",
    action: str | None = None,
    ban_until: Any = None,
) -> Report:
    from .communities import ban_member
    from .moderation import hide_post
    from .posts import delete_post

    locked = (
        Report.objects.select_for_update(of=("self",)).select_related("community", "post").get(pk=report.pk)
    )
    if not can_handle(actor, locked):
        raise PermissionDenied("Only this queue's moderators may resolve it.", code="not_a_moderator")
    if status not in (ReportStatus.ACTIONED, ReportStatus.DISMISSED):
        raise ValidationFailed("Choose actioned or dismissed.", field="status")
    if locked.status != ReportStatus.OPEN:
        raise InvalidState(f"This report is already {locked.status}.")
    if action is not None:
        if status != ReportStatus.ACTIONED:
            raise ValidationFailed("Only an actioned report carries an action.", field="action")
        if action not in RESOLUTIONS or locked.post is None:
            raise ValidationFailed(f"Choose one of: {', '.join(RESOLUTIONS)} (post reports).", field="action")
        post = locked.post
        reason = f"report {locked.pk}: {locked.reason}"
        if action == "hide" and post.status == "published":
            hide_post(actor=actor, post=post, reason=reason)
        elif action == "delete":
            delete_post(actor=actor, post=post, reason=reason)
        elif action == "ban_author":
            if post.community is None:
                raise ValidationFailed("This post is not in a community.", field="action")
            ban_member(
                actor=actor, community=post.community, user=post.author, reason=reason, until=ban_until
            )
    locked.status = status
    locked.handled_by = actor
    locked.handled_at = timezone.now()
    locked.resolution_note = note
    locked.save(update_fields=["status", "handled_by", "handled_at", "resolution_note", "updated_at"])
    if locked.post_id:
        Post.objects.filter(pk=locked.post_id).update(report_count=Greatest(F("report_count") - 1, Value(0)))
    log_moderation(
        moderator=actor,
        action=f"report.{status}",
        target_type="report",
        target_id=locked.pk,
        network_id=locked.network_id,
        community=locked.community,
        target_user=locked.reported_user or (locked.post.author if locked.post_id else None),
        reason=note,
        data={"action": action, "reason": locked.reason},
    )
    return locked
