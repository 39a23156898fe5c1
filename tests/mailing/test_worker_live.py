"""A real Celery worker is killed (SIGKILL) mid-campaign; a second worker finishes it: nobody gets the mail twice.

The campaign runs into moto's SES over HTTP. The first worker dies inside a
batch; its message was never acknowledged (late acks), so the broker hands it
to the second worker, whose retry of the batch resumes exactly the rows the
dead one had not handed to SES. moto's own record of accepted messages
(``/moto-api/data.json``) is the witness.
"""

from __future__ import annotations

from collections import Counter

import pytest

from apps.mailing import services
from apps.mailing.models import EmailCampaign, EmailSend
from tests.accounts.factories import UserFactory
from tests.live import CeleryWorker, wait_for

from .conftest import ses_environment
from .factories import CampaignFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 40


@pytest.fixture
def live_env(moto_ses, monkeypatch, settings):
    """The worker processes read these from their environment."""
    env = {
        **ses_environment(moto_ses.endpoint),
        "SES_MAX_SEND_RATE": "1000",
        "MAILING_SEND_CONCURRENCY": "1",
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.MAILING_SEND_CONCURRENCY = 1
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield moto_ses
    app.conf.task_always_eager = previous


def _sent(campaign_id) -> int:
    return EmailSend.objects.filter(campaign_id=campaign_id, sent_at__isnull=False).count()


def test_a_worker_killed_mid_campaign_never_sends_anyone_twice(live_env, network):
    moto_ses = live_env
    admin = UserFactory(network=network, network_role="admin")
    for _ in range(RECIPIENTS - 1):
        UserFactory(network=network)
    # 8 messages a second in batches of 20: the first worker is surely mid-batch when it dies
    campaign = CampaignFactory(network=network, created_by=admin, rate_per_second=8, batch_size=20)

    first = CeleryWorker("doomed").start()
    second = None
    try:
        services.send_campaign_now(actor=admin, campaign=campaign)  # on commit → the broker
        wait_for(lambda: _sent(campaign.pk) >= 5, timeout=60, message="the first sends")
        first.kill()
        before = _sent(campaign.pk)
        assert before < RECIPIENTS, "the worker finished before it could be killed"
        in_flight = EmailSend.objects.filter(campaign=campaign, status="sending").count()
        assert in_flight > 0  # killed with claimed rows of a batch

        second = CeleryWorker("rescuer").start()
        wait_for(
            lambda: EmailCampaign.objects.get(pk=campaign.pk).status == "sent",
            timeout=90,
            message="the second worker to finish the campaign",
        )
    finally:
        first.kill()
        if second is not None:
            second.stop()

    recipients = moto_ses.recipients()
    duplicates = [address for address, n in Counter(recipients).items() if n > 1]
    assert duplicates == []
    rows = EmailSend.objects.filter(campaign=campaign)
    sent = set(rows.filter(sent_at__isnull=False).values_list("email", flat=True))
    # at most the one row the dead worker had handed to SES is "failed" (delivery unknown), never re-sent
    unknown = set(rows.filter(status="failed").values_list("email", flat=True))
    assert len(unknown) <= 1
    assert sent <= set(recipients) <= sent | unknown
    assert len(sent) + len(unknown) == RECIPIENTS
    campaign.refresh_from_db()
    assert campaign.sent_count == len(sent)
