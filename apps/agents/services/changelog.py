"""The agent change log writer: every service that changes an agent calls ``log_change`` in its transaction.

Values are stored as JSON; anything that looks like a secret is replaced by
its hint (``apps.core.masking``) — by field name (``*key*``, ``*token*``,
``*secret*``, ``*password*``) and by shape (``redact``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.core.masking import mask_secret, redact

from ..models import AgentChangeLog

_SECRET_NAMES = ("secret", "token", "password", "key", "credential")


def _jsonable(value: Any, *, secret: bool = False) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, secret=secret or _is_secret(str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v, secret=secret) for v in value]
    if hasattr(value, "pk"):
        return str(value.pk)
    text = str(value)
    return mask_secret(text) if secret else redact(text)


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(s in lowered for s in _SECRET_NAMES) and not lowered.endswith(("_hint", "_id", "fact_key"))


def log_change(
    *,
    agent: Any,
    actor: Any,
    change: str,
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AgentChangeLog:
    secret = bool(field and _is_secret(field))
    return AgentChangeLog.objects.create(
        network_id=agent.network_id,
        agent_id=agent.pk,
        actor_id=getattr(actor, "pk", None),
        change=change,
        field=field,
        before=_jsonable(before, secret=secret),
        after=_jsonable(after, secret=secret),
        reason=(reason or "")[:2000],
    )
