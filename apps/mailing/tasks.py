"""Celery tasks of the mailing domain: thin wrappers over ``services``.

``send_batch`` chains itself (one chain per ``MAILING_SEND_CONCURRENCY``):
each run claims a batch, sends it, and enqueues the next run — at once when
rows remain, after a backoff when SES or the token bucket throttles, after a
second while the audience is still being frozen. Late acks (settings) mean a
worker killed mid-batch gets its message redelivered; the claim id is the
task id, so the retry resumes exactly the rows it had not yet handed to SES.
"""

from __future__ import annotations

from typing import Any

import httpx
from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, transaction

from . import services
from .models import CampaignStatus, EmailCampaign

_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": True, "max_retries": 5}


def kick_senders(campaign: EmailCampaign | Any) -> None:
    campaign_id = str(getattr(campaign, "pk", campaign))
    for _ in range(max(1, settings.MAILING_SEND_CONCURRENCY)):
        send_batch.delay(campaign_id)


def kick_senders_on_commit(campaign: EmailCampaign | Any) -> None:
    transaction.on_commit(lambda: kick_senders(campaign))


@shared_task(name="mailing.start_due_campaigns", ignore_result=True, **_RETRY)
def start_due_campaigns() -> int:
    return services.start_due_campaigns()


@shared_task(name="mailing.freeze_audience", ignore_result=True, **_RETRY)
def freeze_audience(campaign_id: str) -> int:
    """Freeze the audience batch by batch; the senders start after the first batch."""
    queued = 0
    kicked = False
    while True:
        step = services.freeze_step(campaign_id=campaign_id)
        if step is None:
            break
        queued += step.queued
        if not kicked and (step.queued or step.done):
            kick_senders(campaign_id)
            kicked = True
        if step.done:
            break
    if not kicked:  # frozen earlier (a retried task): make sure someone sends or finishes
        kick_senders(campaign_id)
    return queued


@shared_task(name="mailing.send_batch", bind=True, ignore_result=True, **_RETRY)
def send_batch(self, campaign_id: str, throttles: int = 0) -> str:
    result = services.send_batch(campaign_id=campaign_id, claim=self.request.id or "eager")
    if result.state == "more":
        send_batch.delay(campaign_id)
    elif result.state == "throttled":
        countdown = min(60.0, max(result.retry_in, 2.0 ** min(throttles, 6)))
        send_batch.apply_async((campaign_id,), {"throttles": throttles + 1}, countdown=countdown)
    elif result.state == "idle":
        frozen = EmailCampaign.objects.filter(
            pk=campaign_id, status=CampaignStatus.SENDING, audience_frozen_at__isnull=False
        ).exists()
        if frozen:
            services.finish_if_complete(campaign_id=campaign_id)
        elif EmailCampaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).exists():
            send_batch.apply_async((campaign_id,), countdown=1)
    return result.state


@shared_task(name="mailing.finalize_campaigns", ignore_result=True, **_RETRY)
def finalize_campaigns() -> dict[str, int]:
    return services.finalize_campaigns()


@shared_task(
    name="mailing.process_ses_event",
    ignore_result=True,
    autoretry_for=(DatabaseError, httpx.HTTPError),
    retry_backoff=True,
    max_retries=6,
)
def process_ses_event(webhook_id: str) -> str:
    return services.process_ses_event(webhook_id=webhook_id)


@shared_task(name="mailing.expire_suppressions", ignore_result=True, **_RETRY)
def expire_suppressions() -> int:
    return services.expire_suppressions()


@shared_task(name="mailing.send_test_message", ignore_result=True)
def send_test_message(campaign_id: str, email: str, actor_id: str) -> str:
    from .services.sending import send_test

    return send_test(campaign_id=campaign_id, email=email, actor_id=actor_id)
