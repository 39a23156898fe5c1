"""Sharing: share links with UTM parameters, click / visitor / signup attribution.

``Share.code`` is unique across networks (``U [global]``): ``/s/{code}`` is
looked up before the network is known. Counters move by ``F()``;
``unique_visitor_count`` is copied from a Redis HyperLogLog by
``sharing.sync_unique_visitors``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class ShareTarget(models.TextChoices):
    POST = "post"
    PROJECT = "project"
    COMMUNITY = "community"
    PROFILE = "profile"
    ROADMAP_TASK = "roadmap_task"
    INVITE = "invite"


class ShareChannel(models.TextChoices):
    LINK = "link"
    X = "x"
    LINKEDIN = "linkedin"
    FACEBOOK = "facebook"
    REDDIT = "reddit"
    EMAIL = "email"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    OTHER = "other"


class Share(NetworkScopedModel):
    Target = ShareTarget
    Channel = ShareChannel

    sharer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_type = models.CharField(max_length=20, choices=Target.choices)
    target_id = models.UUIDField()
    # canonical, built by the server from the target (never client input: no open redirect)
    target_url = models.CharField(max_length=500)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.LINK)
    code = models.CharField(max_length=10)
    utm_source = models.CharField(max_length=60)
    utm_medium = models.CharField(max_length=60, default="social")
    utm_campaign = models.CharField(max_length=100, default="share")
    utm_content = models.CharField(max_length=100, blank=True, default="")
    utm_term = models.CharField(max_length=100, blank=True, default="")
    click_count = models.PositiveIntegerField(default=0)
    unique_visitor_count = models.PositiveIntegerField(default=0)
    signup_count = models.PositiveIntegerField(default=0)
    last_clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        constraints = [
            # U [global]: /s/{code} is resolved before the network is known
            models.UniqueConstraint(fields=["code"], name="share_code_uniq"),
            models.UniqueConstraint(
                fields=["network", "sharer", "target_type", "target_id", "channel"],
                condition=Q(sharer__isnull=False),
                name="share_sharer_target_channel_uniq",
            ),
            choices_check("target_type", ShareTarget, model="share"),
            choices_check("channel", ShareChannel, model="share"),
        ]
        indexes = [
            models.Index(fields=["network", "target_type", "target_id", "-id"], name="share_target"),
            models.Index(fields=["network", "sharer", "-id"], name="share_sharer"),
        ]

    def __str__(self) -> str:
        return f"{self.code} → {self.target_type}:{self.target_id}"
