"""Broadcasting to sockets and moving sockets between groups; call only from ``transaction.on_commit``.

A broadcast payload is encoded to JSON once, here, and travels as text: each
socket of the group writes the same string (no per-socket encoding, and the
channel layer packs a string, not the nested payload, per member channel).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def _event(payload: dict[str, Any], organization_id: Any, group: str) -> dict[str, Any]:
    # ``group``: a process's shared subscription hands the event to its local members of it
    event: dict[str, Any] = {"type": "realtime.event", "text": json.dumps(payload), "group": group}
    if organization_id is not None:  # the row's organization: its security policy gates delivery
        event["organization_id"] = str(organization_id)
    return event


def broadcast(group: str, payload: dict[str, Any], *, organization_id: Any = None) -> None:
    """``payload`` to every socket in ``group``; with ``organization_id`` (the payload's row is that
    organization's) only to sockets its security policy allows (``apps.realtime.policy``)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, _event(payload, organization_id, group))


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
            await layer.group_send(group, _event(payload, None, group))

    async_to_sync(send_all)()


def join_group(
    user_id: Any, group: str, payload: dict[str, Any] | None = None, *, organization_id: Any = None
) -> None:
    """Every open socket of the user joins ``group`` (then receives ``payload``, if given); with
    ``organization_id`` only the sockets that organization's security policy allows."""
    from apps.accounts.services import user_group

    message = {"type": "realtime.join", "group": group, "payload": payload}
    if organization_id is not None:
        message["organization_id"] = str(organization_id)
    _send(user_group(user_id), message)


def leave_group(user_id: Any, group: str, payload: dict[str, Any] | None = None) -> None:
    """Every open socket of the user leaves ``group`` at once (then receives ``payload``)."""
    from apps.accounts.services import user_group

    _send(user_group(user_id), {"type": "realtime.leave", "group": group, "payload": payload})


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)
