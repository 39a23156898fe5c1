"""The one WebSocket per client at ``/ws/``.

Joins ``user.<id>`` (inbox, notifications) and ``session.<key>`` (revocation),
then the groups the registered providers name (chat: ``conv.<id>``; through the
process's one subscription per group, ``apps.realtime.fanout``), and follows
``realtime.join`` / ``realtime.leave`` events sent to ``user.<id>``. An
organization's groups and events are held to its security policy
(``apps.realtime.policy``).
Client frames are JSON ``{"type": …}``; types other than ``ping`` go to the
handlers registered in ``apps.realtime.dispatch``. A client's mistake is an
``error`` frame and the socket stays open.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.accounts.services import session_group, user_group
from apps.core import parsers
from apps.core.exceptions import DomainError

from . import dispatch, policy, presence
from .fanout import local_fanout

CLOSE_UNAUTHENTICATED = 4401
CLOSE_SESSION_REVOKED = 4001


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.user_id = str(user.pk)
        self.joined: list[str] = [user_group(self.user_id)]
        session_key = self.scope.get("session_key")
        if session_key:
            self.joined.append(session_group(session_key))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        # the providers' groups through the process's one subscription (apps.realtime.fanout)
        self.fanout = local_fanout(self.channel_layer)
        self.shared: set[str] = set()
        # after user.<id>: a membership added while these are read arrives as realtime.join
        for provider in dispatch.group_providers():
            for entry in await provider(user):
                group, organization_id = (entry, None) if isinstance(entry, str) else entry
                if group in self.shared or await self.organization_refuses(organization_id):
                    continue  # an organization whose security policy refuses this socket: not joined
                self.shared.add(group)
                await self.fanout.add(group, self)
        await database_sync_to_async(presence.mark_connected)(self.user_id, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user_id": self.user_id})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in list(getattr(self, "shared", ())):
            await self.fanout.discard(group, self)
        self.shared = set()
        if getattr(self, "user_id", None):
            await database_sync_to_async(presence.mark_disconnected)(self.user_id, self.channel_name)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return parsers.loads(text_data)  # the one safe reader (size/depth limits): UnsafeJSON is a ValueError

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
            await database_sync_to_async(presence.mark_connected)(self.user_id, self.channel_name)
            await self.send_json({"type": "pong", "ts": content.get("ts")})
            return
        handler = dispatch.action_handler(kind)
        if handler is None:
            await self.send_error(content, "unknown_type", f"Unknown frame type {str(kind)[:60]!r}.")
            return
        try:
            await handler(self, content)
        except DomainError as exc:
            extra = {"retry_after": exc.retry_after} if hasattr(exc, "retry_after") else {}
            if exc.field:
                extra["field"] = exc.field
            await self.send_error(content, exc.code, exc.message, **extra)

    async def organization_refuses(self, organization_id, *, fresh: bool = False) -> bool:
        """Whether ``organization_id``'s security policy refuses this socket (``apps.realtime.policy``).

        Events use a verdict at most ``VERDICT_MAX_AGE`` old; ``fresh`` (joining a group) a new one.
        """
        if organization_id is None:
            return False
        cached = getattr(self, "_verdict", None)
        if cached is None:
            cached = self._verdict = policy.CachedVerdict()
        verdict = None if fresh else cached.fresh_enough()
        if verdict is None:
            verdict = cached.keep(await database_sync_to_async(policy.socket_verdict)(self.scope))
        return policy.refusal(verdict, organization_id) is not None

    async def send_error(self, frame: dict, code: str, detail: str, **extra: Any) -> None:
        """An ``error`` frame echoing the client's ``ref`` / ``client_id`` so it can match it."""
        payload: dict[str, Any] = {"type": "error", "code": code, "detail": detail, **extra}
        for name in ("ref", "client_id"):
            value = frame.get(name)
            if isinstance(value, (str, int)) and len(str(value)) <= 100:
                payload[name] = value
        await self.send_json(payload)

    async def reply(self, frame: dict, payload: dict[str, Any]) -> None:
        """Answer a client frame, echoing its ``ref`` (when it sent one)."""
        ref = frame.get("ref")
        if isinstance(ref, (str, int)) and len(str(ref)) <= 100:
            payload = {**payload, "ref": ref}
        await self.send_json(payload)

    # --- group events ---------------------------------------------------------

    async def session_revoked(self, event: dict) -> None:
        await self.send_json({"type": "session.revoked"})
        await self.close(code=CLOSE_SESSION_REVOKED)

    async def realtime_event(self, event: dict) -> None:
        """Generic fan-out: ``{"type": "realtime.event", "text": "<json>", "organization_id"?: …}``.

        ``text`` is the payload encoded once by ``broadcast`` for the whole group (an event with a
        ``payload`` dict instead is encoded here). An event of an org-reached row carries its
        ``organization_id``: a socket the org's policy refuses does not get it.
        """
        if await self.organization_refuses(event.get("organization_id")):
            return
        text = event.get("text")
        if text is None:
            await self.send_json(event["payload"])
        else:
            await self.send(text_data=text)

    async def realtime_join(self, event: dict) -> None:
        """Start receiving a group (a membership added), then forward the payload if any.

        Not for a group of an organization whose policy refuses this socket (nor its payload).
        """
        group = event["group"]
        if await self.organization_refuses(event.get("organization_id"), fresh=True):
            return
        if group not in self.shared:
            self.shared.add(group)
            await self.fanout.add(group, self)
        if event.get("payload"):
            await self.send_json(event["payload"])

    async def realtime_leave(self, event: dict) -> None:
        """Stop receiving a group at once (a membership removed), then forward the payload."""
        group = event["group"]
        if group in self.shared:
            self.shared.discard(group)
            await self.fanout.discard(group, self)
        if event.get("payload"):
            await self.send_json(event["payload"])
