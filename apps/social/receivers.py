"""Model signals: a write of a follow, block or membership makes the writer's cached graph stale.

On the models, not in the services, so every ORM write counts: the services,
cascades (a deleted community's memberships, a deleted user's follows), the
admin and factories. Only ``QuerySet.update`` skips signals; no code updates
these rows that way (a membership's status and role change through ``save``).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from .models import Block, CommunityMember, Follow
from .reads import forget_graph

#: whose graph a row belongs to
_OWNER = {Follow: "follower_id", Block: "blocker_id", CommunityMember: "user_id"}


def _changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    forget_graph(getattr(instance, _OWNER[sender]))


def connect() -> None:
    for model in _OWNER:
        post_save.connect(_changed, sender=model, dispatch_uid=f"social-graph-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"social-graph-delete-{model.__name__}")
