"""Broadcasting to sockets and moving sockets between groups; call only from ``transaction.on_commit``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def broadcast(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "realtime.event", "payload": payload})


def broadcast_many(messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Many ``broadcast`` calls in one event-loop hop (a fan-out to 1,000 users costs one, not 1,000)."""
    messages = list(messages)
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    if len(messages) == 1:
        broadcast(*messages[0])
        return

    async def send_all() -> None:
        for group, payload in messages:  # one connection, in order
            await layer.group_send(group, {"type": "realtime.event", "payload": payload})

    async_to_sync(send_all)()


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
