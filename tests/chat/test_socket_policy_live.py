"""An org channel under its organization's security policy on the socket: live uvicorn, real WebSockets.

alice owns the organization that owns a community; she and bob (a community member who is
not in the organization, so not held to its policy) are in the community's channel and in
a plain group. With an IP allowlist that leaves out 127.0.0.1 alice's socket does not join
the channel, gets none of its events, and her send / typing / read on it are ``error``
frames with the API's code while the socket stays open; the same policy lifted, she sends
at once and a new socket of hers joins the channel; a policy turned on under an open
socket stops the channel's events to it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from apps.chat import services
from apps.chat.models import Conversation
from apps.organizations.models import OrganizationSecurityPolicy
from apps.realtime import policy
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory
from tests.social.factories import CommunityFactory, CommunityMemberFactory

from .factories import group
from .sockets import Socket, session_cookie

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _allowlist(org, user, cidrs) -> None:
    from apps.accounts.selectors import forget_security_state

    OrganizationSecurityPolicy.objects.filter(organization=org).update(ip_allowlist=cidrs)
    forget_security_state(user.pk)


def _frame(conversation, body: str) -> dict:
    return {
        "type": "message.send",
        "conversation_id": str(conversation.pk),
        "body": body,
        "client_id": str(uuid.uuid4()),
    }


def test_a_refused_member_neither_joins_nor_hears_nor_acts_on_the_orgs_channel(
    live_asgi, network, monkeypatch
):
    monkeypatch.setattr(policy, "VERDICT_MAX_AGE", 0.0)  # every event sees the policy of the moment
    alice, bob = UserFactory(network=network), UserFactory(network=network)
    org = OrganizationFactory(network=network, owner=alice)
    community = CommunityFactory(network=network, owner_user=None, owner_organization=org)
    CommunityMemberFactory(community=community, user=alice, role="moderator")
    CommunityMemberFactory(community=community, user=bob)
    channel = services.create_community_channel(actor=alice, community=community, title="c")
    assert channel.organization_id == org.pk
    assert set(channel.members.values_list("user_id", flat=True)) == {alice.pk, bob.pk}
    plain = group(alice, bob)
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)
    _allowlist(org, alice, ["10.0.0.0/8"])  # the test client is 127.0.0.1

    async def scenario():
        a = await Socket.open(live_asgi.ws_url, cookie=alice_cookie)
        b = await Socket.open(live_asgi.ws_url, cookie=bob_cookie)

        async def bob_says(conversation, body: str) -> None:
            frame = _frame(conversation, body)
            await b.send(frame)
            await b.expect("message.ack", client_id=frame["client_id"])
            await b.expect("message.created", conversation_id=str(conversation.pk))  # his own copy

        # bob's channel message reaches bob's socket, not alice's; the plain group's does
        await bob_says(channel, "org news")
        await bob_says(plain, "lunch?")
        first = await a.expect("message.created")
        assert first["conversation_id"] == str(plain.pk)  # the channel's came first, if at all
        await a.roundtrip()
        assert not [f for f in a.frames if f.get("conversation_id") == str(channel.pk)]

        # alice's actions on the channel: the policy's error, the socket stays open
        send = _frame(channel, "from outside")
        await a.send(send)
        error = await a.expect("error", client_id=send["client_id"])
        assert error["code"] == "ip_not_allowed"
        await a.send({"type": "typing", "conversation_id": str(channel.pk), "ref": "t1"})
        assert (await a.expect("error", ref="t1"))["code"] == "ip_not_allowed"
        await a.send({"type": "read", "conversation_id": str(channel.pk), "seq": 1, "ref": "r1"})
        assert (await a.expect("error", ref="r1"))["code"] == "ip_not_allowed"
        await b.roundtrip()
        assert not [f for f in b.frames if f["type"] == "typing"]  # bob saw no typing from her
        mine = _frame(plain, "still here")
        await a.send(mine)
        assert (await a.expect("message.ack", client_id=mine["client_id"]))["duplicate"] is False

        # the policy lifted: her send goes through at once; a new socket of hers joins the channel
        await asyncio.to_thread(_allowlist, org, alice, ["127.0.0.1/32"])
        retry = _frame(channel, "from inside")
        await a.send(retry)
        await a.expect("message.ack", client_id=retry["client_id"])
        assert (await b.expect("message.created", conversation_id=str(channel.pk)))["message"]["body"] == (
            "from inside"
        )
        a2 = await Socket.open(live_asgi.ws_url, cookie=alice_cookie)
        await bob_says(channel, "welcome back")
        heard = await a2.expect("message.created", conversation_id=str(channel.pk))
        assert heard["message"]["body"] == "welcome back"

        # the policy turned on under the open socket: the channel's events stop reaching it
        await asyncio.to_thread(_allowlist, org, alice, ["10.0.0.0/8"])
        await bob_says(channel, "after the change")
        await bob_says(plain, "plain after the change")
        nxt = await a2.expect("message.created")
        assert nxt["conversation_id"] == str(plain.pk)
        await a2.roundtrip()
        assert not [f for f in a2.frames if f.get("conversation_id") == str(channel.pk)]
        for sock in (a, a2, b):
            await sock.close()

    asyncio.run(scenario())
    # nothing stored from outside the allowlist: bob's two, alice's one from inside, bob's two more
    assert Conversation.objects.get(pk=channel.pk).last_message_seq == 4
    assert not channel.messages.filter(body="from outside").exists()


def test_a_refused_new_member_of_an_org_channel_is_not_joined_live(live_asgi, network):
    from tests.organizations.factories import OrganizationMemberFactory
    from tests.projects.factories import OrgProjectFactory

    owner = UserFactory(network=network)
    strict, open_org = (OrganizationFactory(network=network, owner=owner) for _ in range(2))
    refused, allowed = (
        services.create_channel(
            actor=owner, project=OrgProjectFactory(owner_organization=org, network=network), title="p"
        )
        for org in (strict, open_org)
    )
    carol = UserFactory(network=network)
    carol_cookie = session_cookie(carol)
    OrganizationSecurityPolicy.objects.filter(organization=strict).update(ip_allowlist=["10.0.0.0/8"])

    def join(org) -> None:  # channel membership follows the org's on commit → realtime.join
        OrganizationMemberFactory(organization=org, user=carol, role="member")

    async def scenario():
        c = await Socket.open(live_asgi.ws_url, cookie=carol_cookie)
        await asyncio.to_thread(join, strict)  # refused by the allowlist: her socket stays out
        await asyncio.to_thread(join, open_org)  # no policy: her socket joins at once
        # the joins reach her socket in order: the open org's arriving means the strict one's was judged
        added = await c.expect("conversation.member_added", conversation_id=str(allowed.pk))
        assert added["member"]["user"]["id"] == str(carol.pk)
        await c.roundtrip()
        assert not [f for f in c.frames if f.get("conversation_id") == str(refused.pk)]
        await c.close()

    asyncio.run(scenario())
    for channel in (refused, allowed):  # a member of both all the same (REST refuses the strict one)
        assert channel.members.filter(user=carol, left_at__isnull=True).exists()
