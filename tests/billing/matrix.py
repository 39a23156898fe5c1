"""Cross-tenant matrix cases of the AI billing routes (registry: tests/matrix.py)."""

from __future__ import annotations

from tests.matrix import Ctx, create, detail
from tests.organizations.factories import OrganizationFactory

from .factories import AIProviderConfigFactory


@create("ai-provider-config-list")
def _config_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    # an organization of the other network as owner: 400, nothing written
    org = OrganizationFactory(network=other.network, owner=other.user)
    body = {
        "scope": "organization",
        "owner_organization": str(org.pk),
        "name": "x",
        "base_url": "https://8.8.8.8/v1",
        "default_model": "m",
    }
    return {}, body


@detail("ai-provider-config-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _config(ctx: Ctx) -> dict:
    return {"pk": AIProviderConfigFactory(owner_user=ctx.user).pk}


@detail("ai-provider-config-verify", methods=("post",))
def _config_verify(ctx: Ctx) -> dict:
    # a disabled config: its own user gets a clean error, never a call
    return {"pk": AIProviderConfigFactory(owner_user=ctx.user, enabled=False).pk}
