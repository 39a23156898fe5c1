"""Cross-tenant matrix cases for the API key routes (see tests/matrix.py)."""

from __future__ import annotations

from tests.accounts.factories import PASSWORD
from tests.matrix import Ctx, create, detail

from .factories import issue_key, make_agent


def _own_key(ctx: Ctx) -> dict:
    return {"pk": issue_key(ctx.user).api_key.pk}


detail("apikey-detail", body={"name": "renamed"})(_own_key)
detail("apikey-revoke", body={"reason": "matrix"})(_own_key)
detail("apikey-rotate", body={"password": PASSWORD})(_own_key)
detail("apikey-usage", methods=("get",))(_own_key)


@create("apikey-list")
def _key_for_foreign_agent(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    agent = make_agent(owner=other.user)
    return {}, {"name": "k", "scopes": ["profile:read"], "agent": str(agent.pk), "password": PASSWORD}
