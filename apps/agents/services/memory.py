"""Agent memory: upsert slots, near-duplicate merging, recall within a token budget.

* ``remember`` with a ``fact_key`` is an upsert: the live fact of that slot
  (agent, project, key) is superseded by the new one (kept as history,
  ``superseded_by``); the same content only refreshes it.
* Without a key, a live fact whose words nearly match (Jaccard ≥ 0.8 over
  normalised word sets, candidates found by full-text search) is merged —
  importance and confidence take the higher value, ``use_count`` grows —
  instead of repeating it.
* Content from conversations is screened by the prompt guard first; blocked
  content is refused.
* At most ``AGENT_MEMORY_MAX_LIVE_FACTS`` live facts per agent: the least
  valuable unpinned one (importance, then oldest use) is retired to make room.
* ``recall``: pinned facts, then the top facts by
  ``ts_rank × importance × recency`` (recency = 1 / (1 + age in 30-day units))
  until the token budget (≈ 4 characters per token) is spent.

Writes lock the agent row: one writer per agent at a time, so slots and the
live count cannot race.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import transaction
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Extract, Now
from django.utils import timezone

from apps.core.api import ensure_same_network
from apps.core.exceptions import Conflict, ValidationFailed

from .. import guard
from ..models import AgentMemoryFact, ChangeKind, FactKind, FactSource
from .agents import lock_agent
from .changelog import log_change

MAX_CONTENT = 2000
NEAR_DUPLICATE = 0.8
_WORD = re.compile(r"[^\W_]+", re.U)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "") if len(w) > 1}


def similarity(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _or_query(text: str) -> SearchQuery | None:
    words = sorted(_words(text), key=len, reverse=True)[:30]
    if not words:
        return None
    return SearchQuery(
        " | ".join(re.sub(r"[^\w]", "", w) for w in words if re.sub(r"[^\w]", "", w)),
        config="english",
        search_type="raw",
    )


def live_facts(agent: Any) -> QuerySet[AgentMemoryFact]:
    now = timezone.now()
    return AgentMemoryFact.objects.filter(agent_id=agent.pk, superseded_by__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def _validate(content: str, kind: str, source: str, importance: int, confidence: Any) -> tuple[str, Decimal]:
    content = (content or "").strip()
    if not content:
        raise ValidationFailed("A fact needs content.", field="content")
    if len(content) > MAX_CONTENT:
        raise ValidationFailed(f"A fact is at most {MAX_CONTENT} characters.", field="content")
    if kind not in FactKind.values:
        raise ValidationFailed(f"One of {', '.join(FactKind.values)}.", field="kind")
    if source not in FactSource.values:
        raise ValidationFailed(f"One of {', '.join(FactSource.values)}.", field="source")
    if not isinstance(importance, int) or not 1 <= importance <= 5:
        raise ValidationFailed("Importance is 1 to 5.", field="importance")
    try:
        conf = Decimal(str(confidence)).quantize(Decimal("0.01"))
    except ArithmeticError as exc:
        raise ValidationFailed("Confidence is 0 to 1.", field="confidence") from exc
    if not Decimal(0) <= conf <= Decimal(1):
        raise ValidationFailed("Confidence is 0 to 1.", field="confidence")
    return content, conf


def _make_room(agent: Any) -> None:
    limit = settings.AGENT_MEMORY_MAX_LIVE_FACTS
    live = live_facts(agent)
    if live.count() < limit:
        return
    victim = (
        live.filter(pinned=False)
        .order_by("importance", F("last_used_at").asc(nulls_first=True), "id")
        .first()
    )
    if victim is None:
        raise Conflict(
            "The agent's memory is full of pinned facts; unpin or forget some.", code="memory_full"
        )
    victim.expires_at = timezone.now()
    victim.save(update_fields=["expires_at", "updated_at"])


@transaction.atomic
def remember(
    *,
    agent: Any,
    content: str,
    actor: Any = None,
    fact_key: str | None = None,
    project: Any = None,
    subject_user: Any = None,
    kind: str = FactKind.FACT,
    source: str = FactSource.SYSTEM,
    source_ref: str | None = None,
    confidence: Any = Decimal("0.80"),
    importance: int = 3,
    pinned: bool = False,
    expires_at: Any = None,
) -> tuple[AgentMemoryFact, bool]:
    """Store a fact; returns (fact, created). See the module docstring for slots and merging."""
    ensure_same_network(agent.network_id, project, subject_user)
    content, conf = _validate(content, kind, source, importance, confidence)
    fact_key = (fact_key or "").strip()[:200] or None
    if source == FactSource.CONVERSATION:
        verdict = guard.screen(
            content, source="memory", network=agent.network_id, agent=agent, source_ref=source_ref
        )
        if verdict.is_blocked:
            raise ValidationFailed(
                "The prompt guard refused this content.", field="content", code="blocked_by_guard"
            )
    agent = lock_agent(agent)
    live = live_facts(agent).filter(project=project)
    fields = {
        "content": content,
        "kind": kind,
        "source": source,
        "source_ref": source_ref,
        "confidence": conf,
        "importance": importance,
        "pinned": pinned,
        "expires_at": expires_at,
        "subject_user": subject_user,
    }
    if fact_key:
        current = AgentMemoryFact.objects.filter(
            agent_id=agent.pk, project=project, fact_key=fact_key, superseded_by__isnull=True
        ).first()
        if current is not None and current.content == content:
            for name, value in fields.items():
                setattr(current, name, value)
            current.save(update_fields=[*fields, "updated_at"])
            return current, False
        if current is not None:
            # out of the live slot first (the partial unique index), then point at the successor
            AgentMemoryFact.objects.filter(pk=current.pk).update(superseded_by=current.pk)
        else:
            _make_room(agent)
        fact = AgentMemoryFact.objects.create(
            network_id=agent.network_id, agent=agent, project=project, fact_key=fact_key, **fields
        )
        if current is not None:
            AgentMemoryFact.objects.filter(pk=current.pk).update(
                superseded_by=fact.pk, updated_at=timezone.now()
            )
        log_change(
            agent=agent,
            actor=actor,
            change=ChangeKind.MEMORY,
            field=f"fact:{fact_key}",
            before=current.content if current else None,
            after=content,
        )
        return fact, True
    query = _or_query(content)
    if query is not None:
        candidates = (
            live.filter(fact_key__isnull=True, search_vector=query)
            .annotate(rank=SearchRank(F("search_vector"), query))
            .order_by("-rank")[:10]
        )
        for candidate in candidates:
            if similarity(candidate.content, content) >= NEAR_DUPLICATE:
                candidate.importance = max(candidate.importance, importance)
                candidate.confidence = max(candidate.confidence, conf)
                candidate.pinned = candidate.pinned or pinned
                if len(content) > len(candidate.content):
                    candidate.content = content
                candidate.use_count = F("use_count") + 1
                candidate.save(
                    update_fields=["importance", "confidence", "pinned", "content", "use_count", "updated_at"]
                )
                candidate.refresh_from_db()
                return candidate, False
    _make_room(agent)
    fact = AgentMemoryFact.objects.create(network_id=agent.network_id, agent=agent, project=project, **fields)
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.MEMORY,
        field=f"fact:{fact.pk}",
        before=None,
        after=content,
    )
    return fact, True


@transaction.atomic
def update_fact(*, actor: Any, fact: AgentMemoryFact, changes: dict[str, Any]) -> AgentMemoryFact:
    allowed = {"content", "kind", "importance", "confidence", "pinned", "expires_at"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    lock_agent(fact.agent)
    fact = AgentMemoryFact.objects.select_for_update().get(pk=fact.pk)
    if fact.superseded_by_id is not None:
        raise ValidationFailed("A superseded fact cannot be changed.", code="superseded")
    merged = {
        "content": fact.content,
        "kind": fact.kind,
        "importance": fact.importance,
        "confidence": fact.confidence,
        **changes,
    }
    content, conf = _validate(
        merged["content"], merged["kind"], fact.source, merged["importance"], merged["confidence"]
    )
    before = fact.content
    fact.content, fact.kind, fact.importance, fact.confidence = (
        content,
        merged["kind"],
        merged["importance"],
        conf,
    )
    if "pinned" in changes:
        fact.pinned = bool(changes["pinned"])
    if "expires_at" in changes:
        fact.expires_at = changes["expires_at"]
    fact.save()
    log_change(
        agent=fact.agent, actor=actor, change=ChangeKind.MEMORY, field=f"fact:{fact.fact_key or fact.pk}",
        before=before, after=content,
    )  # fmt: skip
    return fact


@transaction.atomic
def forget_fact(*, actor: Any, fact: AgentMemoryFact) -> None:
    lock_agent(fact.agent)
    log_change(
        agent=fact.agent, actor=actor, change=ChangeKind.MEMORY, field=f"fact:{fact.fact_key or fact.pk}",
        before=fact.content, after=None,
    )  # fmt: skip
    chain, frontier = {fact.pk}, [fact.pk]
    while frontier:  # the slot's history goes with it
        frontier = list(
            AgentMemoryFact.objects.filter(superseded_by_id__in=frontier)
            .exclude(pk__in=chain)
            .values_list("pk", flat=True)
        )
        chain.update(frontier)
    AgentMemoryFact.objects.filter(pk__in=chain).delete()


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text or "") / 4))


def recall(
    *, agent: Any, query: str, project: Any = None, token_budget: int | None = None, limit: int = 50
) -> list[AgentMemoryFact]:
    """Pinned facts, then the best-ranked ones, within ``token_budget`` tokens; marks them used."""
    budget = settings.AGENT_MEMORY_TOKEN_BUDGET if token_budget is None else token_budget
    base = live_facts(agent).filter(
        Q(project__isnull=True) | Q(project=project) if project else Q(project__isnull=True)
    )
    chosen: list[AgentMemoryFact] = []
    spent = 0

    def take(fact: AgentMemoryFact) -> bool:
        nonlocal spent
        cost = estimate_tokens(fact.content)
        if spent + cost > budget:
            return False
        chosen.append(fact)
        spent += cost
        return True

    for fact in base.filter(pinned=True).order_by("-importance", "-id")[:limit]:
        take(fact)
    search = _or_query(query)
    if search is not None:
        age_days = ExpressionWrapper(
            Extract(Now() - Coalesce(F("last_used_at"), F("created_at")), "epoch") / Value(86400.0),
            output_field=FloatField(),
        )
        ranked = (
            base.filter(pinned=False, search_vector=search)
            .annotate(
                score=ExpressionWrapper(
                    SearchRank(F("search_vector"), search)
                    * F("importance")
                    / (Value(1.0) + age_days / Value(30.0)),
                    output_field=FloatField(),
                )
            )
            .order_by("-score", "-id")[:limit]
        )
        for fact in ranked:
            if not take(fact) and spent >= budget:
                break
    if chosen:
        AgentMemoryFact.objects.filter(pk__in=[f.pk for f in chosen]).update(
            last_used_at=timezone.now(), use_count=F("use_count") + 1
        )
    return chosen


def prune_memory(*, now: Any = None) -> int:
    """Delete facts expired for more than 30 days and superseded history older than 180 days."""
    now = now or timezone.now()
    expired = AgentMemoryFact.objects.filter(expires_at__lt=now - timezone.timedelta(days=30)).delete()[0]
    AgentMemoryFact.objects.filter(
        superseded_by__isnull=False, updated_at__lt=now - timezone.timedelta(days=180)
    ).delete()
    return expired
