"""``POST /api/v1/webhooks/sandbox`` and ``/webhooks/deploy``: signed provider reports.

No session or key authentication (hence no CSRF): the HMAC signature is the
credential, and the network comes from the sandbox/deployment row.
"""

from __future__ import annotations

from typing import ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import UnscopedAPIView
from apps.core.models import InboundWebhook

from .. import services, signing
from .serializers import WebhookAckSerializer

_HEADERS = [
    OpenApiParameter(signing.TIMESTAMP_HEADER, OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
    OpenApiParameter(
        signing.SIGNATURE_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description='hex HMAC-SHA256 of f"{timestamp}.{raw_body}" with INFRA_WEBHOOK_SECRET',
    ),
]


class _InfraWebhookView(UnscopedAPIView):
    unscoped_reason = "signed provider callback; the network comes from the sandbox/deployment row"
    allow_anonymous = True
    authentication_classes: ClassVar[list] = []
    source: ClassVar[str] = ""

    def get_permissions(self) -> list:
        # The HMAC signature (checked by the service) is the only credential. The
        # request's own network (host or default) is irrelevant here, so the base
        # chain's network check must not turn a provider's report into a 403/404.
        return []

    def post(self, request: Request) -> Response:
        webhook, created = services.receive_webhook(
            source=self.source, headers=request.headers, body=request.body
        )
        return Response({"status": "accepted" if created else "duplicate", "id": webhook.pk})


@extend_schema(
    tags=["webhooks"], request=OpenApiTypes.OBJECT, responses=WebhookAckSerializer, parameters=_HEADERS
)
class SandboxWebhookView(_InfraWebhookView):
    """A sandbox provider reports a state change (status, access_url, activity)."""

    source = InboundWebhook.Source.SANDBOX


@extend_schema(
    tags=["webhooks"], request=OpenApiTypes.OBJECT, responses=WebhookAckSerializer, parameters=_HEADERS
)
class DeployWebhookView(_InfraWebhookView):
    """A deploy provider reports a state change (building, deploying, live, failed…)."""

    source = InboundWebhook.Source.DEPLOY
