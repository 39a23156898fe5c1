"""Communities and members, reactions, follows, blocks, reports and the moderation log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.inbox.models import InboxItem
from apps.social import services
from apps.social.models import CommunityMember, Follow, ModerationLogEntry, Post, PostReaction, Report
from tests.accounts.factories import UserFactory

from .conftest import aged
from .factories import BlockFactory, CommunityFactory, CommunityMemberFactory, FollowFactory, PostFactory

pytestmark = pytest.mark.django_db


def _owned(user, network, **extra):
    community = CommunityFactory(network=network, owner_user=user, **extra)
    CommunityMemberFactory(community=community, user=user, role="owner")
    return community


# --- communities ----------------------------------------------------------------------------


def test_a_restricted_community_takes_join_requests_that_moderators_approve(
    user_client, user, alice, network, make_client, django_capture_on_commit_callbacks
):
    community = _owned(user, network, visibility="restricted")
    alice_client = make_client(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/api/v1/communities/{community.pk}/join/", {"note": "hi"}, format="json"
        )
    assert response.status_code == 200 and response.json()["status"] == "pending"
    item = InboxItem.objects.get(kind="community_join_request")
    assert item.recipient_id == user.pk
    # alice cannot post yet; the owner approves
    assert (
        alice_client.post("/api/v1/posts/", {"body": "x", "community": str(community.pk)}).status_code == 403
    )
    pending = user_client.get(f"/api/v1/communities/{community.pk}/members/?status=pending").json()["results"]
    assert [m["user"]["id"] for m in pending] == [str(alice.pk)]
    member_id = pending[0]["id"]
    assert alice_client.post(f"/api/v1/community-members/{member_id}/approve/").status_code in (403, 404)
    approved = user_client.post(f"/api/v1/community-members/{member_id}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    community.refresh_from_db()
    assert community.member_count >= 1
    assert ModerationLogEntry.objects.filter(action="member.approve").exists()
    created = alice_client.post(
        "/api/v1/posts/", {"body": "x", "community": str(community.pk)}, format="json"
    )
    assert created.status_code == 201


def test_a_private_community_is_a_404_to_outsiders_everywhere(user, alice, network, make_client):
    community = _owned(user, network, visibility="private")
    outsider = make_client(alice)
    for url in (
        f"/api/v1/communities/{community.pk}/",
        f"/api/v1/communities/{community.pk}/members/",
        f"/api/v1/posts/?community={community.pk}",
    ):
        assert outsider.get(url).status_code == 404, url
    assert outsider.post(f"/api/v1/communities/{community.pk}/join/").status_code == 404
    assert str(community.pk) not in str(outsider.get("/api/v1/communities/").json())


def test_ban_with_expiry_then_unban_is_logged(user_client, user, alice, network, make_client):
    community = _owned(user, network)
    services.join_community(actor=alice, community=community)
    until = (timezone.now() + timedelta(days=3)).isoformat()
    response = user_client.post(
        f"/api/v1/communities/{community.pk}/bans/",
        {"user": str(alice.pk), "reason": "spam", "until": until},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "banned"
    alice_client = make_client(alice)
    assert (
        alice_client.post("/api/v1/posts/", {"body": "x", "community": str(community.pk)}).status_code == 403
    )
    assert alice_client.post(f"/api/v1/communities/{community.pk}/join/").status_code == 403
    entry = ModerationLogEntry.objects.get(action="member.ban")
    assert (entry.reason, entry.target_user_id, entry.expires_at is not None) == ("spam", alice.pk, True)
    assert AuditEvent.objects.filter(action="mod.member.ban").exists()
    member_id = response.json()["id"]
    assert (
        user_client.post(f"/api/v1/community-members/{member_id}/unban/", {"reason": "ok"}).status_code == 204
    )
    assert ModerationLogEntry.objects.filter(action="member.unban").exists()
    assert alice_client.post(f"/api/v1/communities/{community.pk}/join/").status_code == 200


def test_a_ban_in_the_past_is_a_400(user_client, user, alice, network):
    community = _owned(user, network)
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = user_client.post(
        f"/api/v1/communities/{community.pk}/bans/", {"user": str(alice.pk), "until": past}, format="json"
    )
    assert response.status_code == 400
    assert "until" in str(response.json())
    assert not CommunityMember.objects.filter(user=alice, status="banned").exists()


def test_expired_bans_are_lifted_by_the_job(user, alice, network):
    community = _owned(user, network)
    services.ban_member(
        actor=user, community=community, user=alice, until=timezone.now() + timedelta(hours=1)
    )
    CommunityMember.objects.filter(user=alice).update(banned_until=timezone.now() - timedelta(minutes=1))
    from apps.social.tasks import expire_bans

    assert expire_bans() == 1
    assert not CommunityMember.objects.filter(user=alice, status="banned").exists()


def test_only_owners_change_roles(user_client, user, alice, bob, network, make_client):
    community = _owned(user, network)
    for person in (alice, bob):
        services.join_community(actor=person, community=community)
    alice_member = CommunityMember.objects.get(user=alice)
    bob_member = CommunityMember.objects.get(user=bob)
    response = user_client.patch(
        f"/api/v1/community-members/{alice_member.pk}/", {"role": "moderator"}, format="json"
    )
    assert response.status_code == 200 and response.json()["role"] == "moderator"
    # a moderator may not promote others
    denied = make_client(alice).patch(
        f"/api/v1/community-members/{bob_member.pk}/", {"role": "moderator"}, format="json"
    )
    assert denied.status_code == 403
    assert (
        user_client.patch(
            f"/api/v1/community-members/{bob_member.pk}/", {"role": "owner"}, format="json"
        ).status_code
        == 400
    )


# --- reactions ----------------------------------------------------------------------------


def test_reactions_are_idempotent_toggles_counted_on_the_post(
    user_client, user, alice, django_capture_on_commit_callbacks
):
    post = PostFactory(author=alice)
    url = f"/api/v1/posts/{post.pk}/reactions/"
    with django_capture_on_commit_callbacks(execute=True):
        first = user_client.post(url, {"kind": "like"}, format="json").json()
        second = user_client.post(url, {"kind": "like"}, format="json").json()
        user_client.post(url, {"kind": "love"}, format="json")
    assert (first["changed"], second["changed"]) == (True, False)
    post.refresh_from_db()
    assert post.reaction_counts == {"like": 1, "love": 1} and post.score == 2
    assert InboxItem.objects.filter(kind="reaction", recipient=alice).exists()
    removed = user_client.delete(f"{url}like/").json()
    again = user_client.delete(f"{url}like/").json()
    assert (removed["changed"], again["changed"]) == (True, False)
    post.refresh_from_db()
    assert post.reaction_counts == {"like": 0, "love": 1} and post.score == 1


def test_a_reaction_kind_outside_the_set_is_a_400_and_nothing_is_stored(user_client, alice):
    post = PostFactory(author=alice)
    assert user_client.post(f"/api/v1/posts/{post.pk}/reactions/", {"kind": "angry"}).status_code == 400
    assert user_client.delete(f"/api/v1/posts/{post.pk}/reactions/angry/").status_code == 400
    assert not PostReaction.objects.exists()


def test_concurrent_style_reactions_never_lose_a_count(user, network):
    post = PostFactory(author=user)
    people = [aged(UserFactory(network=network)) for _ in range(5)]
    for person in people:
        services.add_reaction(actor=person, post=post, kind="insightful")
    stale = Post.objects.get(pk=post.pk)  # a copy read before the next write
    services.add_reaction(actor=user, post=stale, kind="insightful")
    post.refresh_from_db()
    assert post.reaction_counts["insightful"] == 6 and post.score == 6


# --- follows and blocks ----------------------------------------------------------------------


def test_follow_notifies_is_idempotent_and_never_yourself(
    user_client, user, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = user_client.post("/api/v1/follows/", {"followee_user": str(alice.pk)}, format="json")
    again = user_client.post("/api/v1/follows/", {"followee_user": str(alice.pk)}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert InboxItem.objects.filter(kind="follow", recipient=alice).count() == 1
    self_follow = user_client.post("/api/v1/follows/", {"followee_user": str(user.pk)}, format="json")
    assert self_follow.status_code == 400
    both = user_client.post(
        "/api/v1/follows/", {"followee_user": str(alice.pk), "followee_community": None}, format="json"
    )
    assert both.status_code in (200, 400)
    assert Follow.objects.count() == 1
    followers = user_client.get(f"/api/v1/users/{alice.pk}/followers/").json()["results"]
    assert [f["follower"]["id"] for f in followers] == [str(user.pk)]
    assert user_client.delete(f"/api/v1/follows/{first.json()['id']}/").status_code == 204
    assert Follow.objects.count() == 0


def test_a_block_stops_follows_replies_and_mention_notices(
    user, alice, make_client, django_capture_on_commit_callbacks
):
    FollowFactory(follower=alice, followee_user=user)
    response = make_client(user).post("/api/v1/blocks/", {"blocked": str(alice.pk)}, format="json")
    assert response.status_code == 201
    assert not Follow.objects.exists()  # the follows between them went
    alice_client = make_client(alice)
    assert (
        alice_client.post("/api/v1/follows/", {"followee_user": str(user.pk)}, format="json").status_code
        == 403
    )
    post = PostFactory(author=user)
    assert (
        alice_client.post(f"/api/v1/posts/{post.pk}/replies/", {"body": "hey"}, format="json").status_code
        == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post("/api/v1/posts/", {"body": f"hello @{user.handle}"}, format="json")
    assert not InboxItem.objects.filter(recipient=user, kind="mention").exists()
    assert make_client(user).get("/api/v1/blocks/").json()["results"][0]["blocked"]["id"] == str(alice.pk)


# --- reports and moderation ---------------------------------------------------------------------


def test_reports_form_a_queue_that_moderators_resolve_with_an_action(user, alice, bob, network, make_client):
    community = _owned(user, network)
    post = PostFactory(author=alice, community=community)
    bob_client = make_client(bob)
    filed = bob_client.post("/api/v1/reports/", {"post": str(post.pk), "reason": "spam"}, format="json")
    assert filed.status_code == 201
    again = bob_client.post("/api/v1/reports/", {"post": str(post.pk), "reason": "spam"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == filed.json()["id"]
    assert bob_client.get("/api/v1/reports/").json()["results"] == []  # not a moderator: no queue
    owner = make_client(user)
    queue = owner.get(f"/api/v1/reports/?community={community.pk}").json()["results"]
    assert [r["id"] for r in queue] == [filed.json()["id"]]
    report_id = filed.json()["id"]
    assert bob_client.post(f"/api/v1/reports/{report_id}/resolve/", {"status": "actioned"}).status_code == 404
    resolved = owner.post(
        f"/api/v1/reports/{report_id}/resolve/", {"status": "actioned", "action": "hide"}, format="json"
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "actioned"
    post.refresh_from_db()
    assert post.status == "hidden"
    again = owner.post(f"/api/v1/reports/{report_id}/resolve/", {"status": "dismissed"}, format="json")
    assert again.status_code == 409
    actions = set(ModerationLogEntry.objects.values_list("action", flat=True))
    assert {"post.hide", "report.actioned"} <= actions


def test_reporting_yourself_or_a_bad_reason_is_a_400(user_client, user):
    assert (
        user_client.post("/api/v1/reports/", {"reported_user": str(user.pk), "reason": "spam"}).status_code
        == 400
    )
    other = UserFactory(network=user.network)
    assert (
        user_client.post("/api/v1/reports/", {"reported_user": str(other.pk), "reason": "meh"}).status_code
        == 400
    )
    assert not Report.objects.exists()


def test_moderators_hide_lock_pin_and_the_log_filters_by_community_moderator_and_target(
    user, alice, moderator, network, make_client
):
    community = _owned(user, network)
    other = _owned(alice, network)
    post = PostFactory(author=alice, community=community)
    elsewhere = PostFactory(author=user, community=other)
    owner = make_client(user)
    for verb in ("hide", "unhide", "lock", "pin"):
        response = owner.post(f"/api/v1/posts/{post.pk}/{verb}/", {"reason": f"{verb} it"}, format="json")
        assert response.status_code == 200, (verb, response.json())
    assert make_client(alice).post(f"/api/v1/posts/{post.pk}/lock/").status_code == 403
    make_client(moderator).post(f"/api/v1/posts/{elsewhere.pk}/hide/", {"reason": "net mod"}, format="json")
    log = owner.get(f"/api/v1/moderation-log/?community={community.pk}").json()["results"]
    assert [e["action"] for e in log] == ["post.pin", "post.lock", "post.unhide", "post.hide"]
    assert log[-1]["reason"] == "hide it" and log[-1]["moderator"]["id"] == str(user.pk)
    # the owner of one community does not read another's log; a network moderator reads all
    assert owner.get(f"/api/v1/moderation-log/?community={other.pk}").json()["results"] == []
    mod_log = (
        make_client(moderator).get(f"/api/v1/moderation-log/?moderator={moderator.pk}").json()["results"]
    )
    assert [e["target_id"] for e in mod_log] == [str(elsewhere.pk)]
    by_target = make_client(moderator).get(f"/api/v1/moderation-log/?target_type=post&target_id={post.pk}")
    assert len(by_target.json()["results"]) == 4


def test_hidden_posts_leave_feeds_and_keep_their_body_for_author_and_moderators(
    user, alice, bob, network, make_client
):
    community = _owned(user, network)
    post = services.create_post(actor=alice, body="questionable", community=community)
    services.hide_post(actor=user, post=post, reason="off topic")
    assert make_client(bob).get(f"/api/v1/posts/{post.pk}/").json()["body"] == ""
    assert make_client(alice).get(f"/api/v1/posts/{post.pk}/").json()["body"] == "questionable"
    assert make_client(user).get(f"/api/v1/posts/{post.pk}/").json()["body"] == "questionable"
    feed = make_client(bob).get(f"/api/v1/posts/?community={community.pk}").json()["results"]
    assert feed == []


# --- constant SQL on the other lists ------------------------------------------------------------


def _two_sizes(client, url):
    sep = "&" if "?" in url else "?"
    client.get(url + f"{sep}page_size=1")
    counts = []
    for size in (3, 8):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url + f"{sep}page_size={size}")
        assert response.status_code == 200, response.content
        assert len(response.json()["results"]) == size, url
        counts.append(len(ctx.captured_queries))
    return counts


def test_other_social_lists_run_the_same_number_of_queries_at_any_page_size(user, network, make_client):
    client = make_client(user)
    community = _owned(user, network)
    people = [aged(UserFactory(network=network)) for _ in range(9)]
    for index, person in enumerate(people):
        services.join_community(actor=person, community=community)
        services.follow(actor=user, user=person)
        services.follow(actor=person, user=user)
        BlockFactory(blocker=user, blocked=UserFactory(network=network))
        post = PostFactory(author=person, community=community)
        services.file_report(actor=user, post=post, reason="spam")
        services.hide_post(actor=user, post=post, reason=f"r{index}")
        services.create_post(actor=person, body="x", community=community, tags=[f"tag{index}"])
        CommunityFactory(network=network)
    for url in (
        "/api/v1/communities/",
        f"/api/v1/communities/{community.pk}/members/",
        "/api/v1/follows/",
        f"/api/v1/users/{user.pk}/followers/",
        f"/api/v1/users/{user.pk}/following/",
        "/api/v1/blocks/",
        "/api/v1/reports/",
        "/api/v1/moderation-log/",
        "/api/v1/tags/",
    ):
        counts = _two_sizes(client, url)
        assert counts[0] == counts[1], (url, counts)
