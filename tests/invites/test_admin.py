"""The back office for invites and campaigns: pages render, actions go through the services, progress bars."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.invites.models import InviteCode, InviteWaitlist, InviteWaveConfig
from apps.mailing.models import EmailSuppression
from tests.accounts.factories import UserFactory
from tests.mailing.factories import CampaignFactory, SendFactory, SuppressionFactory

from .factories import InviteCodeFactory, WaitlistFactory, WaveFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(network):
    user = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_changelists_and_change_pages_render(staff, network):
    entry = WaitlistFactory(network=network)
    wave = WaveFactory(network=network)
    released = WaveFactory(network=network, status="released")
    code = InviteCodeFactory(network=network, use_count=0)
    campaign = CampaignFactory(network=network, recipient_count=10, sent_count=4, status="sending")
    assert (
        staff.get(f"/admin/mailing/emailcampaign/{CampaignFactory(network=network).pk}/change/").status_code
        == 200
    )
    send = SendFactory(campaign=campaign)
    suppression = SuppressionFactory(network=network)
    for model, obj in (
        ("invites/invitewaitlist", entry),
        ("invites/invitewaveconfig", wave),
        ("invites/invitewaveconfig", released),
        ("invites/invitecode", code),
        ("mailing/emailcampaign", campaign),
        ("mailing/emailsend", send),
        ("mailing/emailsuppression", suppression),
    ):
        assert staff.get(f"/admin/{model}/").status_code == 200, model
        assert staff.get(f"/admin/{model}/{obj.pk}/change/").status_code == 200, model
    page = staff.get("/admin/mailing/emailcampaign/").content.decode()
    assert '<progress max="10" value="4"' in page
    change = staff.get(f"/admin/mailing/emailcampaign/{campaign.pk}/change/").content.decode()
    assert 'sandbox=""' in change  # the HTML preview runs no script
    assert (
        "verify_token_hash"
        not in staff.get(f"/admin/invites/invitewaitlist/{entry.pk}/change/").content.decode()
    )


def test_invite_selected_action(staff, network, django_capture_on_commit_callbacks):
    entries = [WaitlistFactory(network=network) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/admin/invites/invitewaitlist/",
            {"action": "invite_selected", "_selected_action": [str(e.pk) for e in entries]},
        )
    assert response.status_code == 302
    assert set(InviteWaitlist.objects.values_list("status", flat=True)) == {"invited"}


def test_wave_actions(staff, network):
    wave = WaveFactory(network=network)
    staff.post("/admin/invites/invitewaveconfig/", {"action": "pause", "_selected_action": [str(wave.pk)]})
    assert InviteWaveConfig.objects.get(pk=wave.pk).status == "paused"
    staff.post("/admin/invites/invitewaveconfig/", {"action": "cancel", "_selected_action": [str(wave.pk)]})
    assert InviteWaveConfig.objects.get(pk=wave.pk).status == "cancelled"


def test_revoke_and_csv_export(staff, network):
    codes = [InviteCodeFactory(network=network) for _ in range(3)]
    staff.post("/admin/invites/invitecode/", {"action": "revoke", "_selected_action": [str(codes[0].pk)]})
    assert InviteCode.objects.get(pk=codes[0].pk).revoked_at is not None
    response = staff.post(
        "/admin/invites/invitecode/", {"action": "export_csv", "_selected_action": [str(c.pk) for c in codes]}
    )
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "text/csv" and body.splitlines()[0].startswith("code,kind")
    assert all(c.code in body for c in codes)


def test_bulk_generation_runs_with_progress(staff, network):
    page = staff.get(reverse("admin:invites_invitecode_generate"))
    assert page.status_code == 200
    response = staff.post(
        reverse("admin:invites_invitecode_generate"),
        {"network": str(network.pk), "count": 1500, "kind": "campaign", "max_uses": 5, "role": "member"},
    )
    assert response.status_code == 302 and "?job=" in response["Location"]
    job = response["Location"].split("job=")[1]
    progress = staff.get(reverse("admin:invites_invitecode_progress", args=[job])).json()
    assert progress == {"done": 1500, "total": 1500, "state": "done"}  # eager Celery in tests
    assert InviteCode.objects.filter(kind="campaign", max_uses=5).count() == 1500
    assert b"<progress" in staff.get(response["Location"]).content


def test_campaign_actions_go_through_the_state_machine(staff, network):
    campaign = CampaignFactory(network=network, status="sending")
    staff.post("/admin/mailing/emailcampaign/", {"action": "pause", "_selected_action": [str(campaign.pk)]})
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    response = staff.post(
        "/admin/mailing/emailcampaign/",
        {"action": "pause", "_selected_action": [str(campaign.pk)]},
        follow=True,
    )
    assert b"invalid_state" in response.content


def test_suppression_csv_import(staff, network):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_file = SimpleUploadedFile(
        "s.csv", b"email\nA@Example.com\nnot-an-address\nb@example.com\n", "text/csv"
    )
    response = staff.post(
        reverse("admin:mailing_emailsuppression_import"),
        {"network": str(network.pk), "scope": "campaigns", "file": csv_file},
    )
    assert response.status_code == 302
    assert sorted(EmailSuppression.objects.values_list("email", flat=True)) == [
        "a@example.com",
        "b@example.com",
    ]


def test_staff_create_a_campaign_and_a_wave_through_the_services(staff, network):
    from apps.mailing.models import EmailCampaign

    response = staff.post(
        "/admin/mailing/emailcampaign/add/",
        {
            "network": str(network.pk),
            "name": "From the admin",
            "kind": "product",
            "subject": "Hi {{ name }}",
            "from_email": "news@colony.local",
            "html_body": "<p>x</p>",
            "audience": '{"source": "users"}',
            "rate_per_second": 10,
            "batch_size": 100,
            "max_error_ratio": "0.05",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert EmailCampaign.objects.get(name="From the admin").status == "draft"
    response = staff.post(
        "/admin/invites/invitewaveconfig/add/",
        {
            "network": str(network.pk),
            "name": "Admin wave",
            "scheduled_at_0": "2099-01-01",
            "scheduled_at_1": "00:00:00",
            "invite_count": 3,
            "codes_per_user": 0,
            "code_max_uses": 1,
            "code_ttl_days": 14,
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert InviteWaveConfig.objects.get(name="Admin wave").wave_number == 1
