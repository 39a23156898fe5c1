"""Broadcasting to sockets; call only from ``transaction.on_commit``."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def broadcast(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "realtime.event", "payload": payload})
