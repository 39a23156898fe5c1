"""AI provider configs: create, change, delete, verify (bring your own key).

Who manages what (§21): a user their own (scope ``user``); an organization's
owners and billing members its configs (``org.billing``); staff the network
configs (platform key, Django admin only). Agents manage none.

The API key and extra headers are encrypted (``EncryptedTextField``) and
write-only; only their hints are ever shown. A config that usage refers to is
not deleted but retired (``deleted_at``, key wiped) so the history stays.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core import audit
from apps.core.api import ensure_same_network
from apps.core.exceptions import PermissionDenied, ValidationFailed
from apps.organizations import roles
from apps.organizations.models import OrganizationMember

from ..ai.endpoint import check_base_url, parse_extra_headers
from ..ai.errors import ProviderError
from ..models import AIProviderConfig, AIUsage, ProviderKind, ProviderScope

_UNSET: Any = object()
EDITABLE = (
    "name",
    "provider",
    "base_url",
    "api_key",
    "extra_headers",
    "default_model",
    "allowed_models",
    "is_default",
    "enabled",
    "monthly_budget_micros",
)


def billing_org_ids(user: Any) -> QuerySet:
    """Organizations where ``user`` holds a role with ``org.billing``."""
    return OrganizationMember.objects.filter(
        user_id=user.pk,
        status="active",
        role__in=roles.MATRIX["org.billing"],
        organization__archived_at__isnull=True,
    ).values("organization_id")


def manageable_configs_q(user: Any) -> Q:
    """Configs ``user`` may see and change through the API (never network configs)."""
    return Q(deleted_at__isnull=True) & (
        Q(scope=ProviderScope.USER, owner_user_id=user.pk)
        | Q(scope=ProviderScope.ORGANIZATION, owner_organization_id__in=billing_org_ids(user))
    )


def can_manage(actor: Any, config: AIProviderConfig) -> bool:
    if getattr(actor, "is_ai", False):
        return False
    if config.scope == ProviderScope.USER:
        return config.owner_user_id == actor.pk
    if config.scope == ProviderScope.ORGANIZATION:
        return roles.has_org_permission(actor, config.owner_organization, "org.billing")
    return bool(actor.is_staff)


def _clean_models(default_model: str, allowed_models: list[str] | None) -> tuple[str, list[str]]:
    default_model = (default_model or "").strip()
    if not default_model:
        raise ValidationFailed("Name the default model.", field="default_model")
    allowed: list[str] = []
    for name in allowed_models or []:
        name = str(name).strip()
        if name and name not in allowed:
            allowed.append(name)
    if allowed and default_model not in allowed:
        raise ValidationFailed(
            "The default model must be one of the allowed models.",
            field="default_model",
            code="model_not_allowed",
        )
    return default_model, allowed


def _check_budget(value: Any) -> None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise ValidationFailed(
            "The budget is a whole number of micro-dollars, 0 or more.", field="monthly_budget_micros"
        )


def _owner_filter(config: AIProviderConfig) -> dict[str, Any]:
    return {
        "network_id": config.network_id,
        "scope": config.scope,
        "owner_user_id": config.owner_user_id,
        "owner_organization_id": config.owner_organization_id,
    }


def _save(config: AIProviderConfig, *, update_fields: list[str] | None = None) -> None:
    if config.is_default:  # one default per owner: the others step down (the partial U backstops)
        AIProviderConfig.objects.filter(**_owner_filter(config), is_default=True).exclude(
            pk=config.pk
        ).update(is_default=False, updated_at=timezone.now())
    try:
        with transaction.atomic():
            if update_fields is None:
                config.save()
            else:
                config.save(update_fields=[*update_fields, "updated_at"])
    except IntegrityError as exc:
        if "name" in str(exc):
            raise ValidationFailed(
                "A configuration with this name exists.", field="name", code="name_taken"
            ) from exc
        raise ValidationFailed(
            "Another configuration is already the default; try again.", field="is_default"
        ) from exc


@transaction.atomic
def create_provider_config(
    *,
    actor: Any,
    name: str,
    base_url: str,
    default_model: str,
    scope: str = ProviderScope.USER,
    owner_organization: Any = None,
    provider: str = ProviderKind.OPENAI,
    api_key: str | None = None,
    extra_headers: dict[str, str] | None = None,
    allowed_models: list[str] | None = None,
    is_default: bool = False,
    enabled: bool = True,
    monthly_budget_micros: int | None = None,
    network: Any = None,
    owner_user: Any = None,
) -> AIProviderConfig:
    """``network`` / ``owner_user`` are for staff (Django admin) only; others act in their own name."""
    if getattr(actor, "is_ai", False):
        raise PermissionDenied("Agents cannot manage AI provider configurations.")
    if (network is not None or owner_user is not None) and not actor.is_staff:
        raise PermissionDenied()
    network_id = getattr(network, "pk", None) or actor.network_id
    config = AIProviderConfig(network_id=network_id, scope=scope, created_by=actor)
    if scope == ProviderScope.USER:
        config.owner_user = owner_user or actor
        ensure_same_network(network_id, config.owner_user)
    elif scope == ProviderScope.ORGANIZATION:
        if owner_organization is None:
            raise ValidationFailed("Choose the organization.", field="owner_organization")
        ensure_same_network(network_id, owner_organization)
        if not actor.is_staff and not roles.has_org_permission(actor, owner_organization, "org.billing"):
            raise PermissionDenied("Only owners and billing members manage the organization's AI providers.")
        config.owner_organization = owner_organization
    elif scope == ProviderScope.NETWORK:
        if not actor.is_staff:
            raise PermissionDenied("Only staff manage the network's AI providers.")
    else:
        raise ValidationFailed(f"{scope!r} is not a valid scope.", field="scope")
    if provider not in ProviderKind.values:
        raise ValidationFailed(f"{provider!r} is not a valid provider.", field="provider")
    config.name = (name or "").strip()[:200]
    if not config.name:
        raise ValidationFailed("Name the configuration.", field="name")
    config.provider = provider
    config.base_url = check_base_url(base_url, allow_private=scope == ProviderScope.NETWORK)
    config.default_model, config.allowed_models = _clean_models(default_model, allowed_models)
    config.api_key = api_key or None
    headers = parse_extra_headers(extra_headers)
    config.extra_headers = json.dumps(headers) if headers else None
    _check_budget(monthly_budget_micros)
    config.monthly_budget_micros = monthly_budget_micros
    config.is_default = bool(is_default)
    config.enabled = bool(enabled)
    _save(config)
    audit.record(
        network=config.network_id,
        actor=actor,
        action="ai_provider_config.created",
        target=config,
        organization=config.owner_organization,
        data={
            "name": config.name,
            "scope": scope,
            "base_url": config.base_url,
            "api_key": config.api_key_hint,
        },
    )
    return config


def _locked(config: AIProviderConfig) -> AIProviderConfig:
    return AIProviderConfig.objects.select_for_update(of=("self",)).get(pk=config.pk, deleted_at__isnull=True)


@transaction.atomic
def update_provider_config(
    *, actor: Any, config: AIProviderConfig, changes: dict[str, Any]
) -> AIProviderConfig:
    """Change the given fields; ``api_key`` / ``extra_headers``: absent = keep, null or "" = clear."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if not actor.is_staff:
        ensure_same_network(actor.network_id, config)
    if not can_manage(actor, config):
        raise PermissionDenied("You cannot change this AI provider configuration.")
    config = _locked(config)
    changed: list[str] = []
    if "name" in changes:
        config.name = (changes["name"] or "").strip()[:200]
        if not config.name:
            raise ValidationFailed("Name the configuration.", field="name")
        changed.append("name")
    if "provider" in changes:
        if changes["provider"] not in ProviderKind.values:
            raise ValidationFailed(f"{changes['provider']!r} is not a valid provider.", field="provider")
        config.provider = changes["provider"]
        changed.append("provider")
    if "base_url" in changes:
        config.base_url = check_base_url(
            changes["base_url"], allow_private=config.scope == ProviderScope.NETWORK
        )
        changed.append("base_url")
    if "default_model" in changes or "allowed_models" in changes:
        config.default_model, config.allowed_models = _clean_models(
            changes.get("default_model", config.default_model),
            changes.get("allowed_models", config.allowed_models),
        )
        changed += ["default_model", "allowed_models"]
    if "api_key" in changes:
        config.api_key = changes["api_key"] or None
        changed += ["api_key", "api_key_hint"]
    if "extra_headers" in changes:
        headers = parse_extra_headers(changes["extra_headers"])
        config.extra_headers = json.dumps(headers) if headers else None
        changed += ["extra_headers", "extra_headers_hint"]
    if "monthly_budget_micros" in changes:
        _check_budget(changes["monthly_budget_micros"])
        config.monthly_budget_micros = changes["monthly_budget_micros"]
        changed.append("monthly_budget_micros")
    for flag in ("is_default", "enabled"):
        if flag in changes:
            setattr(config, flag, bool(changes[flag]))
            changed.append(flag)
    if changed:
        _save(config, update_fields=sorted(set(changed)))
        audit.record(
            network=config.network_id,
            actor=actor,
            action="ai_provider_config.updated",
            target=config,
            organization=config.owner_organization,
            data={"fields": sorted(set(changed) - {"api_key_hint", "extra_headers_hint"})},
        )
    return config


@transaction.atomic
def delete_provider_config(*, actor: Any, config: AIProviderConfig) -> None:
    if not actor.is_staff:
        ensure_same_network(actor.network_id, config)
    if not can_manage(actor, config):
        raise PermissionDenied("You cannot delete this AI provider configuration.")
    config = _locked(config)
    audit.record(
        network=config.network_id,
        actor=actor,
        action="ai_provider_config.deleted",
        target=config,
        organization=config.owner_organization,
        data={"name": config.name},
    )
    from apps.accounts.models import User

    User.objects.filter(agent_provider_config=config).update(
        agent_provider_config=None, updated_at=timezone.now()
    )
    if AIUsage.objects.filter(provider_config=config).exists():
        config.deleted_at = timezone.now()
        config.enabled = False
        config.is_default = False
        config.api_key = None
        config.extra_headers = None
        config.save(
            update_fields=[
                "deleted_at", "enabled", "is_default", "api_key", "api_key_hint",
                "extra_headers", "extra_headers_hint", "updated_at",
            ]
        )  # fmt: skip
    else:
        config.delete()


def verify_provider_config(*, actor: Any, config: AIProviderConfig) -> AIProviderConfig:
    """A 1-token call with the config's default model; stores ``last_verified_at`` or ``last_error``.

    Not atomic on purpose: the call's usage commits on its own.
    """
    if not actor.is_staff:
        ensure_same_network(actor.network_id, config)
    if not can_manage(actor, config):
        raise PermissionDenied("You cannot verify this AI provider configuration.")
    from .ai import complete

    now = timezone.now()
    try:
        complete(
            user=actor,
            messages=[{"role": "user", "content": "ping"}],
            feature="verification",
            config=config,
            model=config.default_model,
            max_tokens=1,
            request_ref=f"verify:{config.pk}",
        )
    except ProviderError as exc:
        AIProviderConfig.objects.filter(pk=config.pk).update(last_error=exc.message[:2000], updated_at=now)
    else:
        AIProviderConfig.objects.filter(pk=config.pk).update(
            last_verified_at=now, last_error="", updated_at=now
        )
    config.refresh_from_db()
    return config
