"""The browser page behind the mailed invitation link."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.organizations import services
from apps.organizations.models import OrganizationMember
from tests.accounts.factories import UserFactory

from .helpers import invitation_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(org, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_member(actor=user, organization=org, email="guest@example.com", role="viewer")
    token = invitation_token()
    path = f"/organizations/invitations/{token}/"
    assert path in mail.outbox[-1].body
    return path


def _browser(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


def test_signed_out_visitors_are_sent_to_the_login_page(link):
    response = Client().get(link)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_get_shows_the_invitation_and_only_post_joins(link, org, network):
    guest = UserFactory(network=network, email="guest@example.com")
    client = _browser(guest)
    response = client.get(link)
    assert response.status_code == 200 and org.name in response.content.decode()
    assert not OrganizationMember.objects.filter(organization=org, user=guest).exists()
    response = client.post(link)
    assert response.status_code == 200 and "You are now a member" in response.content.decode()
    assert OrganizationMember.objects.get(organization=org, user=guest).role == "viewer"
    assert client.get(link).status_code == 404  # spent


def test_someone_else_sees_the_mismatch_and_cannot_join(link, org, network):
    other = UserFactory(network=network, email="other@example.com")
    response = _browser(other).post(link)
    assert response.status_code == 400 and "guest@example.com" in response.content.decode()
    assert not OrganizationMember.objects.filter(organization=org, user=other).exists()


def test_another_networks_user_gets_404(link, other_network):
    stranger = UserFactory(network=other_network, email="guest2@example.com")
    assert _browser(stranger).get(link).status_code == 404
