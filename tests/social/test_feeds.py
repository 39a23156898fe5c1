"""Feeds and search: who sees what, sorts from stored ranks, keyset pages, constant SQL counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.ids import uuid7_floor
from apps.social import services
from apps.social.models import Post
from apps.social.services.ranking import hot_rank, refresh_hot_ranks
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .conftest import aged
from .factories import BlockFactory, CommunityFactory, CommunityMemberFactory, FollowFactory, PostFactory

pytestmark = pytest.mark.django_db


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [p["id"] for p in response.json()["results"]]


def test_home_feed_is_followed_people_orgs_joined_and_followed_communities(user_client, user, network):
    followed, stranger = UserFactory(network=network), UserFactory(network=network)
    org = OrganizationFactory(network=network)
    joined, followed_community, elsewhere = (CommunityFactory(network=network) for _ in range(3))
    FollowFactory(follower=user, followee_user=followed)
    FollowFactory(follower=user, followee_organization=org)
    FollowFactory(follower=user, followee_community=followed_community)
    CommunityMemberFactory(community=joined, user=user)
    expected = [
        PostFactory(author=user),
        PostFactory(author=followed),
        PostFactory(author=stranger, owner_user=None, owner_organization=org),
        PostFactory(author=stranger, community=joined),
        PostFactory(author=stranger, community=followed_community),
    ]
    PostFactory(author=stranger)
    PostFactory(author=stranger, community=elsewhere)
    reply_by_followed = PostFactory(author=followed)
    PostFactory(author=followed, reply_to=reply_by_followed, thread_root=reply_by_followed)
    expected.append(reply_by_followed)
    assert _ids(user_client.get("/api/v1/feed/")) == [str(p.pk) for p in reversed(expected)]


def test_blocked_authors_leave_the_blockers_feeds(user_client, user, network):
    rude = UserFactory(network=network)
    FollowFactory(follower=user, followee_user=rude)
    post = PostFactory(author=rude)
    assert _ids(user_client.get("/api/v1/feed/")) == [str(post.pk)]
    BlockFactory(blocker=user, blocked=rude)
    assert _ids(user_client.get("/api/v1/feed/")) == []
    assert str(post.pk) not in _ids(user_client.get("/api/v1/posts/"))


def test_private_community_posts_are_only_for_members(user_client, user, network, make_client):
    private = CommunityFactory(network=network, visibility="private")
    secret = PostFactory(author=private.owner_user, community=private)
    assert str(secret.pk) not in _ids(user_client.get("/api/v1/posts/"))
    assert user_client.get(f"/api/v1/posts/{secret.pk}/").status_code == 404
    assert not _ids(user_client.get(f"/api/v1/posts/?q={secret.body.split()[0]}"))
    CommunityMemberFactory(community=private, user=user)
    assert str(secret.pk) in _ids(user_client.get("/api/v1/posts/"))
    assert _ids(user_client.get(f"/api/v1/posts/?community={private.pk}")) == [str(secret.pk)]


def test_followers_only_posts_need_a_follow(user_client, user, network):
    author = UserFactory(network=network)
    post = PostFactory(author=author, visibility="followers")
    assert user_client.get(f"/api/v1/posts/{post.pk}/").status_code == 404
    FollowFactory(follower=user, followee_user=author)
    assert user_client.get(f"/api/v1/posts/{post.pk}/").status_code == 200


def test_hot_sort_reads_the_stored_rank_kept_current_by_reactions(user_client, user, network):
    community = CommunityFactory(network=network)
    quiet = services.create_post(actor=user, body="quiet", community=community)
    loud = services.create_post(actor=user, body="loud", community=community)
    fans = [aged(UserFactory(network=network)) for _ in range(3)]
    for fan in fans:
        services.add_reaction(actor=fan, post=quiet, kind="like")
    quiet.refresh_from_db()
    assert quiet.score == 3 and quiet.hot_rank > loud.hot_rank
    url = f"/api/v1/posts/?community={community.pk}"
    assert _ids(user_client.get(url + "&sort=hot")) == [str(quiet.pk), str(loud.pk)]
    assert _ids(user_client.get(url + "&sort=new")) == [str(loud.pk), str(quiet.pk)]
    assert _ids(user_client.get(url + "&sort=top&t=day")) == [str(quiet.pk), str(loud.pk)]


def test_hot_rank_follows_lemmys_formula_and_the_job_decays_it(user):
    assert hot_rank(score=0, age_hours=0) == pytest.approx(0.4771 / 2**1.8, rel=1e-3)
    assert hot_rank(score=7, age_hours=10) == pytest.approx(1 / 12**1.8, rel=1e-6)
    post = services.create_post(actor=user, body="aging")
    old = PostFactory(author=user, hot_rank=0.5)
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(hours=10), score=7)
    # an old row: its id says it was created 8 days ago
    old_id = uuid7_floor(timezone.now() - timedelta(days=8))
    Post.objects.filter(pk=old.pk).update(id=old_id, created_at=timezone.now() - timedelta(days=8))
    result = refresh_hot_ranks()
    post.refresh_from_db()
    assert post.hot_rank == pytest.approx(1 / 12**1.8, rel=1e-3)
    assert Post.objects.get(pk=old_id).hot_rank == 0
    assert result["aged_out"] >= 1


def test_top_window_is_a_time_range(user_client, user):
    old = PostFactory(author=user, score=50)
    old_id = uuid7_floor(timezone.now() - timedelta(days=3))
    Post.objects.filter(pk=old.pk).update(id=old_id)
    fresh = PostFactory(author=user, score=1)
    assert _ids(user_client.get(f"/api/v1/posts/?author={user.pk}&sort=top&t=day")) == [str(fresh.pk)]
    assert _ids(user_client.get(f"/api/v1/posts/?author={user.pk}&sort=top&t=week")) == [
        str(old_id),
        str(fresh.pk),
    ]


def test_keyset_pages_walk_every_post_once(user_client, user):
    posts = [PostFactory(author=user, hot_rank=(i % 3) / 10) for i in range(7)]
    for sort in ("new", "hot"):
        seen, url = [], f"/api/v1/posts/?author={user.pk}&sort={sort}&page_size=3"
        while url:
            body = user_client.get(url).json()
            seen += [p["id"] for p in body["results"]]
            url = body["next"]
        assert sorted(seen) == sorted(str(p.pk) for p in posts) and len(seen) == 7


def test_bad_cursor_is_a_404_not_a_500(user_client):
    assert user_client.get("/api/v1/posts/?cursor=notbase64!!").status_code == 404


def test_tag_feed_and_search(user_client, user):
    tagged = services.create_post(actor=user, body="PostgreSQL full text search is neat", tags=["Databases"])
    services.create_post(actor=user, body="something about gardening")
    assert _ids(user_client.get("/api/v1/tags/databases/posts/")) == [str(tagged.pk)]
    assert _ids(user_client.get("/api/v1/posts/?tag=databases")) == [str(tagged.pk)]
    assert _ids(user_client.get("/api/v1/posts/?q=searching postgresql")) == [str(tagged.pk)]
    assert user_client.get("/api/v1/tags/").json()["results"][0]["slug"] == "databases"
    assert user_client.get("/api/v1/tags/nope/posts/").status_code == 404


def test_search_ranks_better_matches_first(user_client, user):
    weak = services.create_post(
        actor=user, body="a note on django among other things entirely unrelated here"
    )
    strong = services.create_post(actor=user, body="django django django")
    assert _ids(user_client.get("/api/v1/posts/?q=django")) == [str(strong.pk), str(weak.pk)]


# --- constant SQL counts at two page sizes ------------------------------------------------------


def _fill(user, network, n=24):
    community = CommunityFactory(network=network)
    CommunityMemberFactory(community=community, user=user)
    authors = [UserFactory(network=network) for _ in range(4)]
    for author in authors:
        FollowFactory(follower=user, followee_user=author)
    root = PostFactory(author=authors[0], community=community)
    for i in range(n):
        # the first author writes most of them: the author feed fills a page of 20 too
        post = services.create_post(
            actor=aged(authors[i]) if i < 4 else authors[0],
            body=f"searchable words number {i}",
            community=community,
            tags=["common", f"t{i % 3}"],
        )
        services.add_reaction(actor=user, post=post, kind="like")
        PostFactory(author=authors[i % 4], community=community, reply_to=root, thread_root=root)
    return community, root


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/feed/?sort=new",
        "/api/v1/feed/?sort=hot",
        "/api/v1/posts/?community={community}",
        "/api/v1/posts/?community={community}&sort=hot",
        "/api/v1/posts/?community={community}&sort=top&t=week",
        "/api/v1/posts/?author={author}",
        "/api/v1/tags/common/posts/",
        "/api/v1/posts/{root}/thread/",
        "/api/v1/posts/?q=searchable",
        "/api/v1/posts/",
    ],
)
def test_feeds_run_the_same_number_of_queries_at_any_page_size(
    path, user_client, user, network, django_assert_max_num_queries, settings
):
    network.settings = {"rate_limits": {"posts": "1000/h"}}
    network.save()
    community, root = _fill(user, network)
    url = path.format(community=community.pk, author=root.author_id, root=root.pk)
    sep = "&" if "?" in url else "?"
    user_client.get(url + f"{sep}page_size=2")  # warm the session
    counts = []
    for size in (5, 20):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            response = user_client.get(url + f"{sep}page_size={size}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        user_client.get(url + f"{sep}page_size=20")
