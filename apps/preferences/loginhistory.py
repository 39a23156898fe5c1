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
    row = LoginHistory.objects.create(
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
    if event == LoginHistory.Event.LOGIN and is_new_device and row.user_id:
        _report_new_device(row)
    return row


def _report_new_device(row: LoginHistory) -> None:
    from apps.inbox.services import report_security_event

    where = f" from {row.ip}" if row.ip else ""
    report_security_event(
        user=row.user,
        event="new_login",
        title="New sign-in to your account",
        body=f"A new device signed in{where} ({row.user_agent[:120] or 'unknown browser'}). "
        "If this was not you, change your password and sign out other sessions.",
        target_type="loginhistory",
        target_id=row.pk,
        data={"ip": row.ip, "method": row.method},
    )
