"""The audit log writer: every audited service calls ``record``."""

from __future__ import annotations

from typing import Any

from .masking import mask_secret
from .models import AuditEvent

_SECRET_KEYS = ("secret", "token", "password", "key", "credential")


def _masked(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            out[name] = _masked(value)
        elif isinstance(value, str) and any(s in name.lower() for s in _SECRET_KEYS):
            out[name] = mask_secret(value)
        else:
            out[name] = value
    return out


def record(
    *,
    network: Any,
    actor: Any,
    action: str,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    organization: Any = None,
    data: dict[str, Any] | None = None,
    api_key: Any = None,
    ip: str | None = None,
) -> AuditEvent:
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
    return AuditEvent.objects.create(
        network_id=getattr(network, "pk", network),
        actor=actor if getattr(actor, "pk", None) else None,
        api_key=api_key,
        organization=organization,
        action=action,
        target_type=target_type or "",
        target_id=target_id,
        data=_masked(data or {}),
        ip=ip,
    )
