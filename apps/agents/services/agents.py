"""Agents: create, configure, pause, resume, disable; project access grants.

States (``User.agent_status``): active ⇄ paused → disabled (terminal).
Pausing stops runs and schedules and releases the agent's claimed work;
disabling also revokes its API keys (``apps.apikeys.services``) and turns
its schedules off. Every change writes ``AgentChangeLog`` rows in the same
transaction (``changelog.log_change``).

Who: the owner, or for organization agents a member with
``org.agents.manage`` (``selectors.can_manage_agent``). Agents manage no
agent.
"""

from __future__ import annotations

import re
import zoneinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User, handle_validator
from apps.accounts.services import set_agents_status, unique_handle
from apps.core.api import ensure_same_network
from apps.core.exceptions import InvalidState, NotFound, PermissionDenied, ValidationFailed
from apps.organizations import roles

from ..models import AgentProjectAccess, AgentScheduledTask, ChangeKind
from ..selectors import can_manage_agent
from .changelog import log_change

#: agent field → change-log kind
FIELDS: dict[str, str] = {
    "handle": ChangeKind.CONFIG,
    "display_name": ChangeKind.CONFIG,
    "bio": ChangeKind.CONFIG,
    "agent_model": ChangeKind.MODEL,
    "agent_provider_config": ChangeKind.CONFIG,
    "agent_system_prompt": ChangeKind.PROMPT,
    "agent_temperature": ChangeKind.CONFIG,
    "agent_max_output_tokens": ChangeKind.CONFIG,
    "agent_timezone": ChangeKind.CONFIG,
    "agent_autonomy": ChangeKind.CONFIG,
    "agent_capabilities": ChangeKind.CONFIG,
    "agent_daily_budget_micros": ChangeKind.CONFIG,
    "agent_max_concurrent_claims": ChangeKind.CONFIG,
}
DEFAULTS: dict[str, Any] = {
    "agent_system_prompt": "",
    "agent_temperature": Decimal("0.70"),
    "agent_max_output_tokens": 1024,
    "agent_timezone": "UTC",
    "agent_autonomy": User.AgentAutonomy.APPROVAL,
    "agent_capabilities": [],
    "agent_max_concurrent_claims": 2,
}
_CAPABILITY = re.compile(r"^[a-z0-9][a-z0-9_.:\-]{0,63}$")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(value: str, *, field: str = "agent_timezone") -> str:
    if not isinstance(value, str) or value not in _timezones():
        raise ValidationFailed(
            f"{value!r} is not a known time zone (e.g. Europe/Paris).", field=field, code="invalid_timezone"
        )
    return value


def _clean(name: str, value: Any, *, agent: User) -> Any:
    if name == "handle":
        value = (value or "").strip().lower()
        try:
            handle_validator(value)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                "Use 3–30 lower-case letters, digits or underscores.", field="handle"
            ) from exc
        if User.objects.filter(network_id=agent.network_id, handle=value).exclude(pk=agent.pk).exists():
            raise ValidationFailed("This handle is taken.", field="handle", code="handle_taken")
        return value
    if name == "display_name":
        return (value or "").strip()[:80]
    if name == "bio":
        return (value or "")[:500]
    if name == "agent_system_prompt":
        value = value or ""
        if len(value) > 20000:
            raise ValidationFailed("The system prompt is limited to 20 000 characters.", field=name)
        return value
    if name == "agent_model":
        value = (value or "").strip()
        if not value or len(value) > 200:
            raise ValidationFailed("Name a model (at most 200 characters).", field=name)
        return value
    if name == "agent_temperature":
        try:
            value = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError) as exc:
            raise ValidationFailed("A number from 0 to 2.", field=name) from exc
        if not Decimal(0) <= value <= Decimal(2):
            raise ValidationFailed("A number from 0 to 2.", field=name)
        return value
    if name == "agent_max_output_tokens":
        if not isinstance(value, int) or not 1 <= value <= 32768:
            raise ValidationFailed("From 1 to 32 768 tokens.", field=name)
        return value
    if name == "agent_max_concurrent_claims":
        if not isinstance(value, int) or not 1 <= value <= 20:
            raise ValidationFailed("From 1 to 20.", field=name)
        return value
    if name == "agent_daily_budget_micros":
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValidationFailed("A whole number of micro-dollars, 0 or more.", field=name)
        return value
    if name == "agent_timezone":
        return check_timezone(value)
    if name == "agent_autonomy":
        if value not in User.AgentAutonomy.values:
            raise ValidationFailed(f"One of {', '.join(User.AgentAutonomy.values)}.", field=name)
        return value
    if name == "agent_capabilities":
        out: list[str] = []
        for item in value or []:
            item = str(item).strip().lower()
            if not _CAPABILITY.match(item):
                raise ValidationFailed(f"{item!r} is not a capability name.", field=name)
            if item not in out:
                out.append(item)
        if len(out) > 50:
            raise ValidationFailed("At most 50 capabilities.", field=name)
        return out
    if name == "agent_provider_config":
        if value is not None:
            _check_provider_config(agent, value)
        return value
    raise ValidationFailed(f"Unknown field {name!r}.")


def _check_provider_config(agent: User, config: Any) -> None:
    """The config must be usable by the agent's owner: theirs, the owning org's, or the network's."""
    from apps.billing.models import ProviderScope

    ensure_same_network(agent.network_id, config)
    usable = config.deleted_at is None and (
        config.scope == ProviderScope.NETWORK
        or (config.scope == ProviderScope.USER and config.owner_user_id == agent.agent_owner_user_id)
        or (
            config.scope == ProviderScope.ORGANIZATION
            and config.owner_organization_id == agent.agent_owner_organization_id
        )
    )
    if not usable:
        raise ValidationFailed(
            f'Invalid pk "{config.pk}" - object does not exist.', field="agent_provider_config"
        )


def _check_model(agent: User) -> None:
    """The agent's model must be allowed by the provider it resolves to (when one exists)."""
    from apps.billing.ai.errors import ModelNotAllowed, ProviderNotConfigured
    from apps.billing.services.ai import resolve_provider

    try:
        resolve_provider(user=agent, agent=agent, model=agent.agent_model)
    except ProviderNotConfigured:
        return
    except ModelNotAllowed as exc:
        raise ModelNotAllowed(exc.message, field="agent_model") from exc


def _require_manager(actor: Any, agent: User) -> None:
    if not can_manage_agent(actor, agent):
        raise NotFound()


def lock_agent(agent: User) -> User:
    return User.objects.select_for_update(of=("self",)).get(pk=agent.pk, is_ai=True)


@transaction.atomic
def create_agent(
    *, actor: Any, display_name: str, owner_organization: Any = None, model: str | None = None, **fields: Any
) -> User:
    """A new agent user (unusable password, API keys only), owned by ``actor`` or an organization."""
    if getattr(actor, "is_ai", False):
        raise PermissionDenied("Agents cannot create agents.", code="agents_cannot_own")
    agent = User(network_id=actor.network_id, is_ai=True, email=None, agent_status=User.AgentStatus.ACTIVE)
    if owner_organization is not None:
        ensure_same_network(actor.network_id, owner_organization)
        if owner_organization.archived_at is not None:
            raise ValidationFailed("This organization is archived.", field="owner_organization")
        if not roles.has_org_permission(actor, owner_organization, "org.agents.manage"):
            raise PermissionDenied("You cannot create agents for this organization.")
        agent.agent_owner_organization = owner_organization
    else:
        agent.agent_owner_user = actor
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    values = {**DEFAULTS, **fields}
    if model is not None:
        values["agent_model"] = model
    if not values.get("agent_model"):
        org_default = getattr(getattr(owner_organization, "settings", None), "default_agent_model", None)
        values["agent_model"] = org_default or "gpt-4o-mini"
    values["display_name"] = display_name
    for name in FIELDS:
        if name in values and name != "handle":
            setattr(agent, name, _clean(name, values[name], agent=agent))
    if not agent.display_name:
        raise ValidationFailed("Name the agent.", field="display_name")
    agent.handle = (
        _clean("handle", values["handle"], agent=agent)
        if values.get("handle")
        else unique_handle(network=actor.network_id, seed=agent.display_name)
    )
    agent.set_unusable_password()
    _check_model(agent)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError as exc:
        raise ValidationFailed("This handle is taken.", field="handle", code="handle_taken") from exc
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.CREATED,
        after={name: getattr(agent, name) for name in FIELDS if name != "agent_provider_config"}
        | {"agent_provider_config": agent.agent_provider_config_id},
    )
    return agent


@transaction.atomic
def update_agent(*, actor: Any, agent: User, changes: dict[str, Any], reason: str = "") -> User:
    _require_manager(actor, agent)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    agent = lock_agent(agent)
    if agent.agent_status == User.AgentStatus.DISABLED:
        raise InvalidState("A disabled agent cannot be changed.")
    changed: list[tuple[str, Any, Any]] = []
    for name, value in changes.items():
        value = _clean(name, value, agent=agent)
        before = getattr(agent, name)
        if name == "agent_provider_config":
            before, after_id = agent.agent_provider_config_id, getattr(value, "pk", None)
            if before == after_id:
                continue
            agent.agent_provider_config = value
            changed.append((name, before, after_id))
            continue
        if before != value:
            setattr(agent, name, value)
            changed.append((name, before, value))
    if not changed:
        return agent
    if any(name in ("agent_model", "agent_provider_config") for name, _, _ in changed):
        _check_model(agent)
    fields = [name for name, _, _ in changed]
    agent.save(update_fields=[*fields, "updated_at"])
    for name, before, after in changed:
        log_change(
            agent=agent,
            actor=actor,
            change=FIELDS[name],
            field=name,
            before=before,
            after=after,
            reason=reason,
        )
    from apps.accounts.signals import send_users_changed_on_commit

    send_users_changed_on_commit([agent.pk])
    return agent


def _release_work(agent: User, *, reason: str) -> None:
    """The dispatcher releases the agent's claimed tasks (hook; a no-op until it exists)."""
    try:
        from apps.dispatcher import services as dispatcher
    except ImportError:  # pragma: no cover
        return
    release = getattr(dispatcher, "release_agent_claims", None)
    if release is not None:
        release(agent=agent, reason=reason)


def _move(actor: Any, agent: User, *, to: str, allowed_from: tuple[str, ...], reason: str) -> User:
    if not getattr(actor, "is_staff", False):  # staff pause / resume / disable from the admin
        _require_manager(actor, agent)
    agent = lock_agent(agent)
    if agent.agent_status not in allowed_from:
        raise InvalidState(f"The agent is {agent.agent_status}; it cannot become {to}.")
    before = agent.agent_status
    set_agents_status(agents=User.objects.filter(pk=agent.pk), status=to, from_status=before)
    agent.agent_status = to
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.STATUS,
        field="agent_status",
        before=before,
        after=to,
        reason=reason,
    )
    return agent


@transaction.atomic
def pause_agent(*, actor: Any, agent: User, reason: str = "") -> User:
    """active → paused: no runs, schedules wait, claimed work released."""
    agent = _move(
        actor, agent, to=User.AgentStatus.PAUSED, allowed_from=(User.AgentStatus.ACTIVE,), reason=reason
    )
    _release_work(agent, reason="agent paused")
    return agent


@transaction.atomic
def resume_agent(*, actor: Any, agent: User, reason: str = "") -> User:
    return _move(
        actor, agent, to=User.AgentStatus.ACTIVE, allowed_from=(User.AgentStatus.PAUSED,), reason=reason
    )


@transaction.atomic
def disable_agent(*, actor: Any, agent: User, reason: str = "") -> User:
    """→ disabled (terminal): keys revoked, schedules off, claimed work released."""
    from apps.apikeys.models import ApiKey
    from apps.apikeys.services import revoke_api_key

    agent = _move(
        actor,
        agent,
        to=User.AgentStatus.DISABLED,
        allowed_from=(User.AgentStatus.ACTIVE, User.AgentStatus.PAUSED),
        reason=reason,
    )
    for key in ApiKey.objects.filter(user=agent, revoked_at__isnull=True):
        revoke_api_key(actor=actor, api_key=key, reason="agent disabled")
        log_change(
            agent=agent,
            actor=actor,
            change=ChangeKind.KEY,
            field="api_key",
            before=key.prefix,
            after="revoked",
        )
    AgentScheduledTask.objects.filter(agent=agent, enabled=True).update(
        enabled=False, updated_at=timezone.now()
    )
    _release_work(agent, reason="agent disabled")
    return agent


# --- project access ---------------------------------------------------------------


@transaction.atomic
def grant_project_access(
    *, actor: Any, agent: User, project: Any, role: str, expires_at: Any = None
) -> AgentProjectAccess:
    """Grant (or change) an agent's role on a project: the actor manages the agent and maintains the project."""
    from apps.projects import permissions

    _require_manager(actor, agent)
    ensure_same_network(agent.network_id, project)
    permissions.require(actor, project, "project.edit")
    if role not in AgentProjectAccess.Role.values:
        raise ValidationFailed(f"One of {', '.join(AgentProjectAccess.Role.values)}.", field="role")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("The expiry must be in the future.", field="expires_at")
    agent = lock_agent(agent)
    existing = AgentProjectAccess.objects.select_for_update().filter(agent=agent, project=project).first()
    before = {"role": existing.role, "expires_at": existing.expires_at} if existing else None
    if existing:
        existing.role, existing.expires_at, existing.granted_by = role, expires_at, actor
        existing.save(update_fields=["role", "expires_at", "granted_by", "updated_at"])
        access = existing
    else:
        access = AgentProjectAccess.objects.create(
            network_id=agent.network_id,
            agent=agent,
            project=project,
            role=role,
            expires_at=expires_at,
            granted_by=actor,
        )
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.ACCESS,
        field=f"project:{project.pk}",
        before=before,
        after={"role": role, "expires_at": expires_at},
    )
    return access


@transaction.atomic
def revoke_project_access(*, actor: Any, access: AgentProjectAccess) -> None:
    from apps.projects import permissions

    agent = access.agent
    _require_manager(actor, agent)
    permissions.require(actor, access.project, "project.edit")
    lock_agent(agent)
    log_change(
        agent=agent,
        actor=actor,
        change=ChangeKind.ACCESS,
        field=f"project:{access.project_id}",
        before={"role": access.role, "expires_at": access.expires_at},
        after=None,
    )
    access.delete()
