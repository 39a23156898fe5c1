"""The chat socket end to end: a real uvicorn, real WebSocket clients, Redis channel layer."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from apps.chat import services
from apps.chat.models import Message
from tests.accounts.factories import UserFactory

from .factories import direct, group
from .sockets import Socket, session_cookie

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _send_frame(conversation, body: str, client_id: str | None = None, **extra) -> dict:
    return {
        "type": "message.send",
        "conversation_id": str(conversation.pk),
        "body": body,
        "client_id": client_id or str(uuid.uuid4()),
        **extra,
    }


def test_socket_send_is_acked_broadcast_once_and_a_retry_is_a_duplicate(live_asgi, network):
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    conversation = direct(alice, bob)

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)
        b = await Socket.open(live_asgi.ws_url, user=bob)
        frame = _send_frame(conversation, "hello **bob**")
        await a.send(frame)
        ack = await a.expect("message.ack", client_id=frame["client_id"])
        assert ack["duplicate"] is False and ack["message"]["seq"] == 1
        created = await b.expect("message.created")
        assert created["message"]["body_html"] == "<p>hello <strong>bob</strong></p>"
        assert created["message"]["client_id"] == frame["client_id"]
        await a.send(frame)  # the same client_id again (a retry after a lost ack)
        again = await a.expect("message.ack", client_id=frame["client_id"])
        assert again["duplicate"] is True and again["message"]["id"] == ack["message"]["id"]
        await a.send(_send_frame(conversation, "second"))
        nxt = await b.expect("message.created")
        assert nxt["message"]["seq"] == 2  # no second broadcast of seq 1 came before it
        assert [f for f in b.frames if f["type"] == "message.created"] == []
        await a.close()
        await b.close()

    asyncio.run(scenario())
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_a_killed_socket_catches_up_from_its_last_seq_with_no_gap_and_no_duplicate(live_asgi, network):
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    conversation = group(alice, bob)
    bob_cookie = session_cookie(bob)

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)
        b = await Socket.open(live_asgi.ws_url, cookie=bob_cookie)
        seen: dict[int, str] = {}

        def keep(message):
            assert message["seq"] not in seen or seen[message["seq"]] == message["id"]
            seen[message["seq"]] = message["id"]

        for i in range(3):
            await a.send(_send_frame(conversation, f"before {i}"))
            keep((await b.expect("message.created"))["message"])
        b.kill()  # the network drops mid-conversation
        for i in range(4):
            await a.send(_send_frame(conversation, f"while away {i}"))
            await a.expect("message.ack")
        last_seen = max(seen)
        b = await Socket.open(live_asgi.ws_url, cookie=bob_cookie)
        await a.send(_send_frame(conversation, "after"))  # live again, maybe before the catch-up
        async with httpx.AsyncClient(base_url=live_asgi.url, cookies={"sessionid": bob_cookie}) as http:
            after = last_seen
            while True:
                page = (
                    await http.get(
                        f"/api/v1/conversations/{conversation.pk}/messages/?after_seq={after}&limit=2"
                    )
                ).json()
                for message in page["results"]:
                    keep(message)
                if not page["has_more"]:
                    break
                after = page["results"][-1]["seq"]
        keep((await b.expect("message.created"))["message"])
        assert sorted(seen) == list(range(1, 9))
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_an_added_member_receives_at_once_and_a_removed_one_stops_at_once(live_asgi, network):
    alice, bob, carol = (UserFactory(network=network) for _ in range(3))
    conversation = group(alice, bob)

    async def scenario():
        b = await Socket.open(live_asgi.ws_url, user=bob)
        c = await Socket.open(live_asgi.ws_url, user=carol)  # connected before joining
        await asyncio.to_thread(services.add_members, actor=alice, conversation=conversation, users=[carol])
        added = await c.expect("conversation.member_added")
        assert added["member"]["user"]["id"] == str(carol.pk)
        await b.expect("conversation.member_added")
        await asyncio.to_thread(services.send_message, actor=alice, conversation=conversation, body="welcome")
        assert (await c.expect("message.created"))["message"]["body"] == "welcome"
        assert (await b.expect("message.created"))["message"]["body"] == "welcome"
        member = await asyncio.to_thread(conversation.members.get, user=carol)
        await asyncio.to_thread(services.remove_member, actor=alice, member=member)
        await c.expect("conversation.member_removed", user_id=str(carol.pk))
        await asyncio.to_thread(services.send_message, actor=alice, conversation=conversation, body="after")
        assert (await b.expect("message.created"))["message"]["body"] == "after"
        assert await c.quiet("message.created") == []
        # and the removed member's sends are refused
        await c.send(_send_frame(conversation, "still here?"))
        assert (await c.expect("error"))["code"] == "not_found"
        await b.close()
        await c.close()

    asyncio.run(scenario())


def test_bad_frames_get_error_frames_and_the_socket_stays_open(live_asgi, network, settings):
    alice = UserFactory(network=network)
    conversation = direct(alice)
    hidden = group(UserFactory(network=network), UserFactory(network=network))

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)
        cases = [
            ("not json", "invalid_json"),
            ("[1, 2]", "invalid_frame"),
            ({"type": "nope"}, "unknown_type"),
            ({"no": "type"}, "unknown_type"),
            ({"type": "message.send", "body": "x"}, "invalid"),
            ({"type": "message.send", "conversation_id": "nope", "body": "x"}, "invalid"),
            (_send_frame(conversation, "x", client_id="not-a-uuid"), "invalid"),
            ({"type": "message.send", "conversation_id": str(conversation.pk), "body": 5}, "invalid"),
            (_send_frame(conversation, "x" * (settings.CHAT_MESSAGE_MAX_CHARS + 1)), "message_too_long"),
            (_send_frame(conversation, "   "), "blank"),
            (_send_frame(hidden, "x"), "not_found"),
            (_send_frame(conversation, "x", reply_to=str(uuid.uuid4())), "invalid"),
            ({"type": "typing", "conversation_id": str(hidden.pk)}, "not_found"),
            ({"type": "read", "conversation_id": str(conversation.pk), "seq": "x"}, "invalid"),
            ({"type": "read", "conversation_id": str(conversation.pk), "seq": True}, "invalid"),
        ]
        for frame, code in cases:
            await a.send(frame)
            error = await a.expect("error")
            assert error["code"] == code, (frame, error)
            if isinstance(frame, dict) and frame.get("client_id") and len(frame["client_id"]) < 100:
                assert error["client_id"] == frame["client_id"]
        await a.roundtrip()  # still open
        await a.close()

    asyncio.run(scenario())
    assert not Message.objects.exists()


def test_the_send_rate_limit_is_an_error_frame_with_retry_after(live_asgi, network, settings):
    settings.CHAT_SEND_BURST = 2
    alice = UserFactory(network=network)
    conversation = direct(alice)

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)
        for _ in range(2):
            await a.send(_send_frame(conversation, "ok"))
            await a.expect("message.ack")
        frame = _send_frame(conversation, "too fast")
        await a.send(frame)
        error = await a.expect("error", client_id=frame["client_id"])
        assert error["code"] == "throttled" and error["retry_after"] >= 1
        await a.roundtrip()
        await a.close()

    asyncio.run(scenario())
    assert Message.objects.count() == 2


def test_typing_is_throttled_not_stored_and_reads_move_the_cursor(live_asgi, network):
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    conversation = direct(alice, bob)
    services.send_message(actor=bob, conversation=conversation, body="hi")

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, user=alice)
        b = await Socket.open(live_asgi.ws_url, user=bob)
        for _ in range(3):
            await a.send({"type": "typing", "conversation_id": str(conversation.pk)})
        typing = await b.expect("typing")
        assert typing["user_id"] == str(alice.pk) and typing["expires_in"] == 6
        assert await b.quiet("typing", within=0.5) == []
        await a.send({"type": "read", "conversation_id": str(conversation.pk), "seq": 1, "ref": "r1"})
        assert (await a.expect("read.ack", ref="r1"))["last_read_seq"] == 1
        cursor = await b.expect("read_cursor.updated")
        assert cursor == {
            "type": "read_cursor.updated",
            "conversation_id": str(conversation.pk),
            "user_id": str(alice.pk),
            "last_read_seq": 1,
        }
        await a.close()
        await b.close()

    asyncio.run(scenario())


def test_reactions_edits_and_deletes_reach_the_conversation(live_asgi, network):
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    conversation = direct(alice, bob)
    message = services.send_message(actor=alice, conversation=conversation, body="v1")

    async def scenario():
        b = await Socket.open(live_asgi.ws_url, user=bob)
        await asyncio.to_thread(services.add_reaction, actor=alice, message=message, emoji="🎉")
        reaction = await b.expect("reaction.added")
        assert (reaction["emoji"], reaction["count"], reaction["user_id"]) == ("🎉", 1, str(alice.pk))
        await asyncio.to_thread(services.edit_message, actor=alice, message=message, body="v2")
        assert (await b.expect("message.updated"))["message"]["body"] == "v2"
        await asyncio.to_thread(services.delete_message, actor=alice, message=message)
        deleted = (await b.expect("message.deleted"))["message"]
        assert deleted["deleted_at"] and deleted["body"] == ""
        await b.close()

    asyncio.run(scenario())
