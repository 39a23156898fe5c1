"""End to end on a live ASGI server (uvicorn): follow, post with a mention and a tag, feed, react,
search, notifications, then a share link followed through /s/ with its click counted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apps.inbox.models import InboxItem
from apps.sharing.models import Share
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import issue_key
from tests.live import wait_for

from .conftest import aged
from .factories import CommunityFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0"


def test_a_post_travels_from_author_to_follower_feed_reactions_search_and_a_share_link(live_asgi, network):
    alice = aged(UserFactory(network=network, handle="alice"))
    bob = aged(UserFactory(network=network, handle="bob"))
    community = CommunityFactory(network=network, owner_user=alice)
    alice_key = issue_key(alice).token
    bob_key = issue_key(bob).token
    as_alice = httpx.Client(
        base_url=live_asgi.url, headers={"Authorization": f"Bearer {alice_key}"}, timeout=10
    )
    as_bob = httpx.Client(base_url=live_asgi.url, headers={"Authorization": f"Bearer {bob_key}"}, timeout=10)
    with as_alice, as_bob:
        assert as_bob.post("/api/v1/follows/", json={"followee_user": str(alice.pk)}).status_code == 201
        created = as_alice.post(
            "/api/v1/posts/",
            json={"body": "Launching **today**, @bob!", "community": str(community.pk), "tags": ["Launch"]},
        )
        assert created.status_code == 201, created.text
        post = created.json()
        assert "<strong>today</strong>" in post["body_html"] and post["tags"] == ["launch"]

        feed = as_bob.get("/api/v1/feed/?sort=hot").json()["results"]
        assert [p["id"] for p in feed] == [post["id"]]
        reacted = as_bob.post(f"/api/v1/posts/{post['id']}/reactions/", json={"kind": "insightful"})
        assert reacted.json()["reaction_counts"] == {"insightful": 1}
        found = as_bob.get("/api/v1/posts/?q=launching").json()["results"]
        assert [p["id"] for p in found] == [post["id"]]

        wait_for(lambda: InboxItem.objects.filter(recipient=bob, kind="mention").exists(), message="mention")
        wait_for(
            lambda: InboxItem.objects.filter(recipient=alice, kind="reaction").exists(), message="reaction"
        )
        wait_for(lambda: InboxItem.objects.filter(recipient=alice, kind="follow").exists(), message="follow")

        share = as_bob.post(
            "/api/v1/shares/", json={"target_type": "post", "target_id": post["id"], "channel": "telegram"}
        )
        assert share.status_code == 201, share.text
        code = share.json()["code"]
        with httpx.Client(base_url=live_asgi.url, timeout=10) as visitor:
            response = visitor.get(f"/s/{code}", headers={"User-Agent": BROWSER})
        assert response.status_code == 302
        location = urlsplit(response.headers["location"])
        assert location.path == f"/posts/{post['id']}"
        assert parse_qs(location.query)["utm_source"] == ["telegram"]
        assert "colony_attr" in response.cookies
        assert Share.objects.get(code=code).click_count == 1
