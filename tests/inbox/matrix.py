"""Cross-tenant matrix cases for the inbox routes (see tests/matrix.py).

Items are looked up among the caller's own rows: another network's (or another
user's) item is a 404 with every method, and nothing changes.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.matrix import Ctx, detail, exempt

from .factories import InboxItemFactory


def _own_item(ctx: Ctx) -> dict:
    return {"pk": InboxItemFactory(recipient=ctx.user).pk}


def _own_archived_item(ctx: Ctx) -> dict:
    return {"pk": InboxItemFactory(recipient=ctx.user, archived_at=timezone.now()).pk}


detail("inbox-item-detail", methods=("get",))(_own_item)
detail("inbox-item-read", methods=("post",))(_own_item)
detail("inbox-item-unread", methods=("post",))(_own_item)
detail("inbox-item-archive", methods=("post",))(_own_item)
detail("inbox-item-unarchive", methods=("post",))(_own_archived_item)
detail(
    "inbox-item-snooze",
    methods=("post",),
    body={"until": (timezone.now() + timedelta(days=30)).isoformat()},
)(_own_item)

exempt(
    "inbox-item-mark-all-read", "marks the caller's own items; no id in the URL, no foreign key in the body"
)
