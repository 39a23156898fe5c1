"""Telling an agent's owners something, through the inbox (``apps.inbox.services.deliver_inbox_item``)."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User


def owners(agent: User) -> list[User]:
    """The owner, or for an organization's agent its members who may manage agents."""
    if agent.agent_owner_user_id:
        owner = User.objects.filter(pk=agent.agent_owner_user_id, is_active=True).first()
        return [owner] if owner else []
    from apps.organizations import roles
    from apps.organizations.models import OrganizationMember

    rows = OrganizationMember.objects.filter(
        organization_id=agent.agent_owner_organization_id,
        status="active",
        role__in=roles.MATRIX["org.agents.manage"],
        user__is_active=True,
    ).select_related("user")
    return [row.user for row in rows]


def tell_owners(
    *,
    agent: User,
    kind: str,
    target_type: str,
    target_id: Any,
    title: str,
    body: str = "",
    data: dict | None = None,
    requires_action: bool = False,
) -> int:
    from apps.inbox.services import deliver_inbox_item

    recipients = owners(agent)
    for recipient in recipients:
        deliver_inbox_item(
            recipient=recipient,
            kind=kind,
            target_type=target_type,
            target_id=target_id,
            actor=agent,
            title=title[:200],
            body=body[:2000],
            target_url=f"/agents/{agent.pk}",
            data=data or {},
            requires_action=requires_action,
        )
    return len(recipients)
