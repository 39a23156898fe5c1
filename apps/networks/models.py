from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from apps.core.models import BaseModel

SETTINGS_DEFAULTS: dict[str, object] = {
    "require_2fa": False,
    "rate_limits": {},
    "fee_bps": 500,
    "deletion_grace_days": 30,
    "attribution_days": 30,
    # social: days an account counts as new (at most 2 links and 2 mentions per post, no media)
    "new_account_days": 2,
    "payout_threshold_minor": 0,
    "default_model": "",
    "project_quotas": {"sandboxes": 10, "storage_buckets": 5, "databases": 5},
}

domain_validator = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    "Enter a lower-case host name such as colony.example.com.",
)


class Network(BaseModel):
    """The tenant. Global: it is what every other row is scoped by."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        ARCHIVED = "archived"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    domain = models.CharField(
        max_length=253, null=True, blank=True, unique=True, validators=[domain_validator]
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    is_default = models.BooleanField(default=False)
    invite_only = models.BooleanField(default=True)
    signup_enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True)
    branding = models.JSONField(default=dict, blank=True)
    from_email = models.EmailField(null=True, blank=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="network_single_default",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "suspended", "archived"]),
                name="network_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def setting(self, name: str, default: object = None) -> object:
        if name in self.settings:
            return self.settings[name]
        return SETTINGS_DEFAULTS.get(name, default)
