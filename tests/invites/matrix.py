"""Cross-tenant matrix cases for the invites routes (see tests/matrix.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.matrix import Ctx, create, detail, exempt
from tests.organizations.factories import OrganizationFactory

from .factories import InviteCodeFactory, WaitlistFactory, WaveFactory


def as_admin(ctx: Ctx):
    ctx.user.network_role = "admin"
    ctx.user.save(update_fields=["network_role"])
    return ctx.user


def _own_code(ctx: Ctx) -> dict:
    return {"pk": InviteCodeFactory(network=ctx.network, owner=ctx.user, kind="member").pk}


detail("invite-code-detail", methods=("get",))(_own_code)
detail("invite-code-send", methods=("post",), body={"email": "friend@example.com"})(_own_code)
detail("invite-code-revoke", methods=("post",))(_own_code)


def _wave(ctx: Ctx) -> dict:
    as_admin(ctx)
    return {"pk": WaveFactory(network=ctx.network, scheduled_at=timezone.now() + timedelta(days=1)).pk}


detail("invite-wave-detail", methods=("get", "patch"), body={"name": "renamed"})(_wave)
for _name in ("invite-wave-release-now", "invite-wave-pause", "invite-wave-resume", "invite-wave-cancel"):
    detail(_name, methods=("post",))(_wave)


def _entry(ctx: Ctx) -> dict:
    as_admin(ctx)
    return {"pk": WaitlistFactory(network=ctx.network).pk}


detail("waitlist-entry-detail", methods=("get",))(_entry)
detail("waitlist-entry-remove", methods=("post",))(_entry)


@create("waitlist-entry-invite")
def _invite(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    as_admin(own)
    return {}, {"entries": [str(WaitlistFactory(network=other.network).pk)]}


@create("invite-code-bulk")
def _bulk(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    as_admin(own)
    org = OrganizationFactory(network=other.network)
    return {}, {"count": 2, "grants": {"organization": str(org.pk), "role": "member"}}


exempt(
    "invite-wave-list", "create takes no client-sent foreign key; the wave is placed in the caller's network"
)
exempt(
    "waitlist-join",
    "anonymous join in the request's network; a referral code of another network is ignored "
    "(tests/invites/test_waitlist.py)",
)
exempt("waitlist-verify", "anonymous; the token is looked up within the request's network only")
exempt("invite-code-check", "anonymous; the code is looked up within the request's network only")
