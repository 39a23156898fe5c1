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


# --- the organization policy walk (tests/matrix.py: org_reached) --------------------------

from tests.matrix import OrgCtx, org_reached  # noqa: E402

from .factories import AIUsageFactory  # noqa: E402


def _org_config(ctx: OrgCtx, **kwargs):
    return AIProviderConfigFactory(
        scope="organization", owner_user=None, owner_organization=ctx.org, network=ctx.network, **kwargs
    )


@org_reached(
    "ai-provider-config-list",
    methods=("get", "post"),
    body=lambda ctx: {
        "scope": "organization",
        "owner_organization": str(ctx.org.pk),
        "name": "walk",
        "base_url": "https://8.8.8.8/v1",
        "default_model": "m",
    },
)
def _org_configs(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(_org_config(ctx).pk))
    return {}


@org_reached("ai-provider-config-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})
def _org_config_detail(ctx: OrgCtx) -> dict:
    return {"pk": _org_config(ctx).pk}


@org_reached("ai-provider-config-verify", methods=("post",))
def _org_config_verify(ctx: OrgCtx) -> dict:
    # disabled: the lifted policy gets a clean 409, and nothing is ever sent anywhere
    return {"pk": _org_config(ctx, enabled=False).pk}


@org_reached("ai-usage-list", methods=("get",))
def _org_usage(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(AIUsageFactory(user=ctx.user, organization=ctx.org).pk))
    return {}


@org_reached("ai-usage-summary", methods=("get",))
def _org_usage_summary(ctx: OrgCtx) -> dict:
    # a cost only this row has: counted with the policy lifted, never under a refusing one
    AIUsageFactory(user=ctx.user, organization=ctx.org, cost_micros=987_654_321)
    ctx.hidden.append("987654321")
    return {}


# --- rows with encrypted columns for the admin secrets walk (tests/matrix.py) -------------

from tests.matrix import admin_secret_rows  # noqa: E402


@admin_secret_rows
def _provider_config_secrets(ctx) -> None:
    from tests.billing.factories import AIProviderConfigFactory

    AIProviderConfigFactory(
        owner_user=ctx.user,
        api_key="sk-walk-secret-0123456789abcdef",
        extra_headers='{"X-Walk": "hdr-walk-secret-42"}',
    )


# --- the Stripe routes (own module) -------------------------------------------------------

from . import stripe_matrix  # noqa: E402,F401
