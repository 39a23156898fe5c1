"""Who a campaign goes to, and freezing that audience into send rows.

Freezing runs in batches of ``MAILING_FREEZE_BATCH`` (5,000), one transaction
each, keyed on the last user/entry id (``audience_cursor``), as one
``INSERT … SELECT … ON CONFLICT (campaign, email) DO NOTHING``: re-running a
batch (a retried task) inserts nothing twice. Left out: inactive, suspended,
deleted users and agents, and — for marketing campaigns — users who have not
opted in (``UserSettings.marketing_emails``). Suppressed addresses
(``campaigns`` or ``all``, not expired) get a row in ``suppressed`` and are
counted, never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ..models import CampaignKind, CampaignStatus, EmailCampaign, EmailSend, EmailSuppression

# a time-ordered (v7-shaped) id made in SQL, for rows inserted by INSERT … SELECT
SQL_UUID7 = (
    "(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7'"
    " || substr(md5(random()::text), 1, 3) || to_hex(8 + floor(random() * 4)::int)"
    " || substr(md5(random()::text), 1, 15))::uuid"
)


@dataclass(frozen=True)
class FreezeStep:
    scanned: int
    queued: int
    suppressed: int
    done: bool


def _table(app: str, model: str) -> str | None:
    try:
        return django_apps.get_model(app, model)._meta.db_table
    except LookupError:
        return None


def _source_sql(campaign: EmailCampaign) -> tuple[str, list[Any], str]:
    """(SELECT of candidate recipients ordered by id, params, id column) for the campaign's audience."""
    audience = campaign.audience or {}
    params: list[Any] = [campaign.network_id]
    if audience.get("source") == "waitlist":
        table = _table("invites", "InviteWaitlist")
        sql = (
            f"SELECT w.id AS rid, w.email AS email, NULL::uuid AS user_id, w.id AS entry_id "  # noqa: S608
            f"FROM {table} w WHERE w.network_id = %s AND w.email_verified_at IS NOT NULL "
            "AND w.status = ANY(%s)"
        )
        params.append(list(audience.get("waitlist_status") or ["waiting"]))
        return sql, params, "w.id"
    user_table = django_apps.get_model("accounts", "User")._meta.db_table
    where = [
        "u.network_id = %s",
        "u.is_active",
        "u.state = 'active'",
        "NOT u.is_ai",
        "u.email IS NOT NULL",
        "(u.suspended_until IS NULL OR u.suspended_until <= now())",
    ]
    joins = ""
    if campaign.kind == CampaignKind.MARKETING:
        settings_table = _table("preferences", "UserSettings")
        joins = f" JOIN {settings_table} us ON us.user_id = u.id AND us.marketing_emails"
    if audience.get("roles"):
        where.append("u.network_role = ANY(%s)")
        params.append(list(audience["roles"]))
    if audience.get("joined_after"):
        where.append("u.created_at >= %s")
        params.append(audience["joined_after"])
    if audience.get("active_within_days"):
        where.append("u.last_seen_at >= now() - make_interval(days => %s)")
        params.append(int(audience["active_within_days"]))
    if audience.get("organization"):
        members = _table("organizations", "OrganizationMember")
        where.append(
            f"EXISTS (SELECT 1 FROM {members} m WHERE m.user_id = u.id "  # noqa: S608
            "AND m.organization_id = %s AND m.status = 'active')"
        )
        params.append(audience["organization"])
    if audience.get("community"):
        members = _table("social", "CommunityMember")
        if members is None:
            where.append("FALSE")
        else:
            where.append(
                f"EXISTS (SELECT 1 FROM {members} cm WHERE cm.user_id = u.id "  # noqa: S608
                "AND cm.community_id = %s AND cm.status = 'active')"
            )
            params.append(audience["community"])
    sql = (
        f"SELECT u.id AS rid, lower(u.email) AS email, u.id AS user_id, "  # noqa: S608
        f"NULL::uuid AS entry_id FROM {user_table} u{joins} WHERE " + " AND ".join(where)
    )
    return sql, params, "u.id"


def _suppressed_sql() -> str:
    table = EmailSuppression._meta.db_table
    return (
        f"EXISTS (SELECT 1 FROM {table} s WHERE s.network_id = %s AND s.email = b.email "  # noqa: S608
        "AND (s.expires_at IS NULL OR s.expires_at > now()))"
    )


def freeze_step(*, campaign_id: Any, batch: int | None = None) -> FreezeStep | None:
    """Insert the next batch of send rows (one transaction); None when there is nothing to freeze."""
    batch = batch or settings.MAILING_FREEZE_BATCH
    with transaction.atomic():
        campaign = (
            EmailCampaign.objects.select_for_update(of=("self",))
            .filter(
                pk=campaign_id,
                status__in=(CampaignStatus.SENDING, CampaignStatus.PAUSED),
                audience_frozen_at__isnull=True,
            )
            .first()
        )
        if campaign is None:
            return None
        source, params, id_col = _source_sql(campaign)
        cursor_clause = f" AND {id_col} > %s" if campaign.audience_cursor else ""
        if campaign.audience_cursor:
            params.append(campaign.audience_cursor)
        sends = EmailSend._meta.db_table
        sql = f"""
        WITH b AS ({source}{cursor_clause} ORDER BY {id_col} LIMIT %s),
        ins AS (
            INSERT INTO {sends} (id, network_id, campaign_id, user_id, waitlist_entry_id, email, status,
                                 attempts, error, created_at, updated_at)
            SELECT {SQL_UUID7}, %s, %s, b.user_id, b.entry_id, b.email,
                   CASE WHEN {_suppressed_sql()} THEN 'suppressed' ELSE 'queued' END,
                   0, '', now(), now()
              FROM b
            ON CONFLICT ON CONSTRAINT emailsend_campaign_email_uniq DO NOTHING
            RETURNING status
        )
        SELECT (SELECT count(*) FROM b),
               (SELECT rid FROM b ORDER BY rid DESC LIMIT 1),
               (SELECT count(*) FROM ins WHERE status = 'queued'),
               (SELECT count(*) FROM ins WHERE status = 'suppressed')
        """  # noqa: S608 — table names from model meta, values as parameters
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, batch, campaign.network_id, campaign.pk, campaign.network_id])
            scanned, last_id, queued, suppressed = cursor.fetchone()
        done = scanned < batch
        now = timezone.now()
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            audience_cursor=last_id or campaign.audience_cursor,
            audience_frozen_at=now if done else None,
            recipient_count=F("recipient_count") + queued,
            suppressed_count=F("suppressed_count") + suppressed,
            updated_at=now,
        )
        return FreezeStep(scanned=scanned, queued=queued, suppressed=suppressed, done=done)


def preview(*, campaign: EmailCampaign, sample: int = 20) -> dict[str, Any]:
    """How many would receive it now (and how many are suppressed), plus a sample of addresses."""
    source, params, _id_col = _source_sql(campaign)
    sql = f"""
    WITH b AS ({source})
    SELECT count(*) FILTER (WHERE NOT {_suppressed_sql()}),
           count(*) FILTER (WHERE {_suppressed_sql()})
      FROM b
    """  # noqa: S608
    sample_sql = (
        f"WITH b AS ({source}) SELECT b.email FROM b WHERE NOT {_suppressed_sql()} ORDER BY b.rid LIMIT %s"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, campaign.network_id, campaign.network_id])
        count, suppressed = cursor.fetchone()
        cursor.execute(sample_sql, [*params, campaign.network_id, sample])
        emails = [row[0] for row in cursor.fetchall()]
    return {"count": count, "suppressed": suppressed, "sample": emails}
