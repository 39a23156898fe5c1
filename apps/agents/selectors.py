"""Reads shared by agents, projects and the API: access levels, manageable agents, today's cost."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User

from .models import AccessRole, AgentProjectAccess

#: AgentProjectAccess role → project level (apps/projects/permissions.py Level values)
ROLE_LEVEL = {AccessRole.READ: 1, AccessRole.CONTRIBUTE: 2, AccessRole.MAINTAIN: 3}


def live_access() -> QuerySet[AgentProjectAccess]:
    """Grants that have not expired."""
    return AgentProjectAccess.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


def agent_project_level(agent: Any, project: Any) -> int:
    """The level (0 none … 3 maintain) an agent's live grant gives on ``project`` — one query."""
    role = (
        live_access().filter(agent_id=agent.pk, project_id=project.pk).values_list("role", flat=True).first()
    )
    return ROLE_LEVEL.get(role, 0) if role else 0


def manageable_agents_q(user: Any, *, prefix: str = "") -> Q:
    """Agents ``user`` manages: their own, and those of orgs where they hold ``org.agents.manage`` (§21)."""
    from apps.apikeys.selectors import manageable_agents_q as rule  # the one place the rule is written

    return rule(user, prefix=prefix)


def manageable_agents(qs: QuerySet[User], *, user: Any) -> QuerySet[User]:
    return qs.filter(manageable_agents_q(user))


def can_manage_agent(user: Any, agent: Any) -> bool:
    if user is None or getattr(user, "is_ai", False) or not getattr(agent, "is_ai", False):
        return False
    if agent.agent_owner_user_id == user.pk:
        return True
    return User.objects.filter(pk=agent.pk).filter(manageable_agents_q(user)).exists()


def today_start() -> datetime:
    return datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)
