"""Cross-tenant matrix cases for the notification routes (see tests/matrix.py)."""

from __future__ import annotations

from tests.matrix import Ctx, detail, exempt

from .factories import PushTokenFactory


def _own_device(ctx: Ctx) -> dict:
    return {"pk": PushTokenFactory(user=ctx.user).pk}


detail("push-token-detail", methods=("delete",))(_own_device)
detail("push-token-test", methods=("post",))(_own_device)

exempt(
    "push-token-list",
    "registers a device for the caller; the body has no foreign key (a device known elsewhere moves to the caller)",
)
