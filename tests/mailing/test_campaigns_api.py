"""/api/v1/email-campaigns/ and /email-suppressions/: network admins only, the state machine, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.mailing import services
from apps.mailing.models import EmailCampaign
from tests.accounts.factories import UserFactory
from tests.organizations.factories import OrganizationFactory

from .factories import CampaignFactory, SendFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
BODY = {
    "name": "Launch",
    "subject": "Hello {{ first_name }}",
    "from_email": "news@colony.local",
    "html_body": "<p>Hi {{ name }}</p>",
}


@pytest.fixture
def admin(network):
    return UserFactory(network=network, network_role="admin")


@pytest.fixture
def admin_client(admin):
    client = APIClient()
    client.force_login(admin)
    return client


def test_admin_creates_a_draft(admin_client, admin):
    response = admin_client.post(
        "/api/v1/email-campaigns/",
        {**BODY, "audience": {"source": "users", "roles": ["member"]}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "draft" and data["created_by"] == str(admin.pk)
    assert data["audience"] == {"source": "users", "roles": ["member"]}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"html_body": "<p>{{ password }}</p>"}, "html_body", "unknown_variable"),
        ({"subject": "{% load evil %}"}, "subject", "template_syntax"),
        ({"from_email": "boss@gmail.com"}, "from_email", "unverified_sender"),
        ({"from_email": "not an email"}, "from_email", None),
        ({"audience": {"source": "everyone"}}, "audience", None),
        ({"audience": {"source": "users", "shoe_size": 44}}, "audience", None),
        ({"audience": "users"}, "audience", None),
        ({"rate_per_second": 0}, "rate_per_second", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_client, change, field, code):
    response = admin_client.post("/api/v1/email-campaigns/", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    if code:
        assert response.json()["code"] == code
    assert not EmailCampaign.objects.exists()


def test_another_networks_organization_in_the_audience_is_refused(admin_client, other_network):
    org = OrganizationFactory(network=other_network)
    response = admin_client.post(
        "/api/v1/email-campaigns/",
        {**BODY, "audience": {"source": "users", "organization": str(org.pk)}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "does_not_exist"


def test_members_get_403_on_the_collection_and_404_on_rows(user_client, network):
    campaign = CampaignFactory(network=network)
    assert user_client.get("/api/v1/email-campaigns/").status_code == 403
    assert user_client.post("/api/v1/email-campaigns/", BODY, format="json").status_code == 403
    assert user_client.get(f"/api/v1/email-campaigns/{campaign.pk}/").status_code == 404
    assert user_client.post(f"/api/v1/email-campaigns/{campaign.pk}/send-now/").status_code == 404


def test_content_is_editable_only_in_draft(admin_client, network):
    draft = CampaignFactory(network=network)
    ok = admin_client.patch(f"/api/v1/email-campaigns/{draft.pk}/", {"subject": "New"}, format="json")
    assert ok.status_code == 200 and ok.json()["subject"] == "New"
    sent = CampaignFactory(network=network, status="sent")
    refused = admin_client.patch(f"/api/v1/email-campaigns/{sent.pk}/", {"subject": "New"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_state"
    assert admin_client.delete(f"/api/v1/email-campaigns/{sent.pk}/").status_code == 409
    assert admin_client.delete(f"/api/v1/email-campaigns/{draft.pk}/").status_code == 204


def test_scheduling_in_the_past_is_refused_and_the_future_works(admin_client, network):
    campaign = CampaignFactory(network=network)
    url = f"/api/v1/email-campaigns/{campaign.pk}/"
    past = admin_client.post(url + "schedule/", {"scheduled_at": "2001-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and past.json()["code"] == "in_the_past"
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    assert (
        admin_client.post(url + "schedule/", {"scheduled_at": later}, format="json").json()["status"]
        == "scheduled"
    )
    assert admin_client.patch(url, {"subject": "x"}, format="json").status_code == 409  # unschedule first
    assert admin_client.post(url + "unschedule/").json()["status"] == "draft"


def test_illegal_moves_are_409(admin_client, network):
    campaign = CampaignFactory(network=network)
    url = f"/api/v1/email-campaigns/{campaign.pk}/"
    assert admin_client.post(url + "pause/").status_code == 409
    assert admin_client.post(url + "resume/").status_code == 409
    assert admin_client.post(url + "cancel/").json()["status"] == "cancelled"
    assert admin_client.post(url + "cancel/").status_code == 409
    assert admin_client.post(url + "send-now/").status_code == 409


def test_the_beat_job_starts_due_campaigns_once(moto_ses, network, admin, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(network=network, created_by=admin, status="scheduled")
    EmailCampaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.start_due_campaigns() == 1
    assert services.start_due_campaigns() == 0
    campaign.refresh_from_db()
    assert campaign.status == "sent" and moto_ses.recipients() == [admin.email]


def test_audience_preview_counts_and_samples(admin_client, network, admin):
    for _ in range(3):
        UserFactory(network=network)
    suppressed = UserFactory(network=network)
    SuppressionFactory(network=network, email=suppressed.email)
    campaign = CampaignFactory(network=network)
    data = admin_client.get(f"/api/v1/email-campaigns/{campaign.pk}/audience-preview/").json()
    assert data["count"] == 4 and data["suppressed"] == 1
    assert suppressed.email not in data["sample"] and admin.email in data["sample"]


def test_test_send_goes_to_the_given_address_marked_test(
    admin_client, network, moto_ses, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(network=network)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/api/v1/email-campaigns/{campaign.pk}/test-send/", {"emails": ["qa@example.com"]}, format="json"
        )
    assert response.status_code == 202 and response.json() == {"queued": 1}
    [message] = moto_ses.messages()
    assert "Subject: [TEST] " in message["raw_data"] and "qa@example.com" in message["destinations"]


def test_lists_run_a_constant_number_of_queries(admin_client, network, django_assert_max_num_queries):
    campaign = CampaignFactory(network=network)
    for size in (2, 12):
        for _ in range(size):
            CampaignFactory(network=network)
            SendFactory(campaign=campaign)
            SuppressionFactory(network=network)
        for url in (
            "/api/v1/email-campaigns/",
            f"/api/v1/email-campaigns/{campaign.pk}/sends/",
            "/api/v1/email-suppressions/",
        ):
            with django_assert_max_num_queries(8):
                response = admin_client.get(url)
            assert response.status_code == 200 and len(response.json()["results"]) >= size


def test_suppressions_api(admin_client, network, admin):
    created = admin_client.post(
        "/api/v1/email-suppressions/", {"email": "Reader@Example.com", "scope": "all"}, format="json"
    )
    assert created.status_code == 201 and created.json()["email"] == "reader@example.com"
    assert (
        admin_client.get("/api/v1/email-suppressions/?email=reader@example.com").json()["results"][0]["scope"]
        == "all"
    )
    assert (
        admin_client.post("/api/v1/email-suppressions/", {"email": "nope"}, format="json").status_code == 400
    )
    complaint = SuppressionFactory(network=network, scope="all", reason="complaint")
    refused = admin_client.delete(f"/api/v1/email-suppressions/{complaint.pk}/")
    assert refused.status_code == 403 and refused.json()["code"] == "complaint_staff_only"
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    assert admin_client.delete(f"/api/v1/email-suppressions/{complaint.pk}/").status_code == 204
