"""Endpoints without a login: the SES/SNS webhook and the RFC 8058 one-click unsubscribe.

Neither has session or key authentication (hence no CSRF): the SNS
signature, or the unsubscribe token, is the credential; the network comes
from the send/token row, not the request.
"""

from __future__ import annotations

from typing import ClassVar

from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import UnscopedAPIView
from apps.projects.api.serializers import WebhookAckSerializer  # the one webhook acknowledgement

from .. import services
from ..services.sending import unsubscribe_page_url
from .serializers import UnsubscribeResultSerializer


class _Public(UnscopedAPIView):
    allow_anonymous = True
    authentication_classes: ClassVar[list] = []

    def get_permissions(self) -> list:
        # no principal and no request network here: the credential is the signature/token,
        # so the base chain's network checks must not turn it into a 403/404
        return []


@extend_schema(tags=["webhooks"], request=OpenApiTypes.OBJECT, responses=WebhookAckSerializer)
class SESWebhookView(_Public):
    """Amazon SNS notifications of SES events (bounce, complaint, delivery, open, click) and subscription confirmations."""

    unscoped_reason = "signed SNS callback; the network comes from the send row"

    def post(self, request: Request) -> Response:
        webhook, created = services.receive_ses_message(body=request.body, headers=request.headers)
        return Response({"status": "accepted" if created else "duplicate", "id": webhook.pk})


@extend_schema(tags=["mailing"])
class EmailUnsubscribeView(_Public):
    """RFC 8058 one-click unsubscribe (``List-Unsubscribe-Post``): always 200, idempotent."""

    unscoped_reason = "the unsubscribe token is the credential; the network comes from the token row"

    @extend_schema(request=None, responses=UnsubscribeResultSerializer)
    def post(self, request: Request, token: str) -> Response:
        services.unsubscribe(token=token)  # unknown, expired, repeated: the same 200
        return Response({"status": "unsubscribed"})

    @extend_schema(request=None, responses={302: None})
    def get(self, request: Request, token: str) -> HttpResponseRedirect:
        # a GET never unsubscribes (scanners prefetch links): it leads to the confirm page
        return HttpResponseRedirect(unsubscribe_page_url(token))
