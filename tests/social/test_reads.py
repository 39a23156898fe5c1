"""The lean read path of the post lists (apps/social/reads.py): its JSON equals the serializer's,
the viewer's cached graph follows every write, one statement per page at any page size, bounded
search ranking."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from apps.core import uploads
from apps.social import reads, services
from apps.social.api.posts import moderation_scope
from apps.social.api.serializers import PostSerializer
from apps.social.models import Block, CommunityMember, Follow, Post
from apps.social.selectors import with_post_relations
from tests.accounts.factories import UserFactory
from tests.core.uploads_helpers import png
from tests.organizations.factories import OrganizationFactory

from .conftest import aged
from .factories import CommunityFactory, CommunityMemberFactory, FollowFactory, PostFactory

pytestmark = pytest.mark.django_db


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


def _ids(response) -> list[str]:
    return [p["id"] for p in _results(response)]


# --- the JSON PostgreSQL writes is the serializer's ----------------------------------------------


def test_every_list_renders_what_the_post_serializer_renders(user, alice, moderator, network, make_client):
    community = CommunityFactory(network=network, owner_user=alice)
    mod_of_community = aged(UserFactory(network=network))
    CommunityMemberFactory(community=community, user=mod_of_community, role="moderator")
    org = OrganizationFactory(network=network, owner=user)
    upload = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(png()), filename="a.png")
    root = services.create_post(
        actor=user, body=f"hi @{alice.handle} **bold** ünïcode \u2028 \"quotes\" <tags>", community=community,
        tags=["b", "a"], media=[{"upload": upload, "alt_text": "pic"}], visibility="public",
    )  # fmt: skip
    services.create_post(actor=alice, body="a reply", reply_to=root)
    for kind in ("wow", "like"):
        services.add_reaction(actor=user, post=root, kind=kind)
    hidden = services.create_post(actor=alice, body="to hide", reply_to=root)
    services.hide_post(actor=moderator, post=hidden, reason="x")
    gone = services.create_post(actor=alice, body="to delete", reply_to=root)
    services.delete_post(actor=alice, post=gone)
    services.create_post(actor=user, body="as the org", as_organization=org)
    services.edit_post(actor=user, post=root, body="edited *again*")
    services.lock_thread(actor=moderator, post=root)
    services.pin_post(actor=moderator, post=root)
    Post.objects.filter(pk=root.pk).update(created_at=root.created_at.replace(microsecond=0))

    def expected(viewer) -> dict[str, dict]:
        request = RequestFactory().get("/")
        request.user = viewer
        scope = moderation_scope(viewer)
        out = {}
        for post in with_post_relations(Post.objects.filter(network=network), viewer=viewer):
            data = PostSerializer(post, context={"request": request, "moderated": scope}).data
            out[str(post.pk)] = json.loads(JSONRenderer().render(data))
        return out

    for viewer in (user, alice, moderator, mod_of_community):
        client = make_client(viewer)
        want = expected(viewer)
        got = _results(client.get("/api/v1/posts/?page_size=50"))
        got += _results(client.get(f"/api/v1/posts/{root.pk}/thread/"))
        assert len(got) == 5
        for post in got:
            assert post == want[post["id"]], (viewer.handle, post["id"])
        shown = {p["id"]: p["body"] for p in got}
        assert bool(shown[str(hidden.pk)]) == (viewer in (alice, moderator, mod_of_community))
        assert next(p for p in got if p["id"] == str(root.pk))["media"][0][
            "url"
        ]  # the storage's, from Python
    anonymous = _results(APIClient().get("/api/v1/posts/"))
    assert [p["id"] for p in anonymous] == [str(root.pk)] and anonymous[0]["my_reactions"] == []


# --- the viewer's graph: cached, and stale after no write -----------------------------------------


def _cached(user) -> reads.Graph:
    first = reads.viewer_graph(user)
    assert reads.viewer_graph(user) == first == reads.load_graph(user.pk)
    return first


def test_the_graph_is_read_from_redis_until_a_write_replaces_its_token(user, network):
    other = UserFactory(network=network)
    assert _cached(user).users == []
    with CaptureQueriesContext(connection) as ctx:
        reads.viewer_graph(user)
    assert len(ctx.captured_queries) == 0  # a hit: Redis only
    # a write that bypasses the ORM's signals is not seen: the graph really is cached ...
    Follow.objects.bulk_create([Follow(network=network, follower=user, followee_user=other)])
    assert reads.viewer_graph(user).users == []
    # ... and any ORM write of the user's rows replaces the token
    Follow.objects.filter(follower=user).first().save()
    assert reads.viewer_graph(user).users == [str(other.pk)]


def test_every_service_that_changes_follows_memberships_or_blocks_invalidates(user, alice, bob, network):
    org = OrganizationFactory(network=network)
    public = CommunityFactory(network=network, owner_user=alice)
    restricted = CommunityFactory(network=network, owner_user=alice, visibility="restricted")
    CommunityMemberFactory(community=restricted, user=alice, role="owner")

    def graph():
        got = reads.viewer_graph(user)
        assert got == reads.load_graph(user.pk)  # never stale
        return got

    graph()
    row, _ = services.follow(actor=user, user=bob)
    assert graph().users == [str(bob.pk)]
    services.follow(actor=user, organization=org)
    assert graph().organizations == [str(org.pk)]
    services.follow(actor=user, community=public)
    assert graph().communities == [str(public.pk)]
    services.unfollow(actor=user, follow=row)
    assert graph().users == []
    services.join_community(actor=user, community=public)
    assert graph().joined == [str(public.pk)]
    services.leave_community(actor=user, community=public)
    assert graph().joined == []
    pending = services.join_community(actor=user, community=restricted)
    assert graph().joined == []
    services.approve_member(actor=alice, member=pending)
    assert graph().joined == [str(restricted.pk)]
    member = CommunityMember.objects.get(community=restricted, user=user)
    services.set_member_role(actor=alice, member=member, role="moderator")
    assert graph().moderated == [str(restricted.pk)]
    services.ban_member(actor=alice, community=restricted, user=user, reason="x")
    assert graph().joined == [] and graph().moderated == []
    services.unban_member(actor=alice, community=restricted, user=user)
    services.add_member(actor=alice, community=restricted, user=user)
    assert graph().joined == [str(restricted.pk)]
    services.remove_member(actor=alice, member=CommunityMember.objects.get(community=restricted, user=user))
    assert graph().joined == []
    block, _ = services.block_user(actor=user, user=bob)
    assert graph().blocked == [str(bob.pk)]
    services.unblock_user(actor=user, block=block)
    assert graph().blocked == []
    assert not Block.objects.filter(blocker=user).exists()


def test_an_expired_ban_lifted_by_the_job_invalidates(user, alice, network):
    from datetime import timedelta

    from django.utils import timezone

    community = CommunityFactory(network=network, owner_user=alice, visibility="private")
    CommunityMemberFactory(community=community, user=user)
    services.ban_member(
        actor=alice, community=community, user=user, until=timezone.now() + timedelta(hours=1)
    )
    assert reads.viewer_graph(user).joined == []
    CommunityMember.objects.filter(community=community, user=user).update(
        banned_until=timezone.now() - timedelta(minutes=1)
    )
    assert services.expire_bans() == 1
    assert reads.viewer_graph(user) == reads.load_graph(user.pk)


def test_feeds_follow_api_writes_at_once(user_client, user, network):
    author = UserFactory(network=network)
    post = PostFactory(author=author)
    assert _ids(user_client.get("/api/v1/feed/")) == []  # the graph is cached now
    assert user_client.post(
        "/api/v1/follows/", {"followee_user": str(author.pk)}, format="json"
    ).status_code in (
        200,
        201,
    )
    assert _ids(user_client.get("/api/v1/feed/")) == [str(post.pk)]
    assert user_client.post("/api/v1/blocks/", {"blocked": str(author.pk)}, format="json").status_code in (
        200,
        201,
    )
    assert _ids(user_client.get("/api/v1/feed/")) == []
    assert str(post.pk) not in _ids(user_client.get("/api/v1/posts/"))


# --- one statement per page, at any page size -----------------------------------------------------


def _fill(user, network, n=24):
    community = CommunityFactory(network=network)
    CommunityMemberFactory(community=community, user=user)
    authors = [UserFactory(network=network) for _ in range(3)]
    for author in authors:
        FollowFactory(follower=user, followee_user=author)
    root = PostFactory(author=authors[0], community=community)
    for i in range(n):
        PostFactory(author=authors[i % 3], community=community, body=f"findable words {i}")
        PostFactory(author=authors[i % 3], community=community, reply_to=root, thread_root=root)
    return community, root


@pytest.mark.parametrize(
    ("path", "statements"),
    [
        ("/api/v1/feed/?sort=new", 1),
        ("/api/v1/feed/?sort=hot", 1),
        ("/api/v1/posts/?community={community}", 2),  # + the community's lookup
        ("/api/v1/posts/{root}/thread/", 1),  # the root is found by a subquery of the page
        ("/api/v1/posts/?q=findable", 1),
        ("/api/v1/posts/", 1),
    ],
)
def test_a_page_is_one_statement_at_any_size(path, statements, user_client, user, network):
    community, root = _fill(user, network)
    url = path.format(community=community.pk, root=root.pk)
    sep = "&" if "?" in url else "?"
    user_client.get(url + f"{sep}page_size=2")  # warm the session
    reads.forget_graph(user.pk)
    with CaptureQueriesContext(connection) as cold:
        user_client.get(url + f"{sep}page_size=2")
    assert len(cold.captured_queries) == statements + 1  # + the viewer's graph, once
    for size in (5, 20):
        with CaptureQueriesContext(connection) as ctx:
            response = user_client.get(url + f"{sep}page_size={size}")
        assert len(_results(response)) == size
        assert len(ctx.captured_queries) == statements, [q["sql"][:80] for q in ctx.captured_queries]


# --- search: ranked among the newest visible matches ----------------------------------------------


def test_search_ranks_the_newest_visible_matches(user_client, user, network, monkeypatch):
    private = CommunityFactory(network=network, visibility="private")
    weak = [
        services.create_post(actor=user, body=f"zebra and {i} more words of filler here") for i in range(3)
    ]
    strong = services.create_post(actor=user, body="zebra zebra zebra")
    newest = services.create_post(actor=user, body="zebra once, then nothing else at all here")
    for _ in range(3):  # newer matches the viewer may not see take no candidate's place
        PostFactory(author=private.owner_user, community=private, body="zebra zebra zebra zebra")
    assert _ids(user_client.get("/api/v1/posts/?q=zebra"))[0] == str(strong.pk)
    monkeypatch.setattr(reads, "SEARCH_CANDIDATES", 3)
    found = _ids(user_client.get("/api/v1/posts/?q=zebra"))
    assert found[0] == str(strong.pk) and set(found) == {str(strong.pk), str(newest.pk), str(weak[2].pk)}


def test_search_finds_the_same_candidates_in_the_newest_window_or_through_the_index(
    user_client, user, monkeypatch
):
    matches = []
    for i in range(6):
        matches.append(services.create_post(actor=user, body=f"zebra {'zebra ' * (i % 3)}post {i}"))
        services.create_post(actor=user, body=f"nothing to see {i}")  # newer posts that do not match
    monkeypatch.setattr(reads, "SEARCH_CANDIDATES", 3)
    pages = {}
    for window in (1000, 4):  # 3 matches among the newest 1000 posts; fewer among the newest 4: the index
        monkeypatch.setattr(reads, "SEARCH_WINDOW", window)
        pages[window] = _ids(user_client.get("/api/v1/posts/?q=zebra"))
    assert pages[1000] == pages[4]
    assert set(pages[4]) == {str(p.pk) for p in matches[-3:]}  # the newest three matches, ranked
    assert pages[4][0] == str(matches[-1].pk)  # "zebra zebra zebra" ranks first


def test_search_pages_walk_equal_ranks_once(user_client, user):
    posts = [services.create_post(actor=user, body="same words every time") for _ in range(5)]
    seen, url = [], "/api/v1/posts/?q=words&page_size=2"
    while url:
        body = user_client.get(url).json()
        seen += [p["id"] for p in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(p.pk) for p in posts)


def test_a_cursor_with_a_key_of_the_wrong_type_is_a_404(user_client, user):
    PostFactory(author=user)
    cursor = base64.urlsafe_b64encode(json.dumps(["x", str(user.pk)]).encode()).decode().rstrip("=")
    assert user_client.get(f"/api/v1/feed/?sort=hot&cursor={cursor}").status_code == 404
    assert user_client.get(f"/api/v1/posts/?q=x&cursor={cursor}").status_code == 404


# --- the organization policy applies to every list -------------------------------------------------


def test_lists_leave_out_an_org_whose_policy_refuses(user_client, user, network):
    from apps.accounts.selectors import forget_security_state
    from apps.organizations.models import OrganizationSecurityPolicy

    org = OrganizationFactory(network=network, owner=user)
    community = CommunityFactory(network=network, owner_user=None, owner_organization=org)
    CommunityMemberFactory(community=community, user=user)
    inside = PostFactory(author=user, community=community, body="policy words")
    outside = PostFactory(author=user, body="policy words")
    reply = PostFactory(author=user, community=community, reply_to=inside, thread_root=inside)
    assert set(_ids(user_client.get("/api/v1/posts/?q=policy"))) == {str(inside.pk), str(outside.pk)}
    assert _ids(user_client.get(f"/api/v1/posts/{inside.pk}/thread/")) == [str(reply.pk)]
    OrganizationSecurityPolicy.objects.filter(organization=org).update(ip_allowlist=["10.0.0.0/8"])
    forget_security_state(user.pk)
    for url in (
        "/api/v1/posts/?q=policy",
        "/api/v1/feed/",
        "/api/v1/posts/",
        f"/api/v1/posts/?author={user.pk}",
    ):
        assert _ids(user_client.get(url)) == [str(outside.pk)], url
    assert _ids(user_client.get(f"/api/v1/posts/?community={community.pk}")) == []
    assert user_client.get(f"/api/v1/posts/{inside.pk}/thread/").status_code in (403, 404)


def test_a_thread_is_found_from_any_of_its_posts_and_a_hidden_post_has_no_thread(
    make_client, user, alice, network
):
    private = CommunityFactory(network=network, owner_user=alice, visibility="private")
    CommunityMemberFactory(community=private, user=alice, role="owner")
    root = PostFactory(author=alice)
    first = PostFactory(author=alice, reply_to=root, thread_root=root)
    second = PostFactory(author=user, reply_to=first, thread_root=root)
    lonely = PostFactory(author=alice)
    secret = PostFactory(author=alice, community=private)
    PostFactory(author=alice, community=private, reply_to=secret, thread_root=secret)
    client = make_client(user)
    whole = [str(first.pk), str(second.pk)]
    assert _ids(client.get(f"/api/v1/posts/{root.pk}/thread/")) == whole
    assert _ids(client.get(f"/api/v1/posts/{second.pk}/thread/")) == whole  # from a reply: its root's thread
    assert _ids(client.get(f"/api/v1/posts/{lonely.pk}/thread/")) == []  # no replies: an empty page, 200
    for post in (secret, PostFactory(), None):  # a private community's post; another network's; none at all
        response = client.get(
            f"/api/v1/posts/{post.pk if post else '0193d2c4-0000-7000-8000-000000000000'}/thread/"
        )
        assert response.status_code == 404, response.content[:200]
    assert len(_ids(make_client(alice).get(f"/api/v1/posts/{secret.pk}/thread/"))) == 1


def test_the_planner_knows_a_community_determines_its_network():
    """A feed filters by community and by network; with the dependency statistics the estimate of
    both together is the estimate of the community alone (not their product), so the feed walks
    the community's ordered index instead of AND-ing bitmaps (see migration 0004)."""
    first, second = CommunityFactory(), CommunityFactory()
    for community in (first, second):
        for _ in range(3):
            author = UserFactory(network=community.network)
            PostFactory.create_batch(120, author=author, community=community)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE social_post")
        cursor.execute(
            "SELECT dependencies IS NOT NULL FROM pg_stats_ext WHERE statistics_name = 'social_post_network_deps'"
        )
        assert cursor.fetchone() == (True,)

        def estimate(where: str, params: list) -> int:
            cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM social_post WHERE {where}", params)  # noqa: S608
            return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]

        alone = estimate("community_id = %s", [first.pk])
        both = estimate("community_id = %s AND network_id = %s", [first.pk, first.network_id])
    assert alone == both == 360
