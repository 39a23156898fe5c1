"""The one WebSocket per client at ``/ws/``.

Joins ``user.<id>`` (inbox, notifications) and ``session.<key>`` (revocation);
chat adds ``conv.<id>`` groups. Client frames are JSON ``{"type": …}``.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.accounts.services import session_group, user_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_SESSION_REVOKED = 4001


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = str(user.pk)
        self.joined: list[str] = [user_group(self.user_id)]
        session_key = self.scope.get("session_key")
        if session_key:
            self.joined.append(session_group(session_key))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user_id": self.user_id})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return json.loads(text_data)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            content = await self.decode_json(text_data or "")
        except (ValueError, TypeError):
            await self.send_json(
                {"type": "error", "code": "invalid_json", "detail": "Frames must be JSON objects."}
            )
            return
        if not isinstance(content, dict):
            await self.send_json(
                {"type": "error", "code": "invalid_frame", "detail": "Frames must be JSON objects."}
            )
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong", "ts": content.get("ts")})
            return
        await self.send_json(
            {"type": "error", "code": "unknown_type", "detail": f"Unknown frame type {kind!r}."}
        )

    # --- group events ---------------------------------------------------------

    async def session_revoked(self, event: dict) -> None:
        await self.send_json({"type": "session.revoked"})
        await self.close(code=CLOSE_SESSION_REVOKED)

    async def realtime_event(self, event: dict) -> None:
        """Generic fan-out: ``{"type": "realtime.event", "payload": {...}}``."""
        await self.send_json(event["payload"])
