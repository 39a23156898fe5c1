"""The campaign pipeline into a real SES HTTP endpoint (moto server): freeze, rate-limited batches, never twice."""

from __future__ import annotations

import email
import http.server
import json
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.ratelimit import take_tokens
from apps.mailing import services
from apps.mailing.models import EmailCampaign, EmailSend
from tests.accounts.factories import AgentFactory, UserFactory
from tests.invites.factories import WaitlistFactory

from .factories import CampaignFactory, SuppressionFactory, opted_in_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.SES_MAX_SEND_RATE = 1000
    settings.MAILING_SEND_CONCURRENCY = 2


@pytest.fixture
def admin(network):
    return UserFactory(network=network, network_role="admin")


def _run(campaign, actor, capture):
    with capture(execute=True):
        services.send_campaign_now(actor=actor, campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def test_campaign_goes_once_to_each_active_human_minus_suppressed(
    moto_ses, network, other_network, admin, django_capture_on_commit_callbacks
):
    people = [UserFactory(network=network) for _ in range(7)]
    UserFactory(network=network, is_active=False)
    UserFactory(network=network, suspended_until=timezone.now() + timedelta(days=1))
    AgentFactory(network=network, agent_owner_user=admin)
    UserFactory(network=other_network)
    SuppressionFactory(network=network, email=people[0].email, scope="campaigns")
    SuppressionFactory(network=network, email=people[1].email, scope="all", reason="hard_bounce")
    campaign = CampaignFactory(network=network, created_by=admin, batch_size=3)

    campaign = _run(campaign, admin, django_capture_on_commit_callbacks)

    expected = sorted([p.email for p in people[2:]] + [admin.email])
    assert sorted(moto_ses.recipients()) == expected  # each exactly once, no suppressed address
    assert campaign.status == "sent" and campaign.finished_at is not None
    assert (campaign.recipient_count, campaign.sent_count, campaign.suppressed_count) == (6, 6, 2)
    assert moto_ses.sent_count() == 6
    assert EmailSend.objects.filter(campaign=campaign, status="suppressed").count() == 2
    assert not EmailSend.objects.filter(campaign=campaign, status="suppressed", ses_message_id__isnull=False)


def test_marketing_campaign_goes_only_to_users_who_opted_in(
    moto_ses, network, admin, django_capture_on_commit_callbacks
):
    opted = [opted_in_user(network) for _ in range(3)]
    UserFactory(network=network)  # no settings row: not opted in
    campaign = CampaignFactory(network=network, created_by=admin, kind="marketing")
    _run(campaign, admin, django_capture_on_commit_callbacks)
    assert sorted(moto_ses.recipients()) == sorted(u.email for u in opted)


def test_each_message_carries_one_click_unsubscribe_headers_and_its_variables(
    moto_ses, network, admin, django_capture_on_commit_callbacks
):
    UserFactory(network=network, display_name="Ada Lovelace", email="ada@example.com")
    campaign = CampaignFactory(
        network=network,
        created_by=admin,
        subject="Hi {{ first_name }}",
        preheader="News for {{ name }}",
        html_body="<p>Hello {{ name }} <a href='{{ unsubscribe_url }}'>stop</a></p>",
        audience={"source": "users", "roles": ["member"]},
    )
    _run(campaign, admin, django_capture_on_commit_callbacks)
    [raw] = [m["raw_data"] for m in moto_ses.messages() if "ada@example.com" in m["destinations"]]
    message = email.message_from_string(raw)
    assert message["Subject"] == "Hi Ada"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    post_url, mailto = [part.strip(" <>") for part in message["List-Unsubscribe"].split(",")]
    assert post_url.startswith("http") and "/api/v1/email-unsubscribe/" in post_url
    assert mailto.startswith("mailto:unsubscribe@")
    html = (
        next(p for p in message.walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    text = (
        next(p for p in message.walk() if p.get_content_type() == "text/plain")
        .get_payload(decode=True)
        .decode()
    )
    assert "Hello Ada Lovelace" in html and "News for Ada Lovelace" in html and "/unsubscribe/" in html
    assert "Hello Ada Lovelace" in text  # derived from the HTML


def test_waitlist_audience_gets_confirmed_entries_only(
    moto_ses, network, admin, django_capture_on_commit_callbacks
):
    confirmed = [WaitlistFactory(network=network) for _ in range(3)]
    WaitlistFactory(network=network, email_verified_at=None)
    WaitlistFactory(network=network, status="joined")
    campaign = CampaignFactory(network=network, created_by=admin, audience={"source": "waitlist"})
    _run(campaign, admin, django_capture_on_commit_callbacks)
    assert sorted(moto_ses.recipients()) == sorted(e.email for e in confirmed)


def test_freezing_a_batch_twice_inserts_nothing_twice(network, admin):
    for _ in range(5):
        UserFactory(network=network)
    campaign = CampaignFactory(network=network, created_by=admin, status="sending")
    first = services.freeze_step(campaign_id=campaign.pk, batch=4)
    assert (first.queued, first.done) == (4, False)
    EmailCampaign.objects.filter(pk=campaign.pk).update(audience_cursor=None)  # a retry from the start
    again = services.freeze_step(campaign_id=campaign.pk, batch=4)
    assert again.queued == 0  # ON CONFLICT DO NOTHING
    last = services.freeze_step(campaign_id=campaign.pk, batch=4)
    assert last.done and last.queued == 2
    campaign.refresh_from_db()
    assert campaign.recipient_count == 6 == EmailSend.objects.filter(campaign=campaign).count()
    assert services.freeze_step(campaign_id=campaign.pk) is None


def _frozen(network, admin, count: int, **kwargs) -> EmailCampaign:
    for _ in range(count - 1):  # the admin is a recipient too
        UserFactory(network=network)
    campaign = CampaignFactory(network=network, created_by=admin, status="sending", **kwargs)
    while not services.freeze_step(campaign_id=campaign.pk).done:
        pass
    return campaign


def test_a_redelivered_batch_sends_nothing_twice(moto_ses, network, admin):
    campaign = _frozen(network, admin, 6, batch_size=4)
    first = services.send_batch(campaign_id=campaign.pk, claim="task-1")
    again = services.send_batch(campaign_id=campaign.pk, claim="task-1")  # the same message delivered again
    assert (first.sent, again.sent) == (4, 2)
    recipients = moto_ses.recipients()
    assert len(recipients) == len(set(recipients)) == 6


def test_a_row_started_before_the_worker_died_is_failed_never_resent(moto_ses, network, admin):
    campaign = _frozen(network, admin, 5, batch_size=5)
    # the dead worker: it claimed the batch and handed the first row to SES, then died
    rows = list(EmailSend.objects.filter(campaign=campaign).order_by("id"))
    EmailSend.objects.filter(campaign=campaign).update(
        status="sending", claimed_by="dead", claimed_at=timezone.now()
    )
    EmailSend.objects.filter(pk=rows[0].pk).update(send_started_at=timezone.now())

    result = services.send_batch(campaign_id=campaign.pk, claim="dead")  # late ack: the batch is retried

    assert result.sent == 4 and result.failed == 1
    assert rows[0].email not in moto_ses.recipients()
    assert sorted(moto_ses.recipients()) == sorted(r.email for r in rows[1:])
    failed = EmailSend.objects.get(pk=rows[0].pk)
    assert failed.status == "failed" and "not re-sent" in failed.error


def test_reclaiming_requeues_unstarted_rows_and_fails_started_ones(network, admin):
    campaign = _frozen(network, admin, 3)
    rows = list(EmailSend.objects.filter(campaign=campaign).order_by("id"))
    old = timezone.now() - timedelta(minutes=30)
    EmailSend.objects.filter(campaign=campaign).update(status="sending", claimed_by="gone", claimed_at=old)
    EmailSend.objects.filter(pk=rows[0].pk).update(send_started_at=old)
    requeued, failed = services.reclaim_stuck(campaign_id=campaign.pk, older_than=timedelta(minutes=10))
    assert (requeued, failed) == (2, 1)
    assert EmailSend.objects.get(pk=rows[0].pk).status == "failed"
    assert set(
        EmailSend.objects.filter(pk__in=[r.pk for r in rows[1:]]).values_list("status", flat=True)
    ) == {"queued"}


def test_finalize_restarts_a_campaign_whose_sender_died(
    moto_ses, network, admin, django_capture_on_commit_callbacks
):
    campaign = _frozen(network, admin, 4)
    EmailSend.objects.filter(campaign=campaign).update(
        status="sending", claimed_by="gone", claimed_at=timezone.now() - timedelta(minutes=30)
    )
    stats = services.finalize_campaigns()
    campaign.refresh_from_db()
    assert stats["requeued"] == 4 and stats["kicked"] == 1
    assert campaign.status == "sent" and len(moto_ses.recipients()) == 4


def test_pause_stops_mid_campaign_and_resume_sends_the_rest(
    moto_ses, network, admin, django_capture_on_commit_callbacks
):
    campaign = _frozen(network, admin, 6, batch_size=2)
    assert services.send_batch(campaign_id=campaign.pk, claim="a").sent == 2
    services.pause_campaign(actor=admin, campaign=campaign)
    assert services.send_batch(campaign_id=campaign.pk, claim="b").state == "stopped"
    assert len(moto_ses.recipients()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_campaign(actor=admin, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    recipients = moto_ses.recipients()
    assert len(recipients) == len(set(recipients)) == 6


def test_error_ratio_above_the_maximum_pauses_the_campaign(
    moto_ses, network, admin, settings, django_capture_on_commit_callbacks
):
    settings.MAILING_FROM_DOMAINS = ["colony.local", "unverified.example"]
    settings.MAILING_ERROR_RATIO_MIN_SAMPLE = 3
    campaign = _frozen(network, admin, 8, batch_size=3, from_email="news@unverified.example")
    result = services.send_batch(campaign_id=campaign.pk, claim="a")
    campaign.refresh_from_db()
    assert result.paused and campaign.status == "paused"
    assert "error ratio" in campaign.paused_reason
    assert campaign.failed_count == 3 and moto_ses.recipients() == []
    assert services.send_batch(campaign_id=campaign.pk, claim="b").state == "stopped"


def test_a_recipient_suppressed_after_freezing_is_not_sent(moto_ses, network, admin):
    campaign = _frozen(network, admin, 3)
    late = EmailSend.objects.filter(campaign=campaign).order_by("id").first()
    SuppressionFactory(network=network, email=late.email, scope="campaigns", reason="unsubscribe")
    services.send_batch(campaign_id=campaign.pk, claim="a")
    assert late.email not in moto_ses.recipients() and len(moto_ses.recipients()) == 2
    assert EmailSend.objects.get(pk=late.pk).status == "suppressed"


def test_cancel_cancels_queued_rows(network, admin):
    campaign = _frozen(network, admin, 3)
    services.cancel_campaign(actor=admin, campaign=campaign)
    assert set(EmailSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"cancelled"}
    assert services.send_batch(campaign_id=campaign.pk, claim="a").state == "stopped"


@pytest.fixture
def throttling_ses(settings):
    """An SES v2 endpoint that throttles the first request, then accepts (the network boundary only)."""
    calls: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.path)
            if len(calls) == 1:
                body, code = (
                    {"__type": "TooManyRequestsException", "message": "Maximum sending rate exceeded."},
                    429,
                )
            else:
                body, code = {"MessageId": f"stub-{len(calls)}"}, 200
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-ErrorType", body.get("__type", ""))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AWS_SES_ENDPOINT_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "testing"
    yield calls
    server.shutdown()


def test_ses_throttling_requeues_the_rest_of_the_batch(throttling_ses, network, admin):
    campaign = _frozen(network, admin, 3)
    first = services.send_batch(campaign_id=campaign.pk, claim="a")
    assert first.state == "throttled" and first.sent == 0
    assert set(EmailSend.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"queued"}
    second = services.send_batch(campaign_id=campaign.pk, claim="b")
    assert second.sent == 3 and len(throttling_ses) == 4


def test_token_buckets_are_taken_all_or_nothing():
    buckets = [("t:narrow", 2, 1.0), ("t:wide", 5, 1.0)]
    assert take_tokens(buckets)[0] and take_tokens(buckets)[0]
    allowed, wait = take_tokens(buckets)
    assert not allowed and 0 < wait <= 1.0
    # the wide bucket kept its tokens: 3 are left for another narrow bucket sharing it
    other = [("t:narrow-2", 10, 1.0), ("t:wide", 5, 1.0)]
    assert [take_tokens(other)[0] for _ in range(4)] == [True, True, True, False]
