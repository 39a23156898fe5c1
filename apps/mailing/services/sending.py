"""The sender: claim a batch, send each row through SES under the shared rate, never twice.

A row's life in the sender (every step one conditional UPDATE, committed):

1. **claim** — ``batch_size`` queued rows ``FOR UPDATE SKIP LOCKED`` →
   ``sending`` with ``claimed_by`` = the Celery task id. A redelivered task
   (late acks: the worker died, the message came back) has the same id and
   resumes its own claimed rows first.
2. **start** — just before the SES call: ``send_started_at`` set ``WHERE
   status = 'sending' AND claimed_by = me AND send_started_at IS NULL`` and the
   campaign is still ``sending``. 0 rows → skip (cancelled, paused, or another
   attempt got there).
3. **result** — ``sent`` + SES message id; or back to ``queued`` (throttled,
   connection refused: certainly not sent); or ``failed``. The result of one
   row and the start of the next are one statement (``_STEP_SQL``): one commit
   per message, and every start is durable before its SES call.

A row that was started but has no result (the worker died during the SES
call) is ambiguous: it is marked ``failed`` ("interrupted mid-send") and never
sent again. Rows claimed but never started are safe and go back to
``queued`` (``finalize_campaigns``). So a recipient gets the message at most
once, whatever dies when.

Rate: every message takes a token from two Redis buckets at once (one Lua
call, up to 10 tokens per call at high rates): the campaign's
``rate_per_second`` and the account-wide ``SES_MAX_SEND_RATE``, shared by all
workers.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from html import unescape
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.core.ratelimit import take_tokens
from apps.core.tokens import hash_token

from .. import selectors, ses, templating
from ..models import (
    CampaignStatus,
    EmailCampaign,
    EmailSend,
    EmailUnsubscribeToken,
    SendStatus,
    SuppressionScope,
)

logger = logging.getLogger(__name__)

#: longest the sender waits for tokens inside a task before re-queuing itself
MAX_INLINE_WAIT = 2.0
SENDS = EmailSend._meta.db_table
CAMPAIGNS = EmailCampaign._meta.db_table

_CLAIM_SQL = f"""
WITH c AS (
    SELECT id FROM {SENDS} WHERE campaign_id = %s AND status = 'queued'
     ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE {SENDS} s SET status = 'sending', claimed_by = %s, claimed_at = now(), updated_at = now()
  FROM c WHERE s.id = c.id
RETURNING s.id, s.email, s.user_id, s.waitlist_entry_id
"""  # noqa: S608
# One statement, one commit: record the result of the row just sent (``fin``) and mark the next
# row handed to SES (``nxt``) — the start marker is durable before its SES call, and a message
# costs one WAL flush. ``nxt`` holds only while the row is still this claim's and unstarted and
# the campaign still ``sending`` (the state check before every send).
_STEP_SQL = f"""
WITH fin AS (
    UPDATE {SENDS}
       SET status = %(status)s::text, ses_message_id = %(message_id)s::text, error = %(error)s::text,
           sent_at = CASE WHEN %(status)s::text = 'sent' THEN now() ELSE sent_at END, updated_at = now()
     WHERE id = %(finish)s::uuid AND status = 'sending'
    RETURNING 1
), nxt AS (
    UPDATE {SENDS} SET send_started_at = now(), attempts = attempts + 1, updated_at = now()
     WHERE id = %(start)s::uuid AND status = 'sending' AND claimed_by = %(claim)s::text
       AND send_started_at IS NULL
       AND EXISTS (SELECT 1 FROM {CAMPAIGNS} c WHERE c.id = %(campaign)s::uuid AND c.status = 'sending')
    RETURNING 1
)
SELECT (SELECT count(*) FROM fin), (SELECT count(*) FROM nxt)
"""  # noqa: S608
_RELEASE_SQL = f"""
UPDATE {SENDS} SET status = 'queued', claimed_by = NULL, claimed_at = NULL, send_started_at = NULL, updated_at = now()
 WHERE id = ANY(%s) AND status = 'sending'
"""  # noqa: S608


@dataclass
class BatchResult:
    state: str  # "more" | "idle" | "stopped" | "throttled"
    sent: int = 0
    failed: int = 0
    retry_in: float = 0.0
    paused: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    id: Any
    email: str
    user_id: Any
    entry_id: Any


# --- unsubscribe links ----------------------------------------------------------------


def unsubscribe_token(send_id: Any) -> str:
    """Deterministic per send (HMAC with SECRET_KEY), so a retried batch mails the same link."""
    digest = salted_hmac("colony.mailing.unsubscribe", str(send_id), algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


_MARK = "__unsubscribe_token__"


@lru_cache(maxsize=4)
def _url_parts(name: str, site_url: str) -> tuple[str, str]:
    """(before, after) the token in the route's URL: resolved once, not per message."""
    before, _, after = (site_url + reverse(name, args=[_MARK])).partition(_MARK)
    return before, after


def unsubscribe_post_url(token: str) -> str:
    before, after = _url_parts("email-unsubscribe", settings.SITE_URL)
    return f"{before}{token}{after}"


def unsubscribe_page_url(token: str) -> str:
    before, after = _url_parts("unsubscribe-page", settings.SITE_URL)
    return f"{before}{token}{after}"


def unsubscribe_mailto() -> str:
    if settings.MAILING_UNSUBSCRIBE_MAILTO:
        return settings.MAILING_UNSUBSCRIBE_MAILTO
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >")
    return f"unsubscribe@{domain}"


def _ensure_tokens(campaign: EmailCampaign, rows: list[Row]) -> dict[Any, str]:
    tokens = {row.id: unsubscribe_token(row.id) for row in rows}
    expires = timezone.now() + timedelta(days=settings.MAILING_UNSUBSCRIBE_TOKEN_DAYS)
    EmailUnsubscribeToken.objects.bulk_create(
        [
            EmailUnsubscribeToken(
                network_id=campaign.network_id,
                token_hash=hash_token(tokens[row.id]),
                email=row.email,
                user_id=row.user_id,
                campaign=campaign,
                send_id=row.id,
                scope=SuppressionScope.CAMPAIGNS,
                expires_at=expires,
            )
            for row in rows
        ],
        ignore_conflicts=True,
    )
    return tokens


# --- content --------------------------------------------------------------------------


def _recipient_values(campaign: EmailCampaign, rows: list[Row]) -> dict[Any, dict[str, str]]:
    from apps.accounts.models import User
    from apps.invites.models import InviteWaitlist

    users = {
        pk: (display_name or handle, handle)
        for pk, display_name, handle in User.objects.filter(
            pk__in=[r.user_id for r in rows if r.user_id]
        ).values_list("pk", "display_name", "handle")
    }
    entries = dict(
        InviteWaitlist.objects.filter(pk__in=[r.entry_id for r in rows if r.entry_id]).values_list(
            "pk", "name"
        )
    )
    network_name = campaign.network.name
    values: dict[Any, dict[str, str]] = {}
    for row in rows:
        name, handle = users.get(row.user_id, (entries.get(row.entry_id, ""), ""))
        values[row.id] = {
            "email": row.email,
            "name": name or "",
            "first_name": (name or "").split(" ", 1)[0],
            "handle": handle or "",
            "network_name": network_name,
        }
    return values


def _with_preheader(html: str, preheader: str) -> str:
    if not preheader or not html:
        return html
    hidden = f'<div style="display:none;max-height:0;overflow:hidden;opacity:0">{preheader}</div>'
    lower = html.lower()
    at = lower.find("<body")
    if at >= 0:
        end = html.find(">", at)
        if end >= 0:
            return html[: end + 1] + hidden + html[end + 1 :]
    return hidden + html


def _templates(campaign: EmailCampaign) -> tuple[str, str]:
    """(html, text) templates of a campaign, prepared once per process: the text is derived from the
    HTML when blank, and both end with the unsubscribe link when the author left it out."""
    cached = getattr(campaign, "_prepared_templates", None)
    if cached is None:
        html = campaign.html_body or ""
        text = campaign.text_body or unescape(templating.text_from_html(html))
        if html and "unsubscribe_url" not in html:
            html += '<p style="font-size:12px;color:#666"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        if "unsubscribe_url" not in text:
            text += "\n\n--\nUnsubscribe: {{ unsubscribe_url }}\n"
        cached = campaign._prepared_templates = (html, text)
    return cached


def render_message(campaign: EmailCampaign, *, to: str, values: dict[str, str], token: str) -> bytes:
    values = {**values, "unsubscribe_url": unsubscribe_page_url(token)}
    html_template, text_template = _templates(campaign)
    html = templating.render(html_template, values, html=True)
    text = templating.render(text_template, values)
    html = _with_preheader(html, templating.render(campaign.preheader, values, html=True))
    return ses.build_message(
        from_name=campaign.from_name,
        from_email=campaign.from_email,
        to=to,
        subject=templating.render(campaign.subject, values),
        text=text,
        html=html,
        reply_to=campaign.reply_to_email,
        unsubscribe_post_url=unsubscribe_post_url(token),
        unsubscribe_mailto=unsubscribe_mailto(),
    )


# --- the batch ------------------------------------------------------------------------


def _claim(campaign: EmailCampaign, claim: str) -> tuple[list[Row], int]:
    """(rows to send, interrupted rows failed): this claim's own unstarted rows first, then new ones."""
    interrupted = EmailSend.objects.filter(
        campaign=campaign, claimed_by=claim, status=SendStatus.SENDING, send_started_at__isnull=False
    ).update(
        status=SendStatus.FAILED,
        error="interrupted mid-send; not re-sent (delivery unknown)",
        updated_at=timezone.now(),
    )
    own = [
        Row(*values)
        for values in EmailSend.objects.filter(
            campaign=campaign, claimed_by=claim, status=SendStatus.SENDING, send_started_at__isnull=True
        )
        .order_by("id")
        .values_list("id", "email", "user_id", "waitlist_entry_id")
    ]
    room = max(0, campaign.batch_size - len(own))
    new: list[Row] = []
    if room:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [campaign.pk, room, claim])
            new = [Row(*values) for values in cursor.fetchall()]
        new.sort(key=lambda r: r.id)
    rows = own + new
    # suppressed since the audience was frozen (a bounce or an unsubscribe meanwhile): never sent
    late = set(
        EmailSend.objects.filter(
            pk__in=[r.id for r in rows],
            email__in=selectors.live_suppressions(campaign.network_id).values("email"),
        ).values_list("pk", flat=True)
    )
    if late:
        EmailSend.objects.filter(pk__in=late, status=SendStatus.SENDING).update(
            status=SendStatus.SUPPRESSED, claimed_by=None, updated_at=timezone.now()
        )
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            suppressed_count=F("suppressed_count") + len(late)
        )
        rows = [r for r in rows if r.id not in late]
    return rows, interrupted


def _release(ids: list[Any]) -> None:
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [list(ids)])


def _buckets(campaign: EmailCampaign) -> list[tuple[str, int, float]]:
    rate = max(1, int(campaign.rate_per_second))
    account = max(1, int(settings.SES_MAX_SEND_RATE))
    return [(f"ses:campaign:{campaign.pk}", rate, float(rate)), ("ses:account", account, float(account))]


def send_batch(*, campaign_id: Any, claim: str) -> BatchResult:
    campaign = EmailCampaign.objects.select_related("network").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return BatchResult("stopped")
    rows, interrupted = _claim(campaign, claim)
    result = BatchResult("more", failed=interrupted)
    if not rows:
        _count(campaign, result)
        more = EmailSend.objects.filter(campaign=campaign, status=SendStatus.QUEUED).exists()
        return BatchResult("more" if more else "idle", failed=interrupted)
    tokens = _ensure_tokens(campaign, rows)
    values = _recipient_values(campaign, rows)
    buckets = _buckets(campaign)
    tags = {"campaign": str(campaign.pk)}
    configuration_set = campaign.ses_configuration_set or settings.SES_CONFIGURATION_SET or None
    chunk = max(1, min(10, int(campaign.rate_per_second) // 10))  # tokens taken per Redis call
    tokens_left = 0
    finish: dict[str, Any] = {"finish": None, "status": "sent", "message_id": None, "error": ""}
    with connection.cursor() as cursor:

        def step(start: Any) -> bool:
            cursor.execute(_STEP_SQL, {**finish, "start": start, "claim": claim, "campaign": campaign.pk})
            finish.update(finish=None, message_id=None, error="")
            return cursor.fetchone()[1] == 1

        for index, row in enumerate(rows):
            if tokens_left == 0:
                want = min(chunk, len(rows) - index)
                allowed, wait = take_tokens(buckets, cost=want)
                while not allowed:
                    if wait > MAX_INLINE_WAIT:
                        step(None)
                        _release([r.id for r in rows[index:]])
                        result.state, result.retry_in = "throttled", wait
                        _count(campaign, result)
                        return result
                    time.sleep(wait)
                    allowed, wait = take_tokens(buckets, cost=want)
                tokens_left = want
            tokens_left -= 1
            if not step(row.id):
                if EmailCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists():
                    continue  # this row was cancelled or taken: skip it
                _release([r.id for r in rows[index:]])
                result.state = "stopped"
                break
            raw = render_message(campaign, to=row.email, values=values[row.id], token=tokens[row.id])
            outcome = ses.send_raw(
                from_email=campaign.from_email,
                to=row.email,
                raw=raw,
                configuration_set=configuration_set,
                tags={**tags, "send": str(row.id)},
            )
            if outcome.outcome is ses.Outcome.SENT:
                finish.update(finish=row.id, status="sent", message_id=outcome.message_id)
                result.sent += 1
            elif outcome.outcome in (ses.Outcome.THROTTLED, ses.Outcome.NOT_SENT, ses.Outcome.ACCOUNT):
                _release([r.id for r in rows[index:]])  # certainly not sent: this row too
                result.errors.append(outcome.error)
                if outcome.outcome is ses.Outcome.ACCOUNT:
                    result.state, result.paused = "stopped", True
                    _count(campaign, result)
                    pause_for(
                        campaign_id=campaign.pk, reason=f"SES refused the sender: {outcome.error}"[:200]
                    )
                    return result
                result.state, result.retry_in = "throttled", 1.0
                break
            else:
                finish.update(finish=row.id, status="failed", error=outcome.error or outcome.outcome.value)
                result.failed += 1
        if finish["finish"] is not None:
            step(None)
    _count(campaign, result)
    if check_error_ratio(campaign_id=campaign.pk):
        result.state, result.paused = "stopped", True
    return result


def _count(campaign: EmailCampaign, result: BatchResult) -> None:
    if result.sent or result.failed:
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            sent_count=F("sent_count") + result.sent,
            failed_count=F("failed_count") + result.failed,
            updated_at=timezone.now(),
        )


# --- error ratio, pausing, finishing ----------------------------------------------------


def error_ratio(campaign: EmailCampaign) -> tuple[float, int]:
    attempts = campaign.sent_count + campaign.failed_count
    errors = campaign.failed_count + campaign.bounced_count + campaign.complained_count
    return (errors / attempts if attempts else 0.0), attempts


def check_error_ratio(*, campaign_id: Any) -> bool:
    """Pause (and tell the creator) when the error ratio exceeds the campaign's maximum; True if paused."""
    campaign = EmailCampaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).first()
    if campaign is None:
        return False
    ratio, attempts = error_ratio(campaign)
    if attempts < settings.MAILING_ERROR_RATIO_MIN_SAMPLE or ratio <= float(campaign.max_error_ratio):
        return False
    return pause_for(
        campaign_id=campaign.pk,
        reason=f"error ratio {ratio:.3f} above the maximum {campaign.max_error_ratio}",
    )


@transaction.atomic
def pause_for(*, campaign_id: Any, reason: str) -> bool:
    """sending → paused by the system; the creator gets an inbox item (on commit)."""
    updated = EmailCampaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.PAUSED, paused_reason=reason[:200], updated_at=timezone.now()
    )
    if not updated:
        return False
    campaign = EmailCampaign.objects.select_related("created_by").get(pk=campaign_id)
    if campaign.created_by is not None:
        from apps.inbox.services import deliver_inbox_item

        deliver_inbox_item(
            recipient=campaign.created_by,
            kind="system",
            target_type="email_campaign",
            target_id=campaign.pk,
            title=f"Campaign “{campaign.name}” was paused",
            body=reason,
            data={
                "event": "campaign_paused",
                "reason": reason,
                "sent": campaign.sent_count,
                "failed": campaign.failed_count,
            },
            requires_action=True,
        )
    return True


def finish_if_complete(*, campaign_id: Any) -> bool:
    """sending → sent once the audience is frozen and nothing is queued or in flight."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {CAMPAIGNS} SET status = 'sent', finished_at = now(), updated_at = now()
             WHERE id = %s AND status = 'sending' AND audience_frozen_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM {SENDS} WHERE campaign_id = %s AND status IN ('queued', 'sending'))
            """,  # noqa: S608
            [campaign_id, campaign_id],
        )
        finished = cursor.rowcount == 1
    if finished:
        recount(campaign_id=campaign_id)
    return finished


def recount(*, campaign_id: Any) -> None:
    """Repair sent/failed drift from the rows (a worker that died before counting); never backwards."""
    counts = EmailSend.objects.filter(campaign_id=campaign_id).aggregate(
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        failed=Count("id", filter=Q(status=SendStatus.FAILED)),
    )
    EmailCampaign.objects.filter(pk=campaign_id).update(
        sent_count=Greatest(F("sent_count"), counts["sent"]),
        failed_count=Greatest(F("failed_count"), counts["failed"]),
    )


def reclaim_stuck(*, campaign_id: Any, older_than: timedelta) -> tuple[int, int]:
    """Rows left in ``sending`` by a dead sender: never started → queued; started → failed (not re-sent)."""
    cutoff = timezone.now() - older_than
    stuck = EmailSend.objects.filter(
        campaign_id=campaign_id, status=SendStatus.SENDING, claimed_at__lt=cutoff
    )
    now = timezone.now()
    cancelled = EmailCampaign.objects.filter(pk=campaign_id, status=CampaignStatus.CANCELLED).exists()
    requeued = stuck.filter(send_started_at__isnull=True).update(
        status=SendStatus.CANCELLED if cancelled else SendStatus.QUEUED,
        claimed_by=None,
        claimed_at=None,
        updated_at=now,
    )
    failed = stuck.filter(send_started_at__isnull=False).update(
        status=SendStatus.FAILED, error="interrupted mid-send; not re-sent (delivery unknown)", updated_at=now
    )
    if failed:
        EmailCampaign.objects.filter(pk=campaign_id).update(failed_count=F("failed_count") + failed)
    return requeued, failed


def finalize_campaigns(*, older_than: timedelta | None = None) -> dict[str, int]:
    """The 5-minute job: reclaim rows of dead senders, restart stalled campaigns, finish complete ones."""
    from .. import tasks

    older_than = (
        older_than if older_than is not None else timedelta(minutes=settings.MAILING_STUCK_SENDING_MINUTES)
    )
    stats = {"requeued": 0, "failed": 0, "kicked": 0, "finished": 0}
    active = (
        EmailCampaign.objects.filter(
            status__in=(CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED),
            sends__status=SendStatus.SENDING,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    reclaimed: set[Any] = set()
    for pk in list(active):
        requeued, failed = reclaim_stuck(campaign_id=pk, older_than=older_than)
        stats["requeued"] += requeued
        stats["failed"] += failed
        if requeued:
            reclaimed.add(pk)
    cutoff = timezone.now() - older_than
    for campaign in EmailCampaign.objects.filter(status=CampaignStatus.SENDING, network__status="active"):
        if finish_if_complete(campaign_id=campaign.pk):
            stats["finished"] += 1
            continue
        if campaign.audience_frozen_at is None:
            if campaign.updated_at < cutoff:
                tasks.freeze_audience.delay(str(campaign.pk))
                stats["kicked"] += 1
            continue
        stalled = (
            campaign.pk in reclaimed
            or not EmailSend.objects.filter(campaign=campaign, updated_at__gte=cutoff).exists()
        )
        if stalled and EmailSend.objects.filter(campaign=campaign, status=SendStatus.QUEUED).exists():
            tasks.kick_senders(campaign)
            stats["kicked"] += 1
    return stats


def send_test(*, campaign_id: Any, email: str, actor_id: Any) -> str:
    """A test message rendered for the actor, marked ``[TEST]``; not a send row, not counted."""
    from apps.accounts.models import User

    campaign = EmailCampaign.objects.select_related("network").filter(pk=campaign_id).first()
    actor = User.objects.filter(pk=actor_id).first()
    if campaign is None or actor is None:
        return "skipped"
    name = actor.display_name or actor.handle
    values = {
        "email": email,
        "name": name,
        "first_name": name.split(" ", 1)[0],
        "handle": actor.handle,
        "network_name": campaign.network.name,
    }
    raw = render_message(campaign, to=email, values=values, token="test")  # noqa: S106 — a placeholder link, not a secret
    raw = raw.replace(b"Subject: ", b"Subject: [TEST] ", 1)
    result = ses.send_raw(
        from_email=campaign.from_email,
        to=email,
        raw=raw,
        configuration_set=None,
        tags={"campaign": str(campaign.pk), "test": "1"},
    )
    return result.outcome.value
