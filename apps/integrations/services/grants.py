"""Grants: an agent may call an explicit list of tools of one connection.

Granting needs both sides: the actor manages the agent (its owner, or
``org.agents.manage``) and decides the connection (its user, or
``org.tools.approve`` on the organization it is shared with). Every grant
change is in the agent's change log (``integration``), same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.agents.selectors import can_manage_agent
from apps.agents.services import log_change
from apps.core.api import ensure_same_network
from apps.core.exceptions import NotFound, ValidationFailed

from .. import catalog
from ..connectors import ConnectorError
from ..models import AgentIntegration, UserIntegration
from .connections import can_decide_connection

MAX_TOOLS = 100


def _clean_tools(integration: UserIntegration, tools: Any) -> list[str]:
    if not isinstance(tools, list) or not tools or not all(isinstance(t, str) for t in tools):
        raise ValidationFailed("List the tools the agent may call.", field="allowed_tools")
    if len(tools) > MAX_TOOLS:
        raise ValidationFailed(f"At most {MAX_TOOLS} tools.", field="allowed_tools")
    try:
        known = {t.slug for t in catalog.tools(integration.toolkit)}
    except ConnectorError as exc:
        raise ValidationFailed(
            "The provider's tool list is unavailable; try again.", field="allowed_tools"
        ) from exc
    unknown = sorted(set(tools) - known)
    if unknown:
        raise ValidationFailed(
            f"Not tools of {integration.toolkit}: {', '.join(unknown[:10])}.",
            field="allowed_tools",
            code="unknown_tool",
        )
    return sorted(set(tools))


def _check(actor: Any, agent: Any, integration: UserIntegration) -> None:
    ensure_same_network(actor.network_id, agent, integration)
    if not can_manage_agent(actor, agent):
        raise NotFound()
    if not can_decide_connection(actor, integration):
        raise ValidationFailed(
            "You cannot grant this connection.", field="user_integration", code="not_your_connection"
        )
    if integration.status != UserIntegration.Status.ACTIVE:
        raise ValidationFailed(
            "This connection is not active.", field="user_integration", code="connection_inactive"
        )


def _after(grant: AgentIntegration) -> dict[str, Any]:
    return {
        "connection": str(grant.user_integration_id),
        "tools": grant.allowed_tools,
        "approval_policy": grant.approval_policy,
        "daily_limit": grant.daily_limit,
        "enabled": grant.enabled,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
    }


def grant_integration(
    *,
    actor: Any,
    agent: Any,
    user_integration: UserIntegration,
    allowed_tools: list[str],
    approval_policy: str = "writes",
    daily_limit: int = 100,
    expires_at: Any = None,
) -> AgentIntegration:
    _check(actor, agent, user_integration)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    tools = _clean_tools(user_integration, allowed_tools)
    try:
        with transaction.atomic():
            grant = AgentIntegration.objects.create(
                network_id=agent.network_id,
                agent=agent,
                user_integration=user_integration,
                allowed_tools=tools,
                approval_policy=approval_policy,
                daily_limit=daily_limit,
                granted_by=actor,
                expires_at=expires_at,
            )
            log_change(
                agent=agent,
                actor=actor,
                change="integration",
                field="grant",
                before=None,
                after=_after(grant),
            )
    except IntegrityError as exc:
        raise ValidationFailed(
            "The agent already has a grant on this connection; change it instead.",
            field="user_integration",
            code="duplicate",
        ) from exc
    return grant


@transaction.atomic
def update_grant(*, actor: Any, grant: AgentIntegration, changes: dict[str, Any]) -> AgentIntegration:
    grant = (
        AgentIntegration.objects.select_for_update()
        .select_related("agent", "user_integration")
        .get(pk=grant.pk)
    )
    if not can_manage_agent(actor, grant.agent):
        raise NotFound()
    if not can_decide_connection(actor, grant.user_integration):
        raise ValidationFailed("You cannot change grants of this connection.", code="not_your_connection")
    before = _after(grant)
    if "allowed_tools" in changes:
        grant.allowed_tools = _clean_tools(grant.user_integration, changes["allowed_tools"])
    for name in ("approval_policy", "daily_limit", "enabled", "expires_at"):
        if name in changes:
            setattr(grant, name, changes[name])
    if grant.enabled and grant.user_integration.status != UserIntegration.Status.ACTIVE:
        raise ValidationFailed("This connection is not active.", field="enabled", code="connection_inactive")
    grant.save()
    log_change(
        agent=grant.agent,
        actor=actor,
        change="integration",
        field="grant",
        before=before,
        after=_after(grant),
    )
    return grant


@transaction.atomic
def revoke_grant(*, actor: Any, grant: AgentIntegration) -> None:
    grant = AgentIntegration.objects.select_for_update().select_related("agent").get(pk=grant.pk)
    if not can_manage_agent(actor, grant.agent) and not can_decide_connection(actor, grant.user_integration):
        raise NotFound()
    before = _after(grant)
    log_change(agent=grant.agent, actor=actor, change="integration", field="grant", before=before, after=None)
    grant.delete()
