from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.core.choices import choices_check
from apps.core.models import NetworkScopedModel


class InboxKind(models.TextChoices):
    MENTION = "mention"
    REPLY = "reply"
    REACTION = "reaction"
    FOLLOW = "follow"
    DIRECT_MESSAGE = "direct_message"
    COMMUNITY_JOIN_REQUEST = "community_join_request"
    ORG_INVITE = "org_invite"
    TASK_ASSIGNED = "task_assigned"
    TASK_REVIEW = "task_review"
    TOOL_APPROVAL = "tool_approval"
    CHALLENGE = "challenge"
    BOUNTY_PAID = "bounty_paid"
    PAYOUT = "payout"
    SECURITY = "security"
    SYSTEM = "system"
    WELCOME = "welcome"


class ActionState(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    DISMISSED = "dismissed"


#: the number of latest distinct actors kept on an item
ACTOR_IDS_KEPT = 5

UNREAD = Q(read_at__isnull=True, archived_at__isnull=True)
ACTIVE = Q(archived_at__isnull=True)


class InboxItem(NetworkScopedModel):
    """One row per (recipient, kind, target) while not archived; repeats aggregate into it.

    Written only by ``apps.inbox.delivery`` (one INSERT … ON CONFLICT DO UPDATE
    per batch) and the state changes in ``apps.inbox.services``.
    """

    Kind = InboxKind
    ActionState = ActionState

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_count = models.PositiveIntegerField(default=1)
    actor_ids = ArrayField(models.UUIDField(), default=list, blank=True, size=ACTOR_IDS_KEPT)
    target_type = models.CharField(max_length=40)
    target_id = models.UUIDField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    target_url = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    requires_action = models.BooleanField(default=False)
    action_state = models.CharField(max_length=20, choices=ActionState.choices, null=True, blank=True)
    last_event_at = models.DateTimeField()

    class Meta:
        ordering = ("-last_event_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["network", "recipient", "kind", "target_type", "target_id"],
                condition=Q(archived_at__isnull=True),
                name="inboxitem_one_open_per_target",
            ),
            choices_check("kind", InboxKind, model="inboxitem"),
            choices_check("action_state", ActionState, model="inboxitem"),
            models.CheckConstraint(
                condition=Q(requires_action=False) | Q(action_state__isnull=False),
                name="inboxitem_action_has_state",
            ),
            models.CheckConstraint(condition=Q(actor_count__gte=1), name="inboxitem_actor_count_positive"),
        ]
        indexes = [
            # filter=all (and the socket's first page): newest activity first
            models.Index(
                fields=["network", "recipient", "-last_event_at", "-id"],
                condition=ACTIVE,
                name="inboxitem_active",
            ),
            # filter=unread and the unread count (an index-only scan: snoozed_until is included)
            models.Index(
                fields=["recipient", "-last_event_at", "-id"],
                condition=UNREAD,
                include=["snoozed_until"],
                name="inboxitem_unread",
            ),
            models.Index(
                fields=["recipient", "-last_event_at", "-id"],
                condition=Q(archived_at__isnull=False),
                name="inboxitem_archived",
            ),
            models.Index(
                fields=["recipient", "-last_event_at", "-id"],
                condition=Q(requires_action=True, action_state="pending", archived_at__isnull=True),
                name="inboxitem_action",
            ),
            # close_action_items: every open action item of one object
            models.Index(
                fields=["target_type", "target_id", "kind"],
                condition=Q(requires_action=True, action_state="pending"),
                name="inboxitem_action_target",
            ),
            # purge: old rows only
            models.Index(fields=["last_event_at"], name="inboxitem_last_event"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target_type}:{self.target_id} → {self.recipient_id}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None
