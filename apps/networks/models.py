from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from apps.core.models import BaseModel

from .settings_schema import DEFAULTS, effective_settings

#: every setting and its default — the schema (``settings_schema.NetworkSettings``) is the one source
SETTINGS_DEFAULTS: dict[str, object] = DEFAULTS

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
        """The effective value: the stored one when it fits the schema, else the default."""
        cached = self.__dict__.get("_effective_settings")
        if cached is None or cached[0] is not self.settings:
            cached = (self.settings, effective_settings(self.settings))
            self.__dict__["_effective_settings"] = cached
        return cached[1].get(name, default)
