"""``POST /api/v1/realtime/tickets/``: a single-use 60-second WebSocket ticket."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.apikeys.permissions import request_api_key
from apps.core.api import UnscopedAPIView

from .tickets import TICKET_TTL_SECONDS, issue_ticket


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Connect to /ws/?ticket=<ticket> within expires_in seconds.")
    expires_in = serializers.IntegerField()
    url = serializers.CharField(help_text="The socket path with the ticket.")


def _session_key(request: Request) -> str | None:
    auth = getattr(request, "auth", None)
    key = getattr(auth, "session_key", None)  # X-Session-Token: auth is the session
    if key:
        return key
    session = getattr(request._request, "session", None)
    return getattr(session, "session_key", None)


@extend_schema(tags=["realtime"])
class TicketView(UnscopedAPIView):
    """A ticket for one WebSocket connection of the caller (sessions, or API keys with realtime:connect)."""

    unscoped_reason = "a ticket for the caller's own socket; no tenant rows"
    scope_map = {"post": "realtime:connect"}

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        api_key = request_api_key(request)
        ticket = issue_ticket(
            user=request.user,
            api_key=api_key,
            session_key=None if api_key is not None else _session_key(request),
        )
        body = {"ticket": ticket, "expires_in": TICKET_TTL_SECONDS, "url": f"/ws/?ticket={ticket}"}
        return Response(TicketSerializer(body).data, status=status.HTTP_201_CREATED)
