from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class UserSettingsDigest(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    OFF = "off"


class UserSettingsDmsFrom(models.TextChoices):
    EVERYONE = "everyone"
    FOLLOWING = "following"
    NOBODY = "nobody"


class UserSettingsProfileVisibility(models.TextChoices):
    NETWORK = "network"
    PUBLIC = "public"


class UserSettings(NetworkScopedModel):
    Digest = UserSettingsDigest

    DmsFrom = UserSettingsDmsFrom

    ProfileVisibility = UserSettingsProfileVisibility

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="settings")
    timezone = models.CharField(max_length=64, default="UTC")
    locale = models.CharField(max_length=16, default="en")
    notification_choices = models.JSONField(default=dict, blank=True)
    email_digest = models.CharField(max_length=10, choices=Digest.choices, default=Digest.DAILY)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    marketing_emails = models.BooleanField(default=False)
    allow_dms_from = models.CharField(max_length=20, choices=DmsFrom.choices, default=DmsFrom.EVERYONE)
    profile_visibility = models.CharField(
        max_length=20, choices=ProfileVisibility.choices, default=ProfileVisibility.NETWORK
    )

    class Meta:
        verbose_name_plural = "user settings"
        constraints = [
            choices_check("email_digest", UserSettingsDigest, model="usersettings"),
            choices_check("allow_dms_from", UserSettingsDmsFrom, model="usersettings"),
            choices_check("profile_visibility", UserSettingsProfileVisibility, model="usersettings"),
        ]

    def __str__(self) -> str:
        return f"settings of {self.user_id}"


class UserPreferences(NetworkScopedModel):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    data = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user_id} v{self.version}"


class LoginHistoryEvent(models.TextChoices):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    MFA_CHALLENGE = "mfa_challenge"
    MFA_FAILED = "mfa_failed"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    LOCKED_OUT = "locked_out"


class LoginHistoryMethod(models.TextChoices):
    PASSWORD = "password"
    SOCIAL = "social"
    CODE = "code"


class LoginHistory(NetworkScopedModel):
    """Append-only record of authentication events."""

    Event = LoginHistoryEvent

    Method = LoginHistoryMethod

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="login_history",
    )
    attempted_email = models.EmailField(null=True, blank=True)
    event = models.CharField(max_length=20, choices=Event.choices)
    method = models.CharField(max_length=20, choices=Method.choices, null=True, blank=True)
    provider = models.CharField(max_length=60, null=True, blank=True)
    failure_reason = models.TextField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    country = models.CharField(max_length=2, null=True, blank=True)
    session = models.ForeignKey(
        "accounts.UserSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_new_device = models.BooleanField(default=False)

    class Meta:
        ordering = ("-id",)
        verbose_name_plural = "login history"
        indexes = [
            models.Index(fields=["network", "user", "-created_at"], name="loginhistory_user_created"),
            models.Index(fields=["network", "ip", "created_at"], name="loginhistory_ip_created"),
            # the user's list pages by -id (UUIDv7, time-ordered) under cursor pagination
            models.Index(fields=["user", "-id"], name="loginhistory_user_id"),
            models.Index(fields=["created_at"], name="loginhistory_created"),
        ]
        constraints = [
            choices_check("event", LoginHistoryEvent, model="loginhistory"),
            choices_check("method", LoginHistoryMethod, model="loginhistory"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.user_id or self.attempted_email}"


class PendingEmailChange(NetworkScopedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_changes")
    new_email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(confirmed_at__isnull=True, cancelled_at__isnull=True),
                name="pendingemailchange_one_open_per_user",
            )
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=models.Q(confirmed_at__isnull=True, cancelled_at__isnull=True),
                name="pendingemailchange_open_exp",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.new_email}"


class AccountDeletionRequestStatus(models.TextChoices):
    PENDING = "pending"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"


class AccountDeletionRequest(NetworkScopedModel):
    Status = AccountDeletionRequestStatus

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deletion_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    scheduled_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="pending"), name="deletionrequest_one_pending"
            ),
            choices_check("status", AccountDeletionRequestStatus, model="deletionrequest"),
        ]
        indexes = [
            models.Index(
                fields=["scheduled_at"],
                condition=models.Q(status="pending"),
                name="deletionrequest_due",
            ),
            models.Index(
                fields=["scheduled_at"],
                condition=models.Q(status="failed"),
                name="deletionrequest_failed_due",
            ),
        ]

    def __str__(self) -> str:
        return f"deletion of {self.user_id} ({self.status})"


class DataExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class DataExport(NetworkScopedModel):
    Status = DataExportStatus

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-id",)
        constraints = [
            choices_check("status", DataExportStatus, model="dataexport"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="dataexport_progress_le_100"),
            # backstop for "one export in flight per user" (the service answers 409 first)
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=["queued", "running"]),
                name="dataexport_one_active_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="dataexport_user_id"),
            models.Index(
                fields=["expires_at"], condition=models.Q(status="ready"), name="dataexport_ready_exp"
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"
