"""Campaign writes: the state machine (SCHEMA.md §17).

    draft ⇄ scheduled → sending (audience frozen) → sent (nothing queued)
    sending ⇄ paused (manual, or the error ratio exceeded)
    draft / scheduled / sending / paused → cancelled (queued sends cancelled)

Every move is one ``UPDATE … WHERE status IN (allowed)``; a raced or illegal
move is 409 ``invalid_state``. Content is editable only in draft. Campaigns
are network-admin work; callers check the role (``IsNetworkAdmin``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import ratelimit
from apps.core.exceptions import InvalidState, ValidationFailed

from .. import templating
from ..models import CampaignKind, CampaignStatus, EmailCampaign, EmailSend, SendStatus

CONTENT = (
    "name",
    "kind",
    "subject",
    "preheader",
    "from_name",
    "from_email",
    "reply_to_email",
    "html_body",
    "text_body",
)
SETTINGS = ("audience", "ses_configuration_set", "rate_per_second", "batch_size", "max_error_ratio")
EDITABLE = CONTENT + SETTINGS
AUDIENCE_KEYS = {
    "source",
    "roles",
    "joined_after",
    "active_within_days",
    "organization",
    "community",
    "waitlist_status",
}
ROLES = ("member", "moderator", "admin")
WAITLIST_STATUSES = ("waiting", "invited", "joined")
MAX_RATE = 1000


def allowed_from_domains(network: Any) -> set[str]:
    if settings.MAILING_FROM_DOMAINS:
        return {d.lower() for d in settings.MAILING_FROM_DOMAINS}
    domains = {settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(" >").lower()}
    if getattr(network, "from_email", None):
        domains.add(network.from_email.rsplit("@", 1)[-1].lower())
    return domains


def _uuid(value: Any, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError, AttributeError):
        raise ValidationFailed("Must be a valid UUID.", field=field) from None


def clean_audience(*, network: Any, audience: Any) -> dict[str, Any]:
    """Normalised audience; foreign or unknown organization/community ids read as missing (400)."""
    from django.apps import apps as django_apps

    if audience in (None, ""):
        audience = {}
    if not isinstance(audience, dict):
        raise ValidationFailed("The audience must be an object.", field="audience")
    unknown = set(audience) - AUDIENCE_KEYS
    if unknown:
        raise ValidationFailed(
            f"Unknown audience keys: {', '.join(sorted(map(str, unknown)))}.", field="audience"
        )
    source = audience.get("source") or "users"
    if source not in ("users", "waitlist"):
        raise ValidationFailed("source is users or waitlist.", field="audience")
    out: dict[str, Any] = {"source": source}
    if source == "waitlist":
        statuses = audience.get("waitlist_status") or ["waiting"]
        if isinstance(statuses, str):
            statuses = [statuses]
        if not isinstance(statuses, list) or not set(statuses) <= set(WAITLIST_STATUSES):
            raise ValidationFailed(
                f"waitlist_status: some of {', '.join(WAITLIST_STATUSES)}.", field="audience"
            )
        for key in ("roles", "joined_after", "active_within_days", "organization", "community"):
            if audience.get(key) not in (None, "", []):
                raise ValidationFailed(f"{key} applies to the users audience only.", field="audience")
        out["waitlist_status"] = sorted(set(statuses))
        return out
    if audience.get("waitlist_status"):
        raise ValidationFailed("waitlist_status applies to the waitlist audience only.", field="audience")
    roles = audience.get("roles") or []
    if not isinstance(roles, list) or not set(roles) <= set(ROLES):
        raise ValidationFailed(f"roles: some of {', '.join(ROLES)}.", field="audience")
    if roles:
        out["roles"] = sorted(set(roles))
    if audience.get("joined_after"):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(str(audience["joined_after"]))
        if parsed is None or timezone.is_naive(parsed):
            raise ValidationFailed("joined_after: an ISO-8601 time with a zone.", field="audience")
        out["joined_after"] = parsed.isoformat()
    days = audience.get("active_within_days")
    if days not in (None, ""):
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
            raise ValidationFailed("active_within_days: 1 to 3650.", field="audience")
        out["active_within_days"] = days
    if audience.get("organization"):
        from apps.organizations.models import Organization

        org_id = _uuid(audience["organization"], "audience")
        if not Organization.objects.filter(pk=org_id, network=network).exists():
            raise ValidationFailed(
                "The organization does not exist.", field="audience", code="does_not_exist"
            )
        out["organization"] = org_id
    if audience.get("community"):
        community_id = _uuid(audience["community"], "audience")
        try:
            model = django_apps.get_model("social", "Community")
        except LookupError:
            model = None
        if model is None or not model.objects.filter(pk=community_id, network=network).exists():
            raise ValidationFailed("The community does not exist.", field="audience", code="does_not_exist")
        out["community"] = community_id
    return out


def _clean(*, network: Any, values: dict[str, Any]) -> dict[str, Any]:
    templating.check_content({k: values.get(k) for k in templating.CONTENT_FIELDS if k in values})
    if "kind" in values and values["kind"] not in CampaignKind.values:
        raise ValidationFailed("Unknown kind.", field="kind")
    if values.get("from_email"):
        values["from_email"] = values["from_email"].strip().lower()
        domain = values["from_email"].rsplit("@", 1)[-1]
        if domain not in allowed_from_domains(network):
            raise ValidationFailed(
                "Send from a verified sender domain.", field="from_email", code="unverified_sender"
            )
    if "audience" in values:
        values["audience"] = clean_audience(network=network, audience=values["audience"])
    rate = values.get("rate_per_second")
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise ValidationFailed(f"Between 1 and {MAX_RATE} per second.", field="rate_per_second")
    batch = values.get("batch_size")
    if batch is not None and not 1 <= batch <= 5000:
        raise ValidationFailed("Between 1 and 5000.", field="batch_size")
    ratio = values.get("max_error_ratio")
    if ratio is not None and not Decimal("0") <= Decimal(ratio) <= Decimal("1"):
        raise ValidationFailed("Between 0 and 1.", field="max_error_ratio")
    return values


@transaction.atomic
def create_campaign(*, actor: Any, network: Any, **fields: Any) -> EmailCampaign:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    for required in ("name", "subject", "from_email"):
        if not fields.get(required):
            raise ValidationFailed("This field is required.", field=required)
    if not (fields.get("html_body") or fields.get("text_body")):
        raise ValidationFailed("Give an HTML or a text body.", field="html_body")
    fields.setdefault("audience", {})
    values = _clean(network=network, values=dict(fields))
    if not values.get("ses_configuration_set"):
        values["ses_configuration_set"] = settings.SES_CONFIGURATION_SET or None
    return EmailCampaign.objects.create(network=network, created_by=actor, **values)


def _locked(campaign: EmailCampaign) -> EmailCampaign:
    return EmailCampaign.objects.select_for_update(of=("self",)).select_related("network").get(pk=campaign.pk)


@transaction.atomic
def update_campaign(*, actor: Any, campaign: EmailCampaign, changes: dict[str, Any]) -> EmailCampaign:
    """Content and settings, in draft only (unschedule a scheduled campaign first)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    campaign = _locked(campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise InvalidState("Only a draft campaign can be edited.")
    values = _clean(network=campaign.network, values=dict(changes))
    for name, value in values.items():
        setattr(campaign, name, value)
    if not (campaign.html_body or campaign.text_body):
        raise ValidationFailed("Give an HTML or a text body.", field="html_body")
    if values:
        campaign.save(update_fields=[*values, "updated_at"])
    return campaign


@transaction.atomic
def delete_campaign(*, actor: Any, campaign: EmailCampaign) -> None:
    deleted, _ = EmailCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).delete()
    if not deleted:
        raise InvalidState("Only a draft campaign can be deleted; cancel it instead.")


def move(campaign: EmailCampaign, sources: tuple[str, ...], target: str, **extra: Any) -> EmailCampaign:
    """The one conditional transition (``WHERE status IN sources``)."""
    updated = EmailCampaign.objects.filter(pk=campaign.pk, status__in=sources).update(
        status=target, updated_at=timezone.now(), **extra
    )
    if not updated:
        current = EmailCampaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        raise InvalidState(f"A {current or 'missing'} campaign cannot become {target}.")
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def schedule_campaign(*, actor: Any, campaign: EmailCampaign, scheduled_at: datetime) -> EmailCampaign:
    if scheduled_at is None or scheduled_at <= timezone.now():
        raise ValidationFailed(
            "Schedule the campaign in the future (or send it now).", field="scheduled_at", code="in_the_past"
        )
    return move(
        campaign,
        (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED),
        CampaignStatus.SCHEDULED,
        scheduled_at=scheduled_at,
    )


@transaction.atomic
def unschedule_campaign(*, actor: Any, campaign: EmailCampaign) -> EmailCampaign:
    return move(campaign, (CampaignStatus.SCHEDULED,), CampaignStatus.DRAFT, scheduled_at=None)


def _start(campaign: EmailCampaign, sources: tuple[str, ...]) -> EmailCampaign:
    now = timezone.now()
    campaign = move(campaign, sources, CampaignStatus.SENDING, started_at=now)
    from .. import tasks

    tasks.freeze_audience.delay_on_commit(str(campaign.pk))
    return campaign


@transaction.atomic
def send_campaign_now(*, actor: Any, campaign: EmailCampaign) -> EmailCampaign:
    return _start(campaign, (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED))


def start_due_campaigns(*, now: datetime | None = None) -> int:
    """The beat job: scheduled campaigns whose time has come start sending (each once)."""
    now = now or timezone.now()
    started = 0
    due = EmailCampaign.objects.filter(
        status=CampaignStatus.SCHEDULED, scheduled_at__lte=now, network__status="active"
    ).values_list("pk", flat=True)[:100]
    for pk in due:
        with transaction.atomic():
            row = (
                EmailCampaign.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=CampaignStatus.SCHEDULED)
                .first()
            )
            if row is None:
                continue
            _start(row, (CampaignStatus.SCHEDULED,))
            started += 1
    return started


@transaction.atomic
def pause_campaign(*, actor: Any, campaign: EmailCampaign, reason: str = "manual") -> EmailCampaign:
    return move(campaign, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, paused_reason=reason[:200])


@transaction.atomic
def resume_campaign(*, actor: Any, campaign: EmailCampaign) -> EmailCampaign:
    campaign = move(campaign, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, paused_reason="")
    from .. import tasks

    if campaign.audience_frozen_at is None:
        tasks.freeze_audience.delay_on_commit(str(campaign.pk))
    else:
        tasks.kick_senders_on_commit(campaign)
    return campaign


@transaction.atomic
def cancel_campaign(*, actor: Any, campaign: EmailCampaign) -> EmailCampaign:
    """Cancelled: queued rows and rows claimed but never handed to SES are cancelled too."""
    campaign = move(
        campaign,
        (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
        finished_at=timezone.now(),
    )
    EmailSend.objects.filter(campaign=campaign).filter(status=SendStatus.QUEUED).update(
        status=SendStatus.CANCELLED, updated_at=timezone.now()
    )
    EmailSend.objects.filter(
        campaign=campaign, status=SendStatus.SENDING, send_started_at__isnull=True
    ).update(status=SendStatus.CANCELLED, claimed_by=None, updated_at=timezone.now())
    return campaign


@transaction.atomic
def test_send(*, actor: Any, campaign: EmailCampaign, emails: list[str]) -> int:
    """Render for ``actor`` as the sample recipient and send to up to 5 addresses (not recorded as sends)."""
    ratelimit.enforce(f"mailing:test-send:{actor.pk}", "20/h")
    addresses = sorted({e.strip().lower() for e in emails if e and e.strip()})
    if not addresses or len(addresses) > 5:
        raise ValidationFailed("Give 1 to 5 addresses.", field="emails")
    from .. import tasks

    for address in addresses:
        tasks.send_test_message.delay_on_commit(str(campaign.pk), address, str(actor.pk))
    return len(addresses)
