from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import NetworkScopedModel


class Block(NetworkScopedModel):
    """``blocker`` no longer hears from ``blocked``: no DMs, replies, mention
    notices or follows towards the blocker; hidden from the blocker's feeds."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(fields=["network", "blocker", "blocked"], name="block_network_pair_uniq"),
            models.CheckConstraint(condition=~models.Q(blocker=models.F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["network", "blocked", "blocker"], name="block_blocked_ix")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"
