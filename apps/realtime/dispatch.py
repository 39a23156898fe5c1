"""The socket's extension points: client actions and connect-time groups.

``apps/realtime`` stays generic; a domain registers, from its ``AppConfig.ready``:

* ``register_action("message.send", handler)`` — ``async handler(socket, frame)``
  for a client frame ``{"type": "message.send", …}``. ``socket`` is the
  consumer (``socket.user``, ``socket.reply(frame, payload)``, ``send_json``).
  A ``DomainError`` raised by the handler becomes an ``error`` frame (with the
  frame's ``ref``/``client_id``) and the socket stays open.
* ``register_groups(provider)`` — ``async provider(user) -> list[str | (str, organization_id)]``:
  the groups a new socket joins besides ``user.<id>`` / ``session.<key>``
  (chat: ``conv.<id>`` for every conversation of the user). A group named with
  its organization (not None) is joined only when that organization's security
  policy allows the socket (``apps.realtime.policy``).

Membership changes after connect travel as ``realtime.join`` / ``realtime.leave``
events to ``user.<id>`` (``apps.realtime.services.join_group``/``leave_group``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any, dict[str, Any]], Awaitable[None]]
GroupProvider = Callable[[Any], Awaitable[list[str | tuple[str, Any]]]]

_ACTIONS: dict[str, Handler] = {}
_GROUP_PROVIDERS: list[GroupProvider] = []

#: frame types the consumer answers itself
RESERVED = frozenset({"ping"})


def register_action(name: str, handler: Handler) -> None:
    if name in RESERVED:
        raise ValueError(f"{name!r} is handled by the consumer itself")
    existing = _ACTIONS.get(name)
    if existing is not None and existing is not handler:
        raise ValueError(f"socket action {name!r} is already registered")
    _ACTIONS[name] = handler


def register_groups(provider: GroupProvider) -> None:
    if provider not in _GROUP_PROVIDERS:
        _GROUP_PROVIDERS.append(provider)


def action_handler(name: Any) -> Handler | None:
    return _ACTIONS.get(name) if isinstance(name, str) else None


def group_providers() -> tuple[GroupProvider, ...]:
    return tuple(_GROUP_PROVIDERS)
