"""Cross-tenant matrix cases for the mailing routes (see tests/matrix.py)."""

from __future__ import annotations

from tests.invites.matrix import as_admin
from tests.matrix import Ctx, create, detail, exempt
from tests.organizations.factories import OrganizationFactory

from .factories import CampaignFactory, SuppressionFactory


def _campaign(ctx: Ctx, **kwargs) -> dict:
    as_admin(ctx)
    # an audience that matches nobody: the own-network calls below never reach SES
    return {
        "pk": CampaignFactory(
            network=ctx.network, created_by=ctx.user, audience={"source": "waitlist"}, **kwargs
        ).pk
    }


detail("email-campaign-detail", methods=("get", "patch", "delete"), body={"name": "renamed"})(_campaign)
detail("email-campaign-audience-preview", methods=("get",))(_campaign)
detail("email-campaign-sends", methods=("get",))(_campaign)
detail("email-campaign-schedule", methods=("post",), body={"scheduled_at": "2099-01-01T00:00:00Z"})(_campaign)
detail("email-campaign-send-now", methods=("post",))(_campaign)
detail("email-campaign-test-send", methods=("post",), body={"emails": []})(_campaign)
detail("email-campaign-unschedule", methods=("post",))(lambda ctx: _campaign(ctx, status="scheduled"))
detail("email-campaign-pause", methods=("post",))(lambda ctx: _campaign(ctx, status="sending"))
detail("email-campaign-resume", methods=("post",))(lambda ctx: _campaign(ctx, status="paused"))
detail("email-campaign-cancel", methods=("post",))(_campaign)


@detail("email-suppression-detail", methods=("get", "delete"))
def _suppression(ctx: Ctx) -> dict:
    as_admin(ctx)
    return {"pk": SuppressionFactory(network=ctx.network).pk}


@create("email-campaign-list")
def _campaign_create(own: Ctx, other: Ctx) -> tuple[dict, dict]:
    as_admin(own)
    org = OrganizationFactory(network=other.network)
    body = {
        "name": "n",
        "subject": "s",
        "from_email": "news@colony.local",
        "text_body": "hello",
        "audience": {"source": "users", "organization": str(org.pk)},
    }
    return {}, body


exempt("email-suppression-list", "create takes no client-sent foreign key (an address and a scope)")
exempt("webhook-ses", "signed SNS callback; the network comes from the send row, never from the request")
exempt(
    "email-unsubscribe",
    "RFC 8058 one-click: the token is the credential and the answer is always 200 (tests/mailing/test_unsubscribe.py)",
)
