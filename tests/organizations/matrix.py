"""Cross-tenant matrix cases for the organizations routes (see tests/matrix.py)."""

from __future__ import annotations

from tests.accounts.factories import UserFactory
from tests.matrix import Ctx, create, detail, exempt

from .factories import OrganizationFactory, OrganizationMemberFactory


def _owned(ctx: Ctx):
    return OrganizationFactory(network=ctx.network, owner=ctx.user)


@detail("organization-detail", methods=("get", "patch", "delete"))
def _org(ctx: Ctx) -> dict:
    return {"pk": _owned(ctx).pk}


@detail("organization-transfer-ownership", methods=("post",))
def _transfer(ctx: Ctx) -> dict:
    return {"pk": _owned(ctx).pk}


@detail("organization-members", methods=("get", "post"))
def _members(ctx: Ctx) -> dict:
    return {"organization_pk": _owned(ctx).pk}


@detail("organization-member-detail", methods=("get", "patch", "delete"))
def _member(ctx: Ctx) -> dict:
    org = _owned(ctx)
    return {"pk": OrganizationMemberFactory(organization=org, role="member").pk}


@detail("organization-settings", methods=("get", "patch"))
def _settings(ctx: Ctx) -> dict:
    return {"organization_pk": _owned(ctx).pk}


@detail("organization-security-policy", methods=("get", "patch"))
def _policy(ctx: Ctx) -> dict:
    return {"organization_pk": _owned(ctx).pk}


@detail("organization-audit-events", methods=("get",))
def _audit(ctx: Ctx) -> dict:
    return {"organization_pk": _owned(ctx).pk}


@create("organization-members")
def _member_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = _owned(own)
    return {"organization_pk": org.pk}, {"user": str(UserFactory(network=other.network).pk), "role": "member"}


@create("organization-transfer-ownership")
def _transfer_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    org = _owned(own)
    return {"pk": org.pk}, {"user": str(UserFactory(network=other.network).pk)}


exempt(
    "organization-list", "create takes no client-sent foreign key; the org is placed in the caller's network"
)
exempt(
    "organization-invitation-accept",
    "no foreign key: the token is looked up by its hash within the caller's network (another network's reads invalid)",
)


# --- the organization policy walk (tests/matrix.py: org_reached) --------------------------

from tests.matrix import OrgCtx, org_reached  # noqa: E402


@org_reached("organization-list", methods=("get",))
def _org_list(ctx: OrgCtx) -> dict:
    ctx.hidden.append(str(ctx.org.pk))
    return {}


@org_reached("organization-detail", methods=("get", "patch", "delete"), body={"name": "Renamed"})
def _org_policy_detail(ctx: OrgCtx) -> dict:
    return {"pk": ctx.org.pk}


@org_reached(
    "organization-transfer-ownership",
    methods=("post",),
    body=lambda ctx: {"user": str(ctx.org.members.exclude(user=ctx.user).get().user_id)},
)
def _org_policy_transfer(ctx: OrgCtx) -> dict:
    OrganizationMemberFactory(organization=ctx.org, role="admin")
    return {"pk": ctx.org.pk}


@org_reached(
    "organization-members", methods=("get", "post"), body={"email": "new@example.com", "role": "member"}
)
def _org_policy_members(ctx: OrgCtx) -> dict:
    return {"organization_pk": ctx.org.pk}


@org_reached("organization-member-detail", methods=("get", "patch", "delete"), body={"role": "viewer"})
def _org_policy_member(ctx: OrgCtx) -> dict:
    return {"pk": OrganizationMemberFactory(organization=ctx.org, role="member").pk}


@org_reached("organization-settings", methods=("get", "patch"), body={"members_can_invite": True})
def _org_policy_settings(ctx: OrgCtx) -> dict:
    return {"organization_pk": ctx.org.pk}


@org_reached("organization-security-policy", methods=("get", "patch"), body={"require_tool_approval": True})
def _org_policy_policy(ctx: OrgCtx) -> dict:
    return {"organization_pk": ctx.org.pk}


@org_reached("organization-audit-events", methods=("get",))
def _org_policy_audit(ctx: OrgCtx) -> dict:
    return {"organization_pk": ctx.org.pk}
