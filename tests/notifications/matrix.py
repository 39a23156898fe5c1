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


# --- rows with encrypted columns for the admin secrets walk (tests/matrix.py) -------------

from tests.matrix import admin_secret_rows  # noqa: E402


@admin_secret_rows
def _push_token_secrets(ctx) -> None:
    from tests.notifications.factories import PushTokenFactory

    PushTokenFactory(user=ctx.user)
