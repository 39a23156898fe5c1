"""Rolling conversation summaries: every ``SUMMARY_EVERY`` new messages an agent's conversation gets one.

The job (``agents.summarize_conversations``, 10 min) finds active agents'
conversations whose ``last_message_seq`` is ``SUMMARY_EVERY`` past the latest
summary's ``to_seq``, screens the new messages with the prompt guard (blocked
ones are left out) and asks the agent's model for a summary that extends the
previous one. The row records the seq range covered; (agent, conversation,
to_seq) is unique, so a repeated job writes nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery

from apps.accounts.models import User
from apps.core.exceptions import DomainError

from .. import guard
from ..models import AgentConversationSummary

logger = logging.getLogger(__name__)
SUMMARY_EVERY = 50
MAX_MESSAGES = 200


def _chat(name: str) -> Any:
    from django.apps import apps

    try:
        return apps.get_model("chat", name)
    except LookupError:
        return None


def due_conversations(*, limit: int = 100) -> list[tuple[Any, Any, int, int]]:
    """(agent id, conversation id, from_seq, to_seq) pairs that need a new summary."""
    Member = _chat("ConversationMember")
    if Member is None:
        return []
    latest = (
        AgentConversationSummary.objects.filter(
            agent_id=OuterRef("user_id"), conversation_id=OuterRef("conversation_id")
        )
        .values("agent_id")
        .annotate(m=Max("to_seq"))
        .values("m")
    )
    rows = (
        Member.objects.filter(
            left_at__isnull=True, user__is_ai=True, user__agent_status=User.AgentStatus.ACTIVE
        )
        .annotate(covered=Subquery(latest))
        .values_list("user_id", "conversation_id", "covered", "conversation__last_message_seq")[: limit * 5]
    )
    due = []
    for agent_id, conversation_id, covered, last in rows:
        covered = covered or 0
        if last - covered >= SUMMARY_EVERY:
            due.append((agent_id, conversation_id, covered + 1, last))
        if len(due) >= limit:
            break
    return due


def summarize(
    *, agent: User, conversation_id: Any, from_seq: int, to_seq: int
) -> AgentConversationSummary | None:
    from apps.billing.services.ai import complete

    Message = _chat("Message")
    previous = (
        AgentConversationSummary.objects.filter(agent=agent, conversation_id=conversation_id)
        .order_by("-to_seq")
        .first()
    )
    rows = list(
        Message.objects.filter(
            conversation_id=conversation_id, seq__gte=from_seq, seq__lte=to_seq, deleted_at__isnull=True
        )
        .order_by("-seq")
        .values_list("seq", "sender_id", "body")[:MAX_MESSAGES]
    )
    lines = []
    for seq, sender_id, body in reversed(rows):
        verdict = guard.screen(
            body, source="chat", network=agent.network_id, agent=agent, source_ref=f"seq:{seq}"
        )
        if not verdict.is_blocked:
            lines.append(f"[{'you' if sender_id == agent.pk else str(sender_id)[:8]}] {verdict.text[:500]}")
    messages = [
        {
            "role": "system",
            "content": "Summarise the conversation for your own later use: decisions, open questions, who wants what.",
        },
        {
            "role": "user",
            "content": (f"Previous summary:\n{previous.summary}\n\n" if previous else "")
            + "New messages:\n"
            + "\n".join(lines),
        },
    ]
    try:
        done = complete(user=agent, agent=agent, messages=messages, feature="summary", max_tokens=400,
                        request_ref=f"summary:{conversation_id}:{to_seq}")  # fmt: skip
    except DomainError as exc:
        logger.info("summary for agent %s skipped: %s", agent.pk, exc.code)
        return None
    try:
        with transaction.atomic():
            return AgentConversationSummary.objects.create(
                network_id=agent.network_id,
                agent=agent,
                conversation_id=conversation_id,
                from_seq=previous.from_seq if previous else from_seq,
                to_seq=to_seq,
                summary=done.result.content[:8000],
                token_count=done.result.output_tokens,
                model=done.model,
            )
    except IntegrityError:
        return None


def summarize_conversations(*, limit: int = 100) -> int:
    written = 0
    for agent_id, conversation_id, from_seq, to_seq in due_conversations(limit=limit):
        agent = User.objects.get(pk=agent_id)
        if summarize(agent=agent, conversation_id=conversation_id, from_seq=from_seq, to_seq=to_seq):
            written += 1
    return written
