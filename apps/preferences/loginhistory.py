"""The one writer of LoginHistory rows (append-only).

Called from login signal receivers, the 2FA stage, password flows and
lockouts. ``request`` supplies IP and user agent when there is one.
"""

from __future__ import annotations

from typing import Any

from apps.accounts.services import client_ip

from .models import LoginHistory


def record_login_event(
    *,
    event: str,
    request: Any = None,
    user: Any = None,
    network: Any = None,
    method: str | None = None,
    provider: str | None = None,
    failure_reason: str | None = None,
    attempted_email: str | None = None,
    session: Any = None,
    is_new_device: bool = False,
) -> LoginHistory:
    if event not in LoginHistory.Event.values:
        raise ValueError(f"unknown login event {event!r}")
    if network is None:
        network = getattr(user, "network", None) or getattr(request, "network", None)
    meta = getattr(request, "META", {}) if request is not None else {}
    return LoginHistory.objects.create(
        network_id=getattr(network, "pk", network),
        user=user if getattr(user, "pk", None) else None,
        attempted_email=(attempted_email or "").lower() or None,
        event=event,
        method=method,
        provider=provider,
        failure_reason=failure_reason,
        ip=client_ip(request) if request is not None else None,
        user_agent=meta.get("HTTP_USER_AGENT", "")[:512],
        session=session,
        is_new_device=is_new_device,
    )
