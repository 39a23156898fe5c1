"""Follows and blocks.

Follow: exactly one target (user, organization, community); never yourself;
not a user who blocked you; idempotent (the existing row is returned). A
block removes the follows between the two people, and from then on the
blocked person cannot follow, reply to or DM the blocker (chat asks
``selectors.has_blocked``), their mentions do not notify the blocker, and
their posts leave the blocker's feeds.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.core.api import ensure_same_network
from apps.core.exceptions import PermissionDenied, ValidationFailed

from .. import permissions as perms
from ..models import Block, Follow
from ..selectors import has_blocked
from ._common import notify, rate


@transaction.atomic
def follow(
    *, actor: Any, user: Any = None, organization: Any = None, community: Any = None
) -> tuple[Follow, bool]:
    """Returns (follow, created)."""
    targets = [t for t in (user, organization, community) if t is not None]
    if len(targets) != 1:
        raise ValidationFailed(
            "Follow exactly one of followee_user, followee_organization, followee_community.",
            field="non_field_errors",
        )
    ensure_same_network(actor.network_id, *targets)
    if user is not None:
        if user.pk == actor.pk:
            raise ValidationFailed("You cannot follow yourself.", field="followee_user", code="self_follow")
        if has_blocked(blocker_id=user.pk, blocked_id=actor.pk):
            raise PermissionDenied("You cannot follow this person.", code="blocked")
        lookup = {"followee_user": user}
    elif organization is not None:
        lookup = {"followee_organization": organization}
    else:
        perms.require_view(actor, community)
        lookup = {"followee_community": community}
    existing = Follow.objects.filter(follower=actor, **lookup).first()
    if existing is not None:
        return existing, False
    rate(actor, "follows")
    try:
        with transaction.atomic():
            row = Follow.objects.create(network_id=actor.network_id, follower=actor, **lookup)
    except IntegrityError:  # a concurrent identical follow won
        return Follow.objects.get(follower=actor, **lookup), False
    if user is not None:
        notify(
            recipient=user,
            kind="follow",
            actor=actor,
            target_type="user",
            target_id=actor.pk,
            title=f"@{actor.handle} followed you",
            target_url=f"/@{actor.handle}",
        )
    return row, True


@transaction.atomic
def unfollow(*, actor: Any, follow: Follow) -> None:
    if follow.follower_id != actor.pk:
        raise PermissionDenied("This is not your follow.", code="not_yours")
    Follow.objects.filter(pk=follow.pk).delete()


@transaction.atomic
def block_user(*, actor: Any, user: Any) -> tuple[Block, bool]:
    ensure_same_network(actor.network_id, user)
    if user.pk == actor.pk:
        raise ValidationFailed("You cannot block yourself.", field="blocked", code="self_block")
    existing = Block.objects.filter(blocker=actor, blocked=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            block = Block.objects.create(network_id=actor.network_id, blocker=actor, blocked=user)
    except IntegrityError:
        return Block.objects.get(blocker=actor, blocked=user), False
    Follow.objects.filter(
        Q(follower=user, followee_user=actor) | Q(follower=actor, followee_user=user)
    ).delete()
    return block, True


@transaction.atomic
def unblock_user(*, actor: Any, block: Block) -> None:
    if block.blocker_id != actor.pk:
        raise PermissionDenied("This is not your block.", code="not_yours")
    Block.objects.filter(pk=block.pk).delete()
