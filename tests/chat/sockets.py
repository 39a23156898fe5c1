"""A real WebSocket client for the live tests (websockets, against uvicorn)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from django.test import Client


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Socket:
    """Buffers frames so a test can wait for one kind while others arrive."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, base_url: str, *, cookie: str | None = None, user=None, query: str = "") -> Socket:
        if user is not None:
            cookie = await asyncio.to_thread(session_cookie, user)
        headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
        ws = await websockets.connect(
            f"{base_url}/ws/{query}", additional_headers=headers, origin="http://127.0.0.1", open_timeout=10
        )
        sock = cls(ws)
        hello = await sock.expect("hello")
        assert hello["user_id"]
        return sock

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def expect(self, kind: str, *, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first buffered or incoming frame of ``kind`` whose fields equal ``match``."""

        def fits(frame: dict[str, Any]) -> bool:
            return frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items())

        for i, frame in enumerate(self.frames):
            if fits(frame):
                return self.frames.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame matching {match} within {timeout}s; got {self.frames}")
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            if fits(frame):
                return frame
            self.frames.append(frame)

    async def quiet(self, kind: str, *, within: float = 0.5) -> list[dict[str, Any]]:
        """Frames of ``kind`` that arrive within ``within`` seconds (a negative check)."""
        got = [f for f in self.frames if f.get("type") == kind]
        try:
            while True:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), within))
                (got if frame.get("type") == kind else self.frames).append(frame)
        except TimeoutError:
            return got

    async def roundtrip(self) -> None:
        """A ping answered: every frame the server queued before it has been read."""
        await self.send({"type": "ping", "ts": 1})
        await self.expect("pong")

    async def close(self) -> None:
        await self.ws.close()

    def kill(self) -> None:
        """Drop the TCP connection without a close handshake (a network failure)."""
        self.ws.transport.abort()
