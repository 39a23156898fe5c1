"""Wave-based invites (SCHEMA.md §16): waitlist, waves, codes, redemptions.

States change only in ``services`` by conditional updates. The waitlist's
``position`` is max + 1 under a per-network transaction-scoped advisory lock;
``priority_score`` = position − boost × min(verified referrals, cap) (lower
goes first). Codes are Crockford base32 ``XXXX-XXXX``; ``use_count ≤
max_uses`` is a CHECK, and redemption is one conditional UPDATE.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class WaveStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    RELEASING = "releasing"
    RELEASED = "released"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class InviteWaveConfig(NetworkScopedModel):
    """One release wave: the next ``invite_count`` waitlist entries, plus member codes."""

    Status = WaveStatus

    name = models.CharField(max_length=200)
    wave_number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=WaveStatus.choices, default=WaveStatus.SCHEDULED)
    scheduled_at = models.DateTimeField()
    invite_count = models.PositiveIntegerField(default=0)
    codes_per_user = models.PositiveSmallIntegerField(default=0)
    code_max_uses = models.PositiveSmallIntegerField(default=1)
    code_ttl_days = models.PositiveSmallIntegerField(default=14)
    repeat_every = models.DurationField(null=True, blank=True)
    auto_continue = models.BooleanField(default=False)
    released_at = models.DateTimeField(null=True, blank=True)
    released_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-wave_number",)
        verbose_name = "invite wave"
        constraints = [
            models.UniqueConstraint(fields=["network", "wave_number"], name="invitewave_network_number_uniq"),
            models.CheckConstraint(condition=Q(code_max_uses__gte=1), name="invitewave_code_max_uses_min"),
            models.CheckConstraint(condition=Q(code_ttl_days__gte=1), name="invitewave_code_ttl_min"),
            choices_check("status", WaveStatus, model="invitewave"),
        ]
        indexes = [
            # the beat job: due scheduled waves
            models.Index(fields=["scheduled_at"], condition=Q(status="scheduled"), name="invitewave_due"),
            models.Index(fields=["network", "-id"], name="invitewave_network_id"),
        ]

    def __str__(self) -> str:
        return f"wave {self.wave_number}: {self.name}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting"
    INVITED = "invited"
    JOINED = "joined"
    REMOVED = "removed"


class InviteWaitlist(NetworkScopedModel):
    Status = WaitlistStatus

    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True, default="")
    position = models.PositiveIntegerField()
    referral_code = models.CharField(max_length=10)
    referred_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    verified_referral_count = models.PositiveIntegerField(default=0)
    priority_score = models.IntegerField()
    status = models.CharField(max_length=20, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    invited_at = models.DateTimeField(null=True, blank=True)
    invite_code = models.ForeignKey(
        "invites.InviteCode", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    wave = models.ForeignKey(
        InviteWaveConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.JSONField(default=dict, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True, default="")
    # double opt-in: the emailed single-use token (hash only), and the status link's token
    verify_token_hash = models.CharField(max_length=64, null=True, blank=True)
    verify_expires_at = models.DateTimeField(null=True, blank=True)
    access_token_hash = models.CharField(max_length=64, null=True, blank=True)
    last_mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("position",)
        verbose_name = "waitlist entry"
        verbose_name_plural = "waitlist"
        constraints = [
            models.UniqueConstraint(fields=["network", "email"], name="waitlist_network_email_uniq"),
            models.UniqueConstraint(
                fields=["network", "referral_code"], name="waitlist_network_referral_uniq"
            ),
            models.UniqueConstraint(fields=["network", "position"], name="waitlist_network_position_uniq"),
            models.UniqueConstraint(
                fields=["verify_token_hash"],
                condition=Q(verify_token_hash__isnull=False),
                name="waitlist_verify_token_uniq",
            ),
            models.UniqueConstraint(
                fields=["access_token_hash"],
                condition=Q(access_token_hash__isnull=False),
                name="waitlist_access_token_uniq",
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="waitlist_email_lowercase"),
            models.CheckConstraint(
                condition=Q(referred_by__isnull=True) | ~Q(referred_by=F("id")),
                name="waitlist_not_self_referred",
            ),
            choices_check("status", WaitlistStatus, model="waitlist"),
        ]
        indexes = [
            # release order and "people ahead of you"
            models.Index(
                fields=["network", "priority_score", "position"],
                condition=Q(status="waiting", email_verified_at__isnull=False),
                name="waitlist_release_order",
            ),
            models.Index(fields=["network", "status", "position"], name="waitlist_status_position"),
            models.Index(fields=["referred_by"], name="waitlist_referred_by"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.email}"

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None


class InviteCodeKind(models.TextChoices):
    WAITLIST = "waitlist"
    MEMBER = "member"
    STAFF = "staff"
    CAMPAIGN = "campaign"


class InviteCode(NetworkScopedModel):
    Kind = InviteCodeKind

    code = models.CharField(max_length=16)
    kind = models.CharField(max_length=20, choices=InviteCodeKind.choices, default=InviteCodeKind.WAITLIST)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invite_codes",
    )
    bound_email = models.EmailField(max_length=254, null=True, blank=True)
    waitlist_entry = models.ForeignKey(
        InviteWaitlist, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    wave = models.ForeignKey(
        InviteWaveConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="codes"
    )
    max_uses = models.PositiveIntegerField(default=1)
    use_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    grants = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "code"], name="invitecode_network_code_uniq"),
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="invitecode_max_uses_min"),
            models.CheckConstraint(condition=Q(use_count__lte=F("max_uses")), name="invitecode_uses_le_max"),
            models.CheckConstraint(
                condition=Q(bound_email__isnull=True) | Q(bound_email=Lower("bound_email")),
                name="invitecode_bound_email_lowercase",
            ),
            choices_check("kind", InviteCodeKind, model="invitecode"),
        ]
        indexes = [
            models.Index(fields=["owner", "-id"], name="invitecode_owner_id"),
            models.Index(fields=["network", "kind", "-id"], name="invitecode_network_kind"),
            models.Index(fields=["wave"], name="invitecode_wave"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def uses_left(self) -> int:
        return max(0, self.max_uses - self.use_count)


class InviteRedemption(NetworkScopedModel):
    """Who signed up with which code (one per user)."""

    code = models.ForeignKey(InviteCode, on_delete=models.PROTECT, related_name="redemptions")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invite_redemption"
    )
    ip_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["code", "-id"], name="inviteredemption_code_id")]

    def __str__(self) -> str:
        return f"{self.code_id} → {self.user_id}"
