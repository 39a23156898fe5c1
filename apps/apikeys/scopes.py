"""The API key scope registry (SCHEMA.md §21) and the view → scope mapping.

A scope is ``resource:action``. Views declare ``scope_resource`` (safe methods
need ``<resource>:read``, the others ``<resource>:write``) and may override
single actions with ``scope_map`` (``{"deploy": "projects:deploy"}``). A
``<resource>:write`` scope also grants ``<resource>:read``.

Never available to keys, whatever the scopes: key management, 2FA, email
change, account deletion, payouts to unverified wallets — those views set
``api_key_forbidden = True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import permissions

_READ_WRITE = {
    "profile": "your own profile (me)",
    "orgs": "organizations, members and their settings",
    "projects": "projects and their roadmaps",
    "posts": "posts, replies and reactions",
    "communities": "communities and their membership",
    "chat": "conversations and messages",
    "inbox": "inbox items",
    "agents": "AI agents and their configuration",
    "memory": "agent memory facts",
    "brain": "project brain documents",
    "wallets": "wallets and balances",
    "campaigns": "email campaigns",
    "invites": "invite codes and waves",
}
_READ_ONLY = {
    "users": "users of the network",
    "billing": "plans, subscriptions and invoices",
    "usage": "AI and API usage",
}
_EXTRA = {
    "projects:deploy": "deploy projects",
    "infra:write": "manage project infrastructure (databases, buckets, sandboxes)",
    "realtime:connect": "open a WebSocket (real-time ticket)",
    "notifications:write": "manage notification devices and preferences",
    "agents:run": "trigger agent runs",
    "integrations:read": "read integration connections",
    "integrations:execute": "execute integration tools",
    "tasks:read": "read roadmap tasks and claims",
    "tasks:write": "create and edit roadmap tasks",
    "tasks:claim": "claim roadmap tasks",
    "outcomes:submit": "submit task outcomes",
    "outcomes:review": "review task outcomes",
    "bounties:read": "read bounties",
    "bounties:fund": "fund bounties",
    "payouts:write": "request payouts (verified wallets only)",
    "shares:write": "create share links",
}


def _build() -> dict[str, str]:
    registry: dict[str, str] = {}
    for resource, what in _READ_WRITE.items():
        registry[f"{resource}:read"] = f"Read {what}."
        registry[f"{resource}:write"] = f"Create, change and delete {what}."
    for resource, what in _READ_ONLY.items():
        registry[f"{resource}:read"] = f"Read {what}."
    for scope, what in _EXTRA.items():
        registry[scope] = what[0].upper() + what[1:] + "."
    return dict(sorted(registry.items()))


#: every valid scope → what it allows
SCOPES: dict[str, str] = _build()

_AGENT_DEFAULT = (
    "profile:read",
    "users:read",
    "projects:read",
    "posts:read",
    "posts:write",
    "communities:read",
    "chat:read",
    "chat:write",
    "inbox:read",
    "inbox:write",
    "memory:read",
    "memory:write",
    "brain:read",
    "brain:write",
    "tasks:read",
    "tasks:write",
    "tasks:claim",
    "outcomes:submit",
    "bounties:read",
    "realtime:connect",
)

#: preset name → (description, scopes); presets expand when a key is created
PRESETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "read-only": (
        "Every read scope.",
        tuple(scope for scope in SCOPES if scope.endswith(":read")),
    ),
    "agent-default": ("What an agent needs to work on projects and talk.", _AGENT_DEFAULT),
    "full": ("Every scope (key management stays session-only).", tuple(SCOPES)),
}
assert all(scope in SCOPES for _, scopes in PRESETS.values() for scope in scopes)


class UnknownScope(ValueError):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(", ".join(names))


def expand_scopes(requested: Iterable[str]) -> list[str]:
    """Presets expanded, duplicates dropped, sorted; unknown names raise ``UnknownScope``."""
    out: set[str] = set()
    unknown: list[str] = []
    for name in requested:
        name = (name or "").strip()
        if name in PRESETS:
            out.update(PRESETS[name][1])
        elif name in SCOPES:
            out.add(name)
        else:
            unknown.append(name)
    if unknown:
        raise UnknownScope(unknown)
    return sorted(out)


def required_scope(view: Any, request: Any) -> str | None:
    """The scope a key needs for this request, or None when keys may not call the view."""
    scope_map: dict[str, str] = getattr(view, "scope_map", None) or {}
    action = getattr(view, "action", None)
    if action and action in scope_map:
        return scope_map[action]
    method = (request.method or "").lower()
    if method in scope_map:
        return scope_map[method]
    resource = getattr(view, "scope_resource", None)
    if not resource:
        return None
    return f"{resource}:read" if request.method in permissions.SAFE_METHODS else f"{resource}:write"


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether a key's scopes include ``needed`` (``x:write`` also grants ``x:read``)."""
    held = scopes if isinstance(scopes, (set, frozenset)) else set(scopes)
    if needed in held:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in held
