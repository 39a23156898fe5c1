"""SES email campaigns (SCHEMA.md §17): campaigns, one send row per address, suppressions, unsubscribe tokens.

Campaign states: draft ⇄ scheduled → sending (audience frozen) → sent;
sending ⇄ paused; draft/scheduled/sending/paused → cancelled. Content is
editable only in draft. A send row moves queued → sending → sent →
delivered → bounced | complained (or failed / suppressed / cancelled); the
unique (campaign, email) row plus the state checks in the sender make a
recipient's message go out at most once.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class CampaignKind(models.TextChoices):
    MARKETING = "marketing"
    PRODUCT = "product"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


COUNTERS = (
    "recipient_count",
    "sent_count",
    "delivered_count",
    "bounced_count",
    "complained_count",
    "opened_count",
    "clicked_count",
    "unsubscribed_count",
    "suppressed_count",
    "failed_count",
)


class EmailCampaign(NetworkScopedModel):
    Kind = CampaignKind
    Status = CampaignStatus

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=CampaignKind.choices, default=CampaignKind.MARKETING)
    subject = models.CharField(max_length=200)
    preheader = models.CharField(max_length=200, blank=True, default="")
    from_name = models.CharField(max_length=200, blank=True, default="")
    from_email = models.EmailField(max_length=254)
    reply_to_email = models.EmailField(max_length=254, null=True, blank=True)
    html_body = models.TextField(blank=True, default="")
    text_body = models.TextField(blank=True, default="")
    audience = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    ses_configuration_set = models.CharField(max_length=200, null=True, blank=True)
    rate_per_second = models.PositiveSmallIntegerField(default=10)
    batch_size = models.PositiveIntegerField(default=500)
    max_error_ratio = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.050"))
    # audience freezing progress: the last user/entry id inserted, and when it completed
    audience_cursor = models.UUIDField(null=True, blank=True)
    audience_frozen_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=200, blank=True, default="")
    recipient_count = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    delivered_count = models.PositiveIntegerField(default=0)
    bounced_count = models.PositiveIntegerField(default=0)
    complained_count = models.PositiveIntegerField(default=0)
    opened_count = models.PositiveIntegerField(default=0)
    clicked_count = models.PositiveIntegerField(default=0)
    unsubscribed_count = models.PositiveIntegerField(default=0)
    suppressed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        verbose_name = "email campaign"
        constraints = [
            models.CheckConstraint(condition=Q(rate_per_second__gte=1), name="emailcampaign_rate_min"),
            models.CheckConstraint(
                condition=Q(batch_size__gte=1, batch_size__lte=5000), name="emailcampaign_batch_range"
            ),
            models.CheckConstraint(
                condition=Q(max_error_ratio__gte=0, max_error_ratio__lte=1),
                name="emailcampaign_error_ratio_range",
            ),
            choices_check("kind", CampaignKind, model="emailcampaign"),
            choices_check("status", CampaignStatus, model="emailcampaign"),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="emailcampaign_status_sched"),
            models.Index(fields=["network", "-id"], name="emailcampaign_network_id"),
            models.Index(fields=["network", "status", "-id"], name="emailcampaign_network_status"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def progress_percent(self) -> int:
        done = self.sent_count + self.failed_count
        return min(100, round(100 * done / self.recipient_count)) if self.recipient_count else 0


class SendStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


class BounceType(models.TextChoices):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNDETERMINED = "undetermined"


class EmailSend(NetworkScopedModel):
    Status = SendStatus
    BounceType = BounceType

    campaign = models.ForeignKey(EmailCampaign, on_delete=models.CASCADE, related_name="sends")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waitlist_entry = models.ForeignKey(
        "invites.InviteWaitlist", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=20, choices=SendStatus.choices, default=SendStatus.QUEUED)
    ses_message_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # the sender's claim (the Celery task id) and the moment it handed the row to SES:
    # a row claimed but never started is safe to re-queue; a started one is never re-sent
    claimed_by = models.CharField(max_length=64, null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    send_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)
    bounce_type = models.CharField(max_length=20, choices=BounceType.choices, null=True, blank=True)
    bounce_subtype = models.CharField(max_length=200, null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("id",)
        verbose_name = "email send"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "email"], name="emailsend_campaign_email_uniq"),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="emailsend_email_lowercase"),
            choices_check("status", SendStatus, model="emailsend"),
            choices_check("bounce_type", BounceType, model="emailsend"),
        ]
        indexes = [
            # the sender's claim: queued rows of a campaign in id order
            models.Index(fields=["campaign", "id"], condition=Q(status="queued"), name="emailsend_queued"),
            # the reconciler: rows left in sending
            models.Index(
                fields=["campaign", "claimed_at"], condition=Q(status="sending"), name="emailsend_sending"
            ),
            models.Index(fields=["campaign", "status", "id"], name="emailsend_campaign_status"),
            models.Index(fields=["campaign", "-id"], name="emailsend_campaign_id"),
            # soft-bounce counting per address
            models.Index(
                fields=["email", "bounced_at"],
                condition=Q(bounce_type="transient"),
                name="emailsend_transient_bounces",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.email} ({self.status})"


class SuppressionScope(models.TextChoices):
    ALL = "all"
    CAMPAIGNS = "campaigns"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"


class EmailSuppression(NetworkScopedModel):
    """An address that receives no campaigns (``campaigns``) or no mail at all but the essential (``all``)."""

    Scope = SuppressionScope
    Reason = SuppressionReason

    email = models.EmailField(max_length=254)
    scope = models.CharField(
        max_length=20, choices=SuppressionScope.choices, default=SuppressionScope.CAMPAIGNS
    )
    reason = models.CharField(
        max_length=20, choices=SuppressionReason.choices, default=SuppressionReason.MANUAL
    )
    source_send = models.ForeignKey(
        EmailSend, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        verbose_name = "email suppression"
        constraints = [
            models.UniqueConstraint(
                fields=["network", "email", "scope"], name="emailsuppression_network_email_scope_uniq"
            ),
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="emailsuppression_email_lowercase"
            ),
            choices_check("scope", SuppressionScope, model="emailsuppression"),
            choices_check("reason", SuppressionReason, model="emailsuppression"),
        ]
        indexes = [
            models.Index(fields=["network", "-id"], name="emailsuppression_network_id"),
            models.Index(
                fields=["expires_at"], condition=Q(expires_at__isnull=False), name="emailsupp_expiring"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.scope}, {self.reason})"


class EmailUnsubscribeToken(NetworkScopedModel):
    Scope = SuppressionScope

    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        EmailCampaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send = models.OneToOneField(
        EmailSend, null=True, blank=True, on_delete=models.SET_NULL, related_name="unsubscribe_token"
    )
    scope = models.CharField(
        max_length=20, choices=SuppressionScope.choices, default=SuppressionScope.CAMPAIGNS
    )
    used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ("-id",)
        verbose_name = "email unsubscribe token"
        constraints = [choices_check("scope", SuppressionScope, model="emailunsubscribetoken")]

    def __str__(self) -> str:
        return f"unsubscribe {self.email}"
