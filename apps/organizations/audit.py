"""The organization audit trail: every change to an org (and its projects, keys…) is recorded here.

Other apps call ``record_org_event`` so their rows show up in
``GET /api/v1/organizations/{id}/audit-events/`` and in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core import audit
from apps.core.models import AuditEvent


@dataclass(frozen=True)
class AuditContext:
    """Where a change came from (the API passes it; admin and jobs may omit it)."""

    ip: str | None = None
    api_key: Any = None


def audit_context(request: Any) -> AuditContext:
    from apps.apikeys.permissions import request_api_key
    from apps.core.clientip import client_ip

    return AuditContext(ip=client_ip(request), api_key=request_api_key(request))


def record_org_event(
    *,
    organization: Any,
    actor: Any,
    action: str,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    data: dict[str, Any] | None = None,
    via: AuditContext | None = None,
) -> AuditEvent:
    """Append one audit row for ``organization`` (``action`` like ``org.member.role_changed``)."""
    return audit.record(
        network=organization.network_id,
        organization=organization,
        actor=actor,
        action=action,
        target=target if target is not None or target_type else organization,
        target_type=target_type,
        target_id=target_id,
        data=data,
        api_key=via.api_key if via else None,
        ip=via.ip if via else None,
    )
