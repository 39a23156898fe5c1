"""Share links: get-or-create for visible targets, the /s/ redirect, clicks, visitors, signups."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from apps.accounts.models import User
from apps.sharing import services
from apps.sharing.models import Share
from apps.sharing.tasks import sync_unique_visitors
from apps.sharing.views import read_attribution
from tests.accounts.factories import UserFactory
from tests.projects.factories import ProjectFactory
from tests.social.factories import CommunityFactory, CommunityMemberFactory, PostFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
PASSWORD = "a-long-and-unusual-passphrase"


def _share(client, target_type: str, target_id, **extra):
    return client.post(
        "/api/v1/shares/", {"target_type": target_type, "target_id": str(target_id), **extra}, format="json"
    )


def _click(client: Client, code: str, ua: str = BROWSER):
    return client.get(f"/s/{code}", HTTP_USER_AGENT=ua)


def test_sharing_a_post_is_get_or_create_per_channel(user_client, user):
    post = PostFactory(author=user)
    first = _share(user_client, "post", post.pk, channel="x")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["url"].endswith(f"/s/{body['code']}")
    assert body["target_url"].endswith(f"/posts/{post.pk}")
    assert (body["utm_source"], body["utm_medium"], body["utm_campaign"]) == ("x", "social", "share")
    again = _share(user_client, "post", post.pk, channel="x")
    assert again.status_code == 200 and again.json()["code"] == body["code"]
    other_channel = _share(user_client, "post", post.pk, channel="linkedin")
    assert other_channel.status_code == 201 and other_channel.json()["code"] != body["code"]
    assert Share.objects.count() == 2


def test_private_and_invisible_targets_are_refused_and_nothing_is_stored(user_client, user, network):
    private = CommunityFactory(network=network, visibility="private", owner_user=user)
    CommunityMemberFactory(community=private, user=user, role="owner")
    mine_private = PostFactory(author=user, community=private)
    response = _share(user_client, "post", mine_private.pk)
    assert response.status_code == 400 and response.json()["code"] == "target_private"
    response = _share(user_client, "community", private.pk)
    assert response.status_code == 400 and response.json()["code"] == "target_private"
    # a private community of someone else is not even visible: "does not exist"
    hidden = CommunityFactory(network=network, visibility="private")
    response = _share(user_client, "post", PostFactory(author=hidden.owner_user, community=hidden).pk)
    assert response.status_code == 400
    assert "does not exist" in json.dumps(response.json())
    followers_only = PostFactory(author=user, visibility="followers")
    assert _share(user_client, "post", followers_only.pk).json()["code"] == "target_private"
    private_project = ProjectFactory(owner_user=user, visibility="private")
    assert _share(user_client, "project", private_project.pk).json()["code"] == "target_private"
    assert Share.objects.count() == 0


def test_bad_channel_target_type_and_utm_are_field_errors(user_client, user):
    post = PostFactory(author=user)
    for body in (
        {"channel": "myspace"},
        {"target_type": "invite"},
        {"target_type": "spaceship"},
        {"utm_content": "<script>"},
        {"target_id": "not-a-uuid"},
    ):
        payload = {"target_type": "post", "target_id": str(post.pk), **body}
        response = user_client.post("/api/v1/shares/", payload, format="json")
        assert response.status_code == 400, (body, response.json())
    assert Share.objects.count() == 0


def test_profiles_communities_and_projects_are_shareable(user_client, user, network):
    community = CommunityFactory(network=network)
    project = ProjectFactory(owner_user=user, visibility="public")
    assert _share(user_client, "profile", user.pk).json()["target_url"].endswith(f"/@{user.handle}")
    assert (
        _share(user_client, "community", community.pk).json()["target_url"].endswith(f"/c/{community.slug}")
    )
    assert _share(user_client, "project", project.pk).json()["target_url"].endswith(f"/projects/{project.pk}")


def test_the_short_link_redirects_with_utm_counts_the_click_and_sets_the_cookie(user, network):
    share, _ = services.create_share(
        actor=user,
        target_type="post",
        target_id=PostFactory(author=user).pk,
        channel="reddit",
        utm_term="launch",
    )
    client = Client()
    response = _click(client, share.code)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == f"/posts/{share.target_id}"
    assert parse_qs(location.query) == {
        "utm_source": ["reddit"], "utm_medium": ["social"], "utm_campaign": ["share"], "utm_term": ["launch"],
    }  # fmt: skip
    cookie = response.cookies[services.COOKIE_NAME]
    request = RequestFactory().get("/", HTTP_COOKIE=f"{services.COOKIE_NAME}={cookie.coded_value}")
    payload = read_attribution(request)
    assert payload["share"] == str(share.pk) and payload["utm_source"] == "reddit"
    assert cookie["httponly"] and cookie["max-age"] == 30 * 86400
    share.refresh_from_db()
    assert share.click_count == 1 and share.last_clicked_at is not None


def test_bots_are_redirected_but_not_counted(user):
    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk)
    for ua in ("Twitterbot/1.0", "facebookexternalhit/1.1", "curl/8.0", "python-requests/2.31", ""):
        response = _click(Client(), share.code, ua)
        assert response.status_code == 302
        assert services.COOKIE_NAME not in response.cookies
    share.refresh_from_db()
    assert share.click_count == 0


def test_unknown_or_malformed_codes_are_404():
    assert Client().get("/s/nope1234").status_code == 404
    assert Client().get("/s/bad%00code").status_code == 404


def test_unique_visitors_come_from_the_hyperloglog_job(user):
    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk)
    returning = Client()
    for _ in range(3):
        _click(returning, share.code)
    _click(Client(), share.code)
    share.refresh_from_db()
    assert (share.click_count, share.unique_visitor_count) == (4, 0)
    assert sync_unique_visitors() == 1
    share.refresh_from_db()
    assert share.unique_visitor_count == 2
    assert sync_unique_visitors() == 0  # nothing new: idempotent


def _signup(client: Client, email: str):
    return client.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})


def test_a_signup_inside_the_window_is_credited_to_the_share_once(user, network):
    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk, channel="email")
    visitor = Client()
    _click(visitor, share.code)
    assert _signup(visitor, "newcomer@example.com").status_code == 302
    newcomer = User.objects.get(email="newcomer@example.com")
    assert newcomer.signup_attribution["share"]["code"] == share.code
    assert newcomer.signup_attribution["share"]["utm_source"] == "email"
    share.refresh_from_db()
    assert share.signup_count == 1
    # the same cookie credited again (a replayed hook) counts nothing
    payload = services.attribution_payload(share)
    assert services.credit_signup(user=newcomer, attribution=payload) is False
    share.refresh_from_db()
    assert share.signup_count == 1


def test_a_signup_after_the_window_or_without_a_cookie_is_not_credited(user, network):
    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk)
    late = UserFactory(network=network)
    stale = services.attribution_payload(share) | {"at": (timezone.now() - timedelta(days=31)).isoformat()}
    assert services.credit_signup(user=late, attribution=stale) is False
    assert _signup(Client(), "direct@example.com").status_code == 302
    assert "share" not in User.objects.get(email="direct@example.com").signup_attribution
    network.settings = {"attribution_days": 60}
    network.save()
    late.refresh_from_db()
    assert services.credit_signup(user=late, attribution=stale) is True
    share.refresh_from_db()
    assert share.signup_count == 1


def test_a_tampered_cookie_credits_nothing(user):
    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk)
    visitor = Client()
    visitor.cookies[services.COOKIE_NAME] = json.dumps(services.attribution_payload(share))  # unsigned
    assert _signup(visitor, "forger@example.com").status_code == 302
    assert "share" not in User.objects.get(email="forger@example.com").signup_attribution
    share.refresh_from_db()
    assert share.signup_count == 0


def test_lists_show_your_shares_and_maintainers_see_all_of_their_targets(
    user_client, user, network, make_client
):
    post = PostFactory(author=user)
    fan = UserFactory(network=network)
    mine, _ = services.create_share(actor=user, target_type="post", target_id=post.pk, channel="x")
    theirs, _ = services.create_share(actor=fan, target_type="post", target_id=post.pk, channel="reddit")
    fan_client = make_client(fan)
    assert [r["id"] for r in user_client.get("/api/v1/shares/").json()["results"]] == [str(mine.pk)]
    url = f"/api/v1/shares/?target_type=post&target_id={post.pk}"
    assert {r["id"] for r in user_client.get(url).json()["results"]} == {str(mine.pk), str(theirs.pk)}
    assert [r["id"] for r in fan_client.get(url).json()["results"]] == [str(theirs.pk)]
    # the author (maintainer) may open the fan's share; the fan may not open the author's
    assert user_client.get(f"/api/v1/shares/{theirs.pk}/").status_code == 200
    assert fan_client.get(f"/api/v1/shares/{mine.pk}/").status_code == 404
    assert user_client.get("/api/v1/shares/?target_type=post&target_id=nope").status_code == 400


def test_share_stats_by_channel(user_client, user, network, make_client):
    post = PostFactory(author=user)
    fan = UserFactory(network=network)
    mine, _ = services.create_share(actor=user, target_type="post", target_id=post.pk, channel="x")
    theirs, _ = services.create_share(actor=fan, target_type="post", target_id=post.pk, channel="reddit")
    for _ in range(2):
        _click(Client(), mine.code)
    _click(Client(), theirs.code)
    sync_unique_visitors()
    url = f"/api/v1/share-stats/?target_type=post&target_id={post.pk}"
    stats = user_client.get(url).json()
    assert (stats["scope"], stats["shares"], stats["clicks"], stats["unique_visitors"]) == ("all", 2, 3, 3)
    assert {row["channel"]: row["clicks"] for row in stats["by_channel"]} == {"reddit": 1, "x": 2}
    fan_stats = make_client(fan).get(url).json()
    assert (fan_stats["scope"], fan_stats["clicks"]) == ("own", 1)
    assert user_client.get("/api/v1/share-stats/").status_code == 400


def test_share_list_runs_the_same_number_of_queries_at_any_page_size(
    user_client, user, network, django_assert_max_num_queries
):
    for _ in range(12):
        services.create_share(actor=user, target_type="post", target_id=PostFactory(author=user).pk)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user_client.get("/api/v1/shares/?page_size=1")  # warm the session
    counts = []
    for size in (3, 12):
        with CaptureQueriesContext(connection) as ctx:
            response = user_client.get(f"/api/v1/shares/?page_size={size}")
        assert len(response.json()["results"]) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        user_client.get("/api/v1/shares/?page_size=12")


def test_shares_are_rate_limited_by_network_settings(user_client, user, network):
    network.settings = {"rate_limits": {"shares": "2/h"}}
    network.save()
    posts = [PostFactory(author=user) for _ in range(3)]
    assert _share(user_client, "post", posts[0].pk).status_code == 201
    assert _share(user_client, "post", posts[1].pk).status_code == 201
    response = _share(user_client, "post", posts[2].pk)
    assert response.status_code == 429 and "Retry-After" in response


def test_a_waitlist_join_after_a_share_click_records_the_share_as_its_source(user, network):
    from rest_framework.test import APIClient

    from apps.invites.models import InviteWaitlist

    share, _ = services.create_share(actor=user, target_type="profile", target_id=user.pk, channel="x")
    visitor = APIClient()
    _click(visitor, share.code)
    response = visitor.post(
        "/api/v1/waitlist/", {"email": "curious@example.com", "utm_source": "x"}, format="json"
    )
    assert response.status_code == 202
    source = InviteWaitlist.objects.get(email="curious@example.com").source
    assert source["utm_source"] == "x"
    assert source["share"]["code"] == share.code and source["share"]["channel"] == "x"
    # no cookie, or a cookie older than the window: no share recorded
    APIClient().post("/api/v1/waitlist/", {"email": "direct@example.com"}, format="json")
    assert "share" not in InviteWaitlist.objects.get(email="direct@example.com").source
    network.settings = {"attribution_days": 0}
    network.save()
    visitor.post("/api/v1/waitlist/", {"email": "late@example.com"}, format="json")
    assert "share" not in InviteWaitlist.objects.get(email="late@example.com").source
