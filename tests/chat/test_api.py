"""The chat REST API: lists, windows by seq, edits, deletes, reactions, threads, cursors, search."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from apps.chat import services
from apps.chat.models import Conversation, ConversationMember, Message, MessageReaction, ReadCursor
from tests.accounts.factories import UserFactory

from .factories import MessageFactory, direct, group, send

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- conversations ----------------------------------------------------------------------


def test_conversation_list_has_last_message_and_unread_counts(user, user_client):
    bob = UserFactory(network=user.network)
    dm = direct(user, bob)
    team = group(user, bob, title="Team")
    send(bob, dm, "one")
    send(bob, dm, "two")
    send(user, team, "mine")
    response = user_client.get("/api/v1/conversations/")
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    assert rows[str(dm.pk)]["unread_count"] == 2
    assert rows[str(dm.pk)]["last_message"]["body"] == "two"
    assert rows[str(dm.pk)]["direct_with"]["id"] == str(bob.pk)
    assert rows[str(team.pk)]["unread_count"] == 0  # sending advances your own cursor
    assert rows[str(team.pk)]["my_role"] == "owner"
    # newest activity first
    assert [r["id"] for r in response.json()["results"]] == [str(team.pk), str(dm.pk)]


def test_conversation_list_runs_a_constant_number_of_queries(
    user, user_client, django_assert_max_num_queries
):
    def make(n: int) -> None:
        for _ in range(n):
            other = UserFactory(network=user.network)
            MessageFactory(conversation=direct(user, other), sender=other)
            MessageFactory(conversation=group(user, other), sender=user)

    make(2)
    user_client.get("/api/v1/conversations/")  # warm the session/principal caches
    with django_assert_max_num_queries(12) as small:
        assert len(user_client.get("/api/v1/conversations/").json()["results"]) == 4
    make(15)
    with django_assert_max_num_queries(12) as large:
        assert len(user_client.get("/api/v1/conversations/?page_size=40").json()["results"]) == 34
    assert len(small.captured_queries) == len(large.captured_queries)


def test_create_direct_is_get_or_create(user, user_client):
    bob = UserFactory(network=user.network)
    first = user_client.post(
        "/api/v1/conversations/", {"kind": "direct", "user_id": str(bob.pk)}, format="json"
    )
    again = user_client.post(
        "/api/v1/conversations/", {"kind": "direct", "user_id": str(bob.pk)}, format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_create_group_and_rename(user, user_client):
    bob = UserFactory(network=user.network)
    response = user_client.post(
        "/api/v1/conversations/",
        {"kind": "group", "title": "Ops", "member_ids": [str(bob.pk)]},
        format="json",
    )
    assert response.status_code == 201 and response.json()["member_count"] == 2
    pk = response.json()["id"]
    assert (
        user_client.patch(f"/api/v1/conversations/{pk}/", {"topic": "on call"}, format="json").json()["topic"]
        == "on call"
    )
    # a plain member may not rename
    assert (
        client_for(bob).patch(f"/api/v1/conversations/{pk}/", {"title": "x"}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "direct"},
        {"kind": "channel"},
        {"kind": "nope"},
        {"kind": "group", "member_ids": "x"},
        {"kind": "direct", "user_id": "not-a-uuid"},
        {"kind": "direct", "user_id": str(uuid.uuid4())},
    ],
)
def test_bad_create_bodies_are_400(user_client, body):
    assert user_client.post("/api/v1/conversations/", body, format="json").status_code == 400
    assert not Conversation.objects.exists()


def test_non_member_sees_404_everywhere(user, user_client):
    outsider_group = group(UserFactory(network=user.network), UserFactory(network=user.network))
    message = send(outsider_group.created_by, outsider_group)
    for method, url in [
        ("get", f"/api/v1/conversations/{outsider_group.pk}/"),
        ("get", f"/api/v1/conversations/{outsider_group.pk}/messages/"),
        ("post", f"/api/v1/conversations/{outsider_group.pk}/messages/"),
        ("get", f"/api/v1/messages/{message.pk}/"),
        ("post", f"/api/v1/messages/{message.pk}/reactions/"),
        ("get", f"/api/v1/messages/{message.pk}/thread/"),
        ("post", f"/api/v1/conversations/{outsider_group.pk}/read/"),
    ]:
        response = getattr(user_client, method)(url, {"body": "x", "emoji": "👍", "seq": 1}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    assert Message.objects.count() == 1


# --- messages -------------------------------------------------------------------------------


def test_history_and_catch_up_windows_by_seq(user, user_client):
    conversation = direct(user)
    for i in range(10):
        MessageFactory(conversation=conversation, sender=user, body=f"m{i + 1}")
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    latest = user_client.get(url + "?limit=3").json()
    assert [m["seq"] for m in latest["results"]] == [8, 9, 10] and latest["has_more"]
    history = user_client.get(url + "?limit=3&before_seq=8").json()
    assert [m["seq"] for m in history["results"]] == [5, 6, 7] and history["has_more"]
    first = user_client.get(url + "?limit=5&before_seq=5").json()
    assert [m["seq"] for m in first["results"]] == [1, 2, 3, 4] and not first["has_more"]
    after = user_client.get(url + "?limit=4&after_seq=3").json()
    assert [m["seq"] for m in after["results"]] == [4, 5, 6, 7] and after["has_more"]
    tail = user_client.get(url + "?after_seq=7").json()
    assert [m["seq"] for m in tail["results"]] == [8, 9, 10] and not tail["has_more"]
    assert tail["last_message_seq"] == 10
    between = user_client.get(url + "?after_seq=2&before_seq=5").json()
    assert [m["seq"] for m in between["results"]] == [3, 4]
    for bad in ("?after_seq=x", "?before_seq=-1", "?after_seq=99999999999999999999"):
        assert user_client.get(url + bad).status_code == 400


def test_message_list_runs_a_constant_number_of_queries(user, user_client, django_assert_max_num_queries):
    other = UserFactory(network=user.network)
    conversation = group(user, other)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"

    def make(n: int) -> None:
        for _ in range(n):
            message = MessageFactory(conversation=conversation, sender=other)
            MessageReaction.objects.create(network=user.network, message=message, user=user, emoji="👍")

    make(3)
    user_client.get(url)  # warm the session/principal caches
    with django_assert_max_num_queries(10) as small:
        assert len(user_client.get(url).json()["results"]) == 3
    make(60)
    with django_assert_max_num_queries(10) as large:
        assert len(user_client.get(url + "?limit=60").json()["results"]) == 60
    assert len(small.captured_queries) == len(large.captured_queries)


def test_rest_send_is_idempotent_and_returns_201_then_200(user, user_client):
    conversation = direct(user)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    client_id = str(uuid.uuid4())
    first = user_client.post(url, {"body": "hi", "client_id": client_id}, format="json")
    again = user_client.post(url, {"body": "hi", "client_id": client_id}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["seq"] == again.json()["seq"] == 1
    keyed = user_client.post(url, {"body": "k"}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    keyed_again = user_client.post(url, {"body": "k"}, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert (keyed.status_code, keyed_again.status_code) == (201, 200)
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_rest_send_rate_limit_is_429_with_retry_after(user, user_client, settings):
    settings.CHAT_SEND_BURST = 3
    settings.CHAT_SEND_PER_SECOND = 0.01  # no refill between requests, however slow the machine
    conversation = direct(user)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    codes = [user_client.post(url, {"body": f"m{i}"}, format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    response = user_client.post(url, {"body": "again"}, format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "throttled"
    assert Message.objects.filter(conversation=conversation).count() == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body": ["x"]},
        {"body": "x" * 8001},
        {"body": "ok", "client_id": "nope"},
        {"body": "ok", "reply_to": "x"},
    ],
)
def test_bad_send_bodies_are_400_and_store_nothing(user, user_client, body):
    conversation = direct(user)
    response = user_client.post(f"/api/v1/conversations/{conversation.pk}/messages/", body, format="json")
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_edits_keep_history_visible_to_readers_and_only_the_sender_edits(user, user_client):
    bob = UserFactory(network=user.network)
    conversation = group(user, bob)
    message = send(user, conversation, "first")
    url = f"/api/v1/messages/{message.pk}/"
    assert user_client.patch(url, {"body": "second"}, format="json").status_code == 200
    edited = user_client.patch(url, {"body": "third"}, format="json").json()
    assert edited["body"] == "third" and edited["edit_count"] == 2 and edited["edited_at"]
    seen_by_bob = client_for(bob).get(url).json()
    assert [e["body"] for e in seen_by_bob["edit_history"]] == ["first", "second"]
    response = client_for(bob).patch(url, {"body": "hijack"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "not_your_message"
    assert Message.objects.get(pk=message.pk).body == "third"


def test_edit_history_keeps_the_last_twenty(user, settings):
    message = send(user, direct(user), "v0")
    for i in range(25):
        message = services.edit_message(actor=user, message=message, body=f"v{i + 1}")
    assert len(message.edit_history) == settings.CHAT_EDIT_HISTORY_MAX
    assert message.edit_history[-1]["body"] == "v24"


def test_soft_delete_by_sender_or_admin_leaves_a_tombstone(user, user_client):
    bob, carol = UserFactory(network=user.network), UserFactory(network=user.network)
    conversation = group(user, bob, carol)
    by_bob = send(bob, conversation, "bob's")
    by_carol = send(carol, conversation, "carol's")
    assert client_for(bob).delete(f"/api/v1/messages/{by_carol.pk}/").status_code == 403
    assert client_for(bob).delete(f"/api/v1/messages/{by_bob.pk}/").status_code == 204
    assert user_client.delete(f"/api/v1/messages/{by_carol.pk}/").status_code == 204  # owner = admin
    tomb = user_client.get(f"/api/v1/messages/{by_bob.pk}/").json()
    assert tomb["deleted_at"] and tomb["body"] == "" and tomb["seq"] == by_bob.seq
    assert (
        user_client.patch(f"/api/v1/messages/{by_bob.pk}/", {"body": "x"}, format="json").status_code == 403
    )
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_reactions_are_idempotent_and_limited_to_twenty_distinct_emoji(user, user_client, settings):
    bob = UserFactory(network=user.network)
    conversation = group(user, bob)
    message = send(user, conversation)
    url = f"/api/v1/messages/{message.pk}/reactions/"
    assert user_client.post(url, {"emoji": "👍"}, format="json").status_code == 201
    assert user_client.post(url, {"emoji": "👍"}, format="json").status_code == 200
    reacted = client_for(bob).post(url, {"emoji": "👍"}, format="json").json()
    assert reacted["reactions"][0]["count"] == 2
    for i in range(settings.CHAT_REACTIONS_MAX_DISTINCT - 1):
        assert user_client.post(url, {"emoji": f"e{i}"}, format="json").status_code == 201
    response = client_for(bob).post(url, {"emoji": "🚀"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "too_many_reactions"
    # an existing emoji can still be added by someone else
    assert client_for(bob).post(url, {"emoji": "e0"}, format="json").status_code == 201
    assert user_client.delete(f"/api/v1/messages/{message.pk}/reactions/👍/").status_code == 204
    assert user_client.delete(f"/api/v1/messages/{message.pk}/reactions/👍/").status_code == 204
    assert MessageReaction.objects.filter(message=message, emoji="👍").count() == 1
    for bad in ("", " ", "a b", "x" * 65):
        assert user_client.post(url, {"emoji": bad}, format="json").status_code == 400


def test_threads_count_replies_and_read_in_order(user, user_client):
    conversation = direct(user)
    root = send(user, conversation, "root")
    reply = send(user, conversation, "r1", reply_to=root)
    send(user, conversation, "r2", reply_to=reply)  # a reply to a reply stays in the root's thread
    send(user, conversation, "unrelated")
    root.refresh_from_db()
    assert root.reply_count == 2 and root.last_reply_at
    page = user_client.get(f"/api/v1/messages/{reply.pk}/thread/").json()
    assert [m["body"] for m in page["results"]] == ["root", "r1", "r2"]
    filtered = user_client.get(f"/api/v1/conversations/{conversation.pk}/messages/?limit=10").json()
    assert len(filtered["results"]) == 4  # the timeline holds every seq; clients fold threads


def test_reply_to_another_conversations_message_is_400(user, user_client):
    elsewhere = send(user, group(user, UserFactory(network=user.network)))
    conversation = direct(user)
    response = user_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"body": "x", "reply_to": str(elsewhere.pk)},
        format="json",
    )
    assert response.status_code == 400


def test_read_cursor_moves_forward_only_and_never_past_the_last_message(user, user_client):
    bob = UserFactory(network=user.network)
    conversation = direct(user, bob)
    for i in range(5):
        send(bob, conversation, f"m{i}")
    url = f"/api/v1/conversations/{conversation.pk}/"
    assert user_client.post(url + "read/", {"seq": 3}, format="json").json() == {
        "last_read_seq": 3,
        "unread_count": 2,
    }
    assert user_client.post(url + "read/", {"seq": 1}, format="json").json()["last_read_seq"] == 3
    assert user_client.post(url + "read/", {"seq": 99}, format="json").json() == {
        "last_read_seq": 5,
        "unread_count": 0,
    }
    # "mark unread from here" moves it back
    assert user_client.post(url + "unread/", {"seq": 4}, format="json").json() == {
        "last_read_seq": 3,
        "unread_count": 2,
    }
    assert ReadCursor.objects.get(conversation=conversation, user=user).last_read_seq == 3
    for bad in ({}, {"seq": -1}, {"seq": "x"}):
        assert user_client.post(url + "read/", bad, format="json").status_code == 400


def test_search_finds_only_messages_of_your_conversations(user, user_client):
    bob = UserFactory(network=user.network)
    mine = direct(user, bob)
    send(bob, mine, "the deployment pipeline is green")
    send(bob, mine, "lunch?")
    theirs = group(bob, UserFactory(network=user.network))
    send(bob, theirs, "secret deployment plans")
    deleted = send(bob, mine, "deployment typo")
    services.delete_message(actor=bob, message=deleted)
    results = user_client.get("/api/v1/messages/search/?q=deployment").json()["results"]
    assert [m["body"] for m in results] == ["the deployment pipeline is green"]
    assert user_client.get("/api/v1/messages/search/?q=").status_code == 400
    assert (
        user_client.get(f"/api/v1/messages/search/?q=lunch&conversation={theirs.pk}").json()["results"] == []
    )


# --- members ---------------------------------------------------------------------------------


def test_admins_add_and_remove_members_and_anyone_leaves(user, user_client):
    bob, carol, dave = (UserFactory(network=user.network) for _ in range(3))
    conversation = group(user, bob)
    url = f"/api/v1/conversations/{conversation.pk}/members/"
    assert client_for(bob).post(url, {"user_ids": [str(carol.pk)]}, format="json").status_code == 403
    added = user_client.post(url, {"user_ids": [str(carol.pk), str(dave.pk)]}, format="json")
    assert added.status_code == 201 and len(added.json()) == 2
    members = user_client.get(url).json()["results"]
    assert [m["user"]["id"] for m in members] == [str(user.pk), str(bob.pk), str(carol.pk), str(dave.pk)]
    carol_row = ConversationMember.objects.get(conversation=conversation, user=carol)
    assert client_for(bob).delete(f"/api/v1/conversation-members/{carol_row.pk}/").status_code == 403
    assert user_client.delete(f"/api/v1/conversation-members/{carol_row.pk}/").status_code == 204
    dave_row = ConversationMember.objects.get(conversation=conversation, user=dave)
    assert client_for(dave).delete(f"/api/v1/conversation-members/{dave_row.pk}/").status_code == 204
    conversation.refresh_from_db()
    assert conversation.member_count == 2
    assert client_for(carol).get(f"/api/v1/conversations/{conversation.pk}/").status_code == 404


def test_owner_leaving_hands_ownership_on(user):
    bob, carol = UserFactory(network=user.network), UserFactory(network=user.network)
    conversation = group(user, bob, carol)
    carol_row = ConversationMember.objects.get(conversation=conversation, user=carol)
    services.update_member(actor=user, member=carol_row, role="admin")
    services.remove_member(
        actor=user, member=ConversationMember.objects.get(conversation=conversation, user=user)
    )
    assert ConversationMember.objects.get(conversation=conversation, user=carol).role == "owner"


def test_member_sets_own_notifications_only(user, user_client):
    bob = UserFactory(network=user.network)
    conversation = group(user, bob)
    mine = ConversationMember.objects.get(conversation=conversation, user=user)
    bobs = ConversationMember.objects.get(conversation=conversation, user=bob)
    response = user_client.patch(
        f"/api/v1/conversation-members/{mine.pk}/", {"notify": "mentions", "muted_until": None}, format="json"
    )
    assert response.status_code == 200 and response.json()["notify"] == "mentions"
    assert (
        user_client.patch(
            f"/api/v1/conversation-members/{bobs.pk}/", {"notify": "none"}, format="json"
        ).status_code
        == 403
    )
    assert (
        user_client.patch(
            f"/api/v1/conversation-members/{bobs.pk}/", {"role": "admin"}, format="json"
        ).json()["role"]
        == "admin"
    )
    assert (
        user_client.patch(
            f"/api/v1/conversation-members/{bobs.pk}/", {"role": "owner"}, format="json"
        ).status_code
        == 400
    )


def test_group_member_limit(user, user_client, settings):
    settings.CHAT_GROUP_MAX_MEMBERS = 3
    people = [UserFactory(network=user.network) for _ in range(3)]
    response = user_client.post(
        "/api/v1/conversations/", {"kind": "group", "member_ids": [str(p.pk) for p in people]}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "too_many_members"
    conversation = group(user, people[0], people[1])
    url = f"/api/v1/conversations/{conversation.pk}/members/"
    response = user_client.post(url, {"user_ids": [str(people[2].pk)]}, format="json")
    assert response.status_code == 400
    assert conversation.members.filter(left_at__isnull=True).count() == 3


def test_direct_conversation_members_are_fixed(user, user_client):
    conversation = direct(user)
    url = f"/api/v1/conversations/{conversation.pk}/members/"
    response = user_client.post(url, {"user_ids": [str(UserFactory(network=user.network).pk)]}, format="json")
    assert response.status_code == 409
    mine = ConversationMember.objects.get(conversation=conversation, user=user)
    assert user_client.delete(f"/api/v1/conversation-members/{mine.pk}/").status_code == 409
