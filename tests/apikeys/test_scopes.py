"""The scope registry (SCHEMA §21) and how scopes are granted."""

from __future__ import annotations

import pytest

from apps.apikeys.scopes import PRESETS, SCOPES, UnknownScope, expand_scopes, grants

READ_WRITE = (
    "profile orgs projects posts communities chat inbox agents memory brain wallets campaigns invites"
).split()
READ_ONLY = ("users", "billing", "usage")
EXTRA = {
    "projects:deploy",
    "infra:write",
    "realtime:connect",
    "notifications:write",
    "agents:run",
    "integrations:read",
    "integrations:execute",
    "tasks:read",
    "tasks:write",
    "tasks:claim",
    "outcomes:submit",
    "outcomes:review",
    "bounties:read",
    "bounties:fund",
    "payouts:write",
    "shares:write",
}


def test_registry_is_exactly_the_schema_list_with_descriptions():
    expected = {f"{r}:{a}" for r in READ_WRITE for a in ("read", "write")}
    expected |= {f"{r}:read" for r in READ_ONLY} | EXTRA
    assert set(SCOPES) == expected
    assert all(text.strip() for text in SCOPES.values())


def test_no_scope_reaches_key_management_or_account_security():
    assert not [s for s in SCOPES if s.split(":")[0] in {"keys", "apikeys", "api-keys", "2fa", "account"}]


def test_expand_dedupes_and_reports_every_unknown_name():
    assert expand_scopes(["chat:read", "chat:read", "read-only"]) == sorted(set(PRESETS["read-only"][1]))
    with pytest.raises(UnknownScope) as exc:
        expand_scopes(["chat:read", "chat:delete", "root"])
    assert exc.value.names == ["chat:delete", "root"]


def test_write_grants_read_of_the_same_resource_only():
    assert grants(["posts:write"], "posts:read")
    assert not grants(["posts:read"], "posts:write")
    assert not grants(["posts:write"], "chat:read")
    assert not grants(["projects:write"], "projects:deploy")
