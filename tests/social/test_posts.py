"""Posts and threads: rendering, mentions, replies, edits, tombstones, limits."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core import uploads
from apps.inbox.models import InboxItem
from apps.social import services
from apps.social.models import Post
from tests.accounts.factories import UserFactory
from tests.core.uploads_helpers import png

from .conftest import aged
from .factories import BlockFactory, CommunityFactory, CommunityMemberFactory

pytestmark = pytest.mark.django_db


def _post(client, **body):
    return client.post("/api/v1/posts/", body, format="json")


def test_body_is_markdown_rendered_to_sanitised_html(user_client):
    response = _post(user_client, body="**bold** <script>alert(1)</script> [x](javascript:alert(1))")
    assert response.status_code == 201, response.json()
    html = response.json()["body_html"]
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "javascript:" not in html.replace("[x](javascript:alert(1))", "")
    assert Post.objects.get().body.startswith("**bold**")


def test_mentions_are_parsed_linked_and_notified(
    user_client, user, alice, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(user_client, body="hi @alice and @BOB and @nobody_here, not `@alice`")
    body = response.json()
    assert set(body["mentioned_user_ids"]) == {str(alice.pk), str(bob.pk)}
    assert 'href="/@alice"' in body["body_html"]
    assert set(InboxItem.objects.filter(kind="mention").values_list("recipient_id", flat=True)) == {
        alice.pk,
        bob.pk,
    }


def test_more_than_twenty_mentions_is_a_400_and_nothing_is_stored(user_client):
    body = " ".join(f"@user{i:03d}" for i in range(21))
    response = _post(user_client, body=body)
    assert response.status_code == 400 and "body" in response.json()
    assert not Post.objects.exists()


def test_oversized_body_is_a_400(user_client):
    response = _post(user_client, body="x" * 10_001)
    assert response.status_code == 400 and "body" in response.json()


def test_empty_post_is_a_400(user_client):
    assert _post(user_client, body="   ").status_code == 400


def test_reply_stays_in_the_parents_community_and_updates_the_root(user_client, user, alice, make_client):
    community = CommunityFactory(network=user.network)
    root = services.create_post(actor=alice, body="root", community=community, visibility="public")
    response = user_client.post(f"/api/v1/posts/{root.pk}/replies/", {"body": "a reply"}, format="json")
    assert response.status_code == 201, response.json()
    reply = Post.objects.get(pk=response.json()["id"])
    assert (reply.community_id, reply.thread_root_id, reply.visibility) == (community.pk, root.pk, "public")
    nested = services.create_post(actor=alice, body="deeper", reply_to=reply)
    assert nested.thread_root_id == root.pk
    root.refresh_from_db()
    assert root.reply_count == 2 and root.last_reply_at is not None


def test_reply_naming_another_community_is_a_400(user_client, user, alice):
    root = services.create_post(actor=alice, body="root", community=CommunityFactory(network=user.network))
    other = CommunityFactory(network=user.network)
    response = _post(user_client, body="x", reply_to=str(root.pk), community=str(other.pk))
    assert response.status_code == 400 and "community" in response.json()


def test_reply_to_a_locked_or_deleted_post_is_a_409(user_client, user, alice, moderator):
    root = services.create_post(actor=alice, body="root")
    services.lock_thread(actor=moderator, post=root)
    assert (
        user_client.post(f"/api/v1/posts/{root.pk}/replies/", {"body": "x"}).json()["code"] == "thread_locked"
    )
    gone = services.create_post(actor=alice, body="gone")
    services.delete_post(actor=alice, post=gone)
    response = user_client.post(f"/api/v1/posts/{gone.pk}/replies/", {"body": "x"})
    assert response.status_code == 409


def test_blocked_user_replying_is_a_403(user_client, user, alice):
    BlockFactory(blocker=alice, blocked=user)
    root = services.create_post(actor=alice, body="root")
    response = user_client.post(f"/api/v1/posts/{root.pk}/replies/", {"body": "x"})
    assert response.status_code == 403 and response.json()["code"] == "blocked"
    assert Post.objects.count() == 1


def test_only_the_author_edits_and_edits_rerender(user_client, user, alice, make_client):
    post = services.create_post(actor=user, body="first")
    response = user_client.patch(f"/api/v1/posts/{post.pk}/", {"body": "*second* @alice"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert "<em>second</em>" in body["body_html"] and body["edited_at"]
    assert body["mentioned_user_ids"] == [str(alice.pk)]
    other = make_client(alice).patch(f"/api/v1/posts/{post.pk}/", {"body": "mine now"}, format="json")
    assert other.status_code == 403
    post.refresh_from_db()
    assert post.body == "*second* @alice"


def test_deleted_post_with_replies_stays_a_tombstone_in_its_thread(user_client, user, alice, make_client):
    root = services.create_post(actor=user, body="root")
    reply = services.create_post(actor=alice, body="reply", reply_to=root)
    services.create_post(actor=user, body="reply to reply", reply_to=reply)
    assert make_client(alice).delete(f"/api/v1/posts/{reply.pk}/").status_code == 204
    thread = user_client.get(f"/api/v1/posts/{root.pk}/thread/").json()["results"]
    assert [p["id"] for p in thread][0] == str(reply.pk)
    assert thread[0]["status"] == "deleted" and thread[0]["body"] == "" and thread[0]["body_html"] == ""
    reply.refresh_from_db()
    assert reply.body == "" and reply.deleted_at is not None


def test_deleting_someone_elses_post_needs_a_moderator(user_client, user, alice, make_client):
    post = services.create_post(actor=alice, body="hers")
    assert user_client.delete(f"/api/v1/posts/{post.pk}/").status_code == 403
    assert Post.objects.get(pk=post.pk).status == "published"


def test_not_a_member_of_a_restricted_community_cannot_post(user_client, user):
    community = CommunityFactory(network=user.network, visibility="restricted")
    response = _post(user_client, body="x", community=str(community.pk))
    assert response.status_code == 403 and response.json()["code"] == "not_a_member"
    CommunityMemberFactory(community=community, user=user)
    assert _post(user_client, body="x", community=str(community.pk)).status_code == 201


def test_private_community_reads_as_missing_to_outsiders(user_client, user):
    community = CommunityFactory(network=user.network, visibility="private")
    response = _post(user_client, body="x", community=str(community.pk))
    assert response.status_code == 400 and "does not exist" in str(response.json()["community"])
    assert user_client.get(f"/api/v1/communities/{community.pk}/").status_code == 404
    assert user_client.get(f"/api/v1/posts/?community={community.pk}").status_code == 404


def test_banned_member_cannot_post_until_the_ban_expires(user_client, user, moderator):
    community = CommunityFactory(network=user.network)
    services.ban_member(actor=moderator, community=community, user=user, reason="spam",
                        until=timezone.now() + timedelta(hours=1))  # fmt: skip
    response = _post(user_client, body="x", community=str(community.pk))
    assert response.status_code == 403 and response.json()["code"] == "banned"
    from apps.social.models import CommunityMember

    CommunityMember.objects.filter(user=user).update(banned_until=timezone.now() - timedelta(seconds=1))
    assert _post(user_client, body="x", community=str(community.pk)).status_code == 201


def test_new_accounts_may_post_two_links_two_mentions_and_no_media(network, make_client, alice, bob):
    newbie = UserFactory(network=network)
    client = make_client(newbie)
    links = "see https://a.example https://b.example [c](https://c.example)"
    response = _post(client, body=links)
    assert response.status_code == 400 and response.json()["code"] == "new_account_limit"
    carol = aged(UserFactory(network=network, handle="carol"))
    assert _post(client, body=f"@alice @bob @{carol.handle}").json()["code"] == "new_account_limit"
    upload = uploads.ingest_upload(actor=newbie, fileobj=io.BytesIO(png()), filename="a.png")
    response = _post(client, body="pic", media=[{"upload": str(upload.pk)}])
    assert response.status_code == 400 and response.json()["code"] == "new_account_limit"
    assert _post(client, body="two https://a.example https://b.example @alice @bob").status_code == 201
    network.settings = {"new_account_days": 0}
    network.save()
    assert _post(client, body=links).status_code == 201


def test_media_is_attached_once_from_your_own_ready_uploads(user_client, user, alice):
    upload = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(png((12, 8))), filename="a.png")
    response = _post(user_client, body="pic", media=[{"upload": str(upload.pk), "alt_text": "a square"}])
    assert response.status_code == 201, response.json()
    media = response.json()["media"]
    assert media[0]["kind"] == "image" and (media[0]["width"], media[0]["height"]) == (12, 8)
    again = _post(user_client, body="again", media=[{"upload": str(upload.pk)}])
    assert again.status_code == 400
    hers = uploads.ingest_upload(actor=alice, fileobj=io.BytesIO(png()), filename="b.png")
    assert _post(user_client, body="x", media=[{"upload": str(hers.pk)}]).status_code == 400


def test_tags_are_nfkc_normalised_unique_and_at_most_ten(user_client, user):
    response = _post(user_client, body="x", tags=["Ｐｙｔｈｏｎ", "#python", "Web Dev"])
    assert response.status_code == 201
    assert response.json()["tags"] == ["python", "web_dev"]
    assert _post(user_client, body="x", tags=[f"t{i}" for i in range(11)]).status_code == 400
    assert _post(user_client, body="x", tags=["no spaces!"]).status_code == 400


def test_a_blocked_tag_is_refused(user_client, user, moderator):
    from apps.social.models import Tag

    tag = Tag.objects.create(network=user.network, slug="spam", name="spam")
    services.set_tag_blocked(actor=moderator, tag=tag, blocked=True)
    response = _post(user_client, body="x", tags=["spam"])
    assert response.status_code == 400 and response.json()["code"] == "tag_blocked"


def test_posting_rate_comes_from_network_settings(user_client, network):
    network.settings = {"rate_limits": {"posts": "2/h"}}
    network.save()
    assert _post(user_client, body="1").status_code == 201
    assert _post(user_client, body="2").status_code == 201
    response = _post(user_client, body="3")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1


def test_posting_as_an_organization_needs_owner_or_admin(user_client, user):
    from tests.organizations.factories import OrganizationFactory, OrganizationMemberFactory

    org = OrganizationFactory(network=user.network)
    member = OrganizationMemberFactory(organization=org, user=user, role="member")
    assert _post(user_client, body="x", as_organization=str(org.pk)).status_code == 403
    member.role = "admin"
    member.save()
    response = _post(user_client, body="x", as_organization=str(org.pk))
    assert response.status_code == 201 and response.json()["owner_organization"]["id"] == str(org.pk)


def test_anonymous_reads_public_posts_only(api_client, user):
    public = services.create_post(actor=user, body="for everyone", visibility="public")
    services.create_post(actor=user, body="members only")
    response = api_client.get("/api/v1/posts/")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [str(public.pk)]
    assert api_client.post("/api/v1/posts/", {"body": "x"}).status_code in (401, 403)


def test_the_post_fast_path_equals_drfs_representation(user, alice, moderator, network):
    from django.test import RequestFactory

    from apps.social.api.serializers import PostSerializer
    from apps.social.selectors import with_post_relations

    from .factories import CommunityFactory

    community = CommunityFactory(network=network)
    upload = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(png()), filename="a.png")
    root = services.create_post(
        actor=user, body=f"hi @{alice.handle} **bold**", community=community, tags=["b", "a"],
        media=[{"upload": upload, "alt_text": "pic"}],
    )  # fmt: skip
    reply = services.create_post(actor=alice, body="a reply", reply_to=root)
    services.add_reaction(actor=user, post=root, kind="wow")
    services.lock_thread(actor=moderator, post=root)
    hidden = services.create_post(actor=alice, body="to hide")
    services.hide_post(actor=moderator, post=hidden, reason="x")
    gone = services.create_post(actor=alice, body="to delete")
    services.delete_post(actor=alice, post=gone)
    for viewer in (user, alice, moderator):
        request = RequestFactory().get("/")
        request.user = viewer
        rows = with_post_relations(Post.objects.filter(network=network), viewer=viewer)
        for post in rows:
            context = {"request": request, "moderated": lambda p, v=viewer: v.network_role == "moderator"}
            serializer = PostSerializer(post, context=context)
            assert serializer.to_representation(post) == serializer.drf_representation(post), (post, viewer)
    assert reply.thread_root_id == root.pk
