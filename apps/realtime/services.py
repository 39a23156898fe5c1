"""Broadcasting to sockets and moving sockets between groups; call only from ``transaction.on_commit``."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def broadcast(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "realtime.event", "payload": payload})


def join_group(user_id: Any, group: str, payload: dict[str, Any] | None = None) -> None:
    """Every open socket of the user joins ``group`` (then receives ``payload``, if given)."""
    from apps.accounts.services import user_group

    _send(user_group(user_id), {"type": "realtime.join", "group": group, "payload": payload})


def leave_group(user_id: Any, group: str, payload: dict[str, Any] | None = None) -> None:
    """Every open socket of the user leaves ``group`` at once (then receives ``payload``)."""
    from apps.accounts.services import user_group

    _send(user_group(user_id), {"type": "realtime.leave", "group": group, "payload": payload})


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)
