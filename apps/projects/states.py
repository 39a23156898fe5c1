"""State machines of the infrastructure rows (SCHEMA.md §4).

``MACHINES[model][target]`` = the states a row may move to ``target`` from.
``transition`` is the only writer of ``status``: one conditional
``UPDATE … WHERE id = %s AND status IN (…)``; a lost race or an illegal move
updates nothing and the caller raises ``InvalidState`` (409).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from apps.core.exceptions import InvalidState
from apps.core.masking import mask_secret

from .models import Database, Deployment, Sandbox, StorageBucket

SANDBOX: dict[str, frozenset[str]] = {
    "provisioning": frozenset({"requested"}),
    "running": frozenset({"provisioning", "stopped"}),
    "stopped": frozenset({"running"}),
    "failed": frozenset({"requested", "provisioning", "running", "stopped"}),
    "destroyed": frozenset({"stopped", "failed"}),
}
DEPLOYMENT_UNFINISHED = frozenset({"queued", "building", "deploying"})
DEPLOYMENT: dict[str, frozenset[str]] = {
    "building": frozenset({"queued"}),
    "deploying": frozenset({"building"}),
    "live": frozenset({"deploying"}),
    "superseded": frozenset({"live"}),
    "failed": DEPLOYMENT_UNFINISHED,
    "cancelled": DEPLOYMENT_UNFINISHED,
}
RESOURCE: dict[str, frozenset[str]] = {
    "ready": frozenset({"provisioning"}),
    "deleting": frozenset({"ready", "failed"}),
    "deleted": frozenset({"deleting"}),
    "failed": frozenset({"provisioning", "deleting"}),
}
MACHINES: dict[type[models.Model], dict[str, frozenset[str]]] = {
    Sandbox: SANDBOX,
    Deployment: DEPLOYMENT,
    StorageBucket: RESOURCE,
    Database: RESOURCE,
}
#: states a row waits in for a provider; stuck there too long → failed
TRANSITIONAL: dict[type[models.Model], tuple[str, ...]] = {
    Sandbox: ("requested", "provisioning"),
    Deployment: ("queued", "building", "deploying"),
    StorageBucket: ("provisioning", "deleting"),
    Database: ("provisioning", "deleting"),
}


def can_move(model: type[models.Model], source: str, target: str) -> bool:
    return source in MACHINES[model].get(target, frozenset())


def transition(
    model: type[models.Model],
    pk: Any,
    target: str,
    *,
    sources: frozenset[str] | set[str] | None = None,
    **fields: Any,
) -> bool:
    """Move one row to ``target`` if it is in an allowed source state; True if it moved."""
    allowed = MACHINES[model][target] if sources is None else sources
    moved = model._default_manager.filter(pk=pk, status__in=list(allowed)).update(
        status=target, updated_at=timezone.now(), **fields
    )
    return moved == 1


def move(obj: models.Model, target: str, *, sources: frozenset[str] | None = None, **fields: Any) -> None:
    """``transition`` for an instance in hand: raises 409 ``invalid_state`` and refreshes it."""
    model = type(obj)
    if not transition(model, obj.pk, target, sources=sources, **fields):
        current = model._default_manager.filter(pk=obj.pk).values_list("status", flat=True).first()
        raise InvalidState(
            f"A {model._meta.verbose_name} cannot go from {current or obj.status} to {target}.",
            extra={"status": current},
        )
    obj.refresh_from_db()


def with_hints(**secrets: str | None) -> dict[str, Any]:
    """Encrypted columns for ``QuerySet.update`` plus their hints (update() skips pre_save)."""
    fields: dict[str, Any] = {}
    for name, value in secrets.items():
        fields[name] = value
        fields[f"{name}_hint"] = mask_secret(value) if value else ""
    return fields
