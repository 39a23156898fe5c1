"""The social back office: filtered post lists, moderation actions through the services, the queue."""

from __future__ import annotations

import pytest

from apps.sharing import services as sharing
from apps.social import services
from apps.social.models import CommunityMember, ModerationLogEntry, Post, Report
from tests.accounts.factories import UserFactory

from .conftest import aged
from .factories import CommunityFactory, CommunityMemberFactory, PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, network):
    client.force_login(UserFactory(network=network, is_staff=True, is_superuser=True))
    return client


def test_changelists_with_every_filter_render(staff_client, user, network):
    community = CommunityFactory(network=network)
    post = PostFactory(author=user, community=community)
    services.file_report(actor=aged(UserFactory(network=network)), post=post, reason="spam")
    sharing.create_share(actor=user, target_type="post", target_id=post.pk)
    for url, params in (
        ("/admin/social/post/", {"status": "published", "author__is_ai__exact": "1"}),
        (
            "/admin/social/post/",
            {"community__id__exact": str(community.pk), "network__id__exact": str(network.pk)},
        ),
        ("/admin/social/post/", {"reported": "yes"}),
        ("/admin/social/report/", {"status__exact": "open"}),
        ("/admin/social/community/", {}),
        ("/admin/social/tag/", {}),
        ("/admin/social/moderationlogentry/", {}),
        ("/admin/sharing/share/", {}),
    ):
        assert staff_client.get(url, params).status_code == 200, url
    assert staff_client.get(f"/admin/social/post/{post.pk}/change/").status_code == 200


def test_admin_actions_go_through_the_services_and_the_log(staff_client, user, network):
    community = CommunityFactory(network=network)
    author = aged(UserFactory(network=network))
    CommunityMemberFactory(community=community, user=author)
    hidden, banned = (
        PostFactory(author=author, community=community),
        PostFactory(author=author, community=community),
    )
    response = staff_client.post(
        "/admin/social/post/", {"action": "hide", "_selected_action": [str(hidden.pk)]}, follow=True
    )
    assert response.status_code == 200
    hidden.refresh_from_db()
    assert hidden.status == "hidden"
    staff_client.post("/admin/social/post/", {"action": "ban_author", "_selected_action": [str(banned.pk)]})
    assert CommunityMember.objects.get(user=author).status == "banned"
    assert set(ModerationLogEntry.objects.values_list("action", flat=True)) >= {"post.hide", "member.ban"}
    report, _ = services.file_report(actor=user, post=hidden, reason="spam")
    staff_client.post("/admin/social/report/", {"action": "dismiss", "_selected_action": [str(report.pk)]})
    assert Report.objects.get(pk=report.pk).status == "dismissed"
    assert Post.objects.filter(pk=hidden.pk, status="hidden").exists()
