"""End to end on a live ASGI server: a committed delivery reaches the recipient's open socket."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client

from apps.inbox.services import deliver_inbox_item
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import issue_key

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _next(ws, kind: str, timeout: float = 10.0) -> dict:
    """The next frame of ``kind`` (others, such as the notification event, are skipped)."""

    async def read():
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == kind:
                return frame

    return await asyncio.wait_for(read(), timeout)


def test_a_delivery_reaches_the_open_socket_with_the_unread_count(live_asgi, network):
    owner = UserFactory(network=network)
    ada, bob = UserFactory.create_batch(2, network=network)
    cookie = _session_cookie(owner)
    key = issue_key(owner, scopes=["inbox:write"]).token
    post = uuid.uuid4()

    def react(actor):
        deliver_inbox_item(
            recipient=owner,
            kind="mention",
            target_type="post",
            target_id=post,
            actor=actor,
            title=f"{actor.handle} mentioned you",
            target_url=f"/posts/{post}/",
        )

    async def scenario():
        async with websockets.connect(
            f"{live_asgi.ws_url}/ws/",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            origin="http://127.0.0.1",
            open_timeout=5,
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
            await sync_to_async(react, thread_sensitive=False)(ada)
            first = await _next(ws, "inbox.item")
            assert first["unread_count"] == 1
            assert first["item"]["title"] == f"{ada.handle} mentioned you"
            assert first["item"]["actor"]["handle"] == ada.handle
            assert first["item"]["target_url"] == f"/posts/{post}/"
            notice = await _next(ws, "notification")
            assert notice["notification"]["inbox_item_id"] == first["item"]["id"]

            await sync_to_async(react, thread_sensitive=False)(bob)
            second = await _next(ws, "inbox.item")
            assert second["item"]["id"] == first["item"]["id"]
            assert second["item"]["actor_count"] == 2 and second["unread_count"] == 1

            async with httpx.AsyncClient(base_url=live_asgi.url) as http:
                response = await http.post(
                    f"/api/v1/inbox-items/{first['item']['id']}/read/",
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.status_code == 200, response.text
            assert (await _next(ws, "inbox.unread_count"))["unread_count"] == 0

    asyncio.run(scenario())
