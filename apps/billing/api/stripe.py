"""``/api/v1/billing-accounts/`` (+checkout-sessions, +seats, +portal-sessions, +connect-onboarding,
+credit-ledger, +invoices) and ``POST /api/v1/webhooks/stripe/``.

Accounts are visible to their user, or to every active member of their
organization (plan, seats, status, credit balance); starting Checkout, the
Portal, reading the ledger and invoices need ``org.billing`` (owner, billing),
Connect onboarding ``org.funds``. Another network's account is a 404. Stripe
ids and secrets never appear in a response.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import ValidationFailed
from apps.core.pagination import CursorPagination
from apps.core.serializers import FastReadMixin
from apps.organizations.models import Organization, OrganizationMember

from ..models import (
    BillingCheckoutSession,
    BillingInvoice,
    BillingStripeAccount,
    CheckoutKind,
    CreditLedgerEntry,
    PlanCode,
    SeatChange,
)
from ..services import stripe_accounts
from ..services.stripe_events import SIGNATURE_HEADER, receive_stripe_webhook

_SESSION_ONLY = {
    "create": None,
    "checkout_sessions": None,
    "portal_sessions": None,
    "connect_onboarding": None,
    "seats": None,
}
_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="A retried request with the same key returns the same session and creates nothing.",
)


def _client_key(request: Request) -> str | None:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(key) > 200:
        raise ValidationFailed("Idempotency-Key is at most 200 characters.", field="Idempotency-Key")
    return key or None


class BillingAccountSerializer(FastReadMixin, serializers.ModelSerializer):
    has_stripe_customer = serializers.SerializerMethodField()
    has_subscription = serializers.SerializerMethodField()
    has_connect_account = serializers.SerializerMethodField()

    class Meta:
        model = BillingStripeAccount
        fields = (
            "id",
            "owner_user",
            "owner_organization",
            "plan",
            "subscription_status",
            "current_period_end_at",
            "cancel_at_period_end",
            "seats",
            "seats_used",
            "payment_method_hint",
            "billing_email",
            "included_ai_micros",
            "credit_balance_minor",
            "currency",
            "has_stripe_customer",
            "has_subscription",
            "has_connect_account",
            "connect_charges_enabled",
            "connect_payouts_enabled",
            "connect_details_submitted",
            "connect_requirements_due",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_has_stripe_customer(self, obj: BillingStripeAccount) -> bool:
        return bool(obj.stripe_customer_id)

    def get_has_subscription(self, obj: BillingStripeAccount) -> bool:
        return bool(obj.stripe_subscription_id)

    def get_has_connect_account(self, obj: BillingStripeAccount) -> bool:
        return bool(obj.stripe_connect_account_id)


class BillingAccountOpenSerializer(serializers.Serializer):
    owner_organization = NetworkScopedRelatedField(
        queryset=Organization.objects.filter(archived_at__isnull=True),
        required=False,
        allow_null=True,
        help_text="Open the organization's account (owners and billing managers); omit for your own.",
    )


class CheckoutRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CheckoutKind.choices, default=CheckoutKind.SUBSCRIPTION)
    plan = serializers.ChoiceField(
        choices=[c for c in PlanCode.choices if c[0] != PlanCode.FREE], required=False
    )
    seats = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    amount_minor = serializers.IntegerField(
        min_value=1, max_value=10**9, required=False, help_text="Credit top-up, in cents."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == CheckoutKind.SUBSCRIPTION and not attrs.get("plan"):
            raise serializers.ValidationError({"plan": ["Choose a plan."]})
        if attrs["kind"] == CheckoutKind.CREDITS and not attrs.get("amount_minor"):
            raise serializers.ValidationError({"amount_minor": ["Give the top-up amount in cents."]})
        return attrs


class CheckoutSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingCheckoutSession
        fields = ("id", "account", "kind", "plan", "seats", "amount_minor", "status", "url", "created_at")
        read_only_fields = fields


class SeatsRequestSerializer(serializers.Serializer):
    seats = serializers.IntegerField(min_value=1, max_value=100_000)


class SeatChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SeatChange
        fields = (
            "id",
            "account",
            "quantity",
            "previous_seats",
            "status",
            "stripe_quantity",
            "error",
            "created_at",
            "applied_at",
        )
        read_only_fields = fields


class LinkSerializer(serializers.Serializer):
    url = serializers.URLField()


class CreditLedgerEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditLedgerEntry
        fields = ("id", "kind", "amount_minor", "balance_after_minor", "currency", "memo", "created_at")
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingInvoice
        fields = (
            "id",
            "number",
            "status",
            "amount_due_minor",
            "amount_paid_minor",
            "currency",
            "hosted_invoice_url",
            "period_start_at",
            "period_end_at",
            "paid_at",
            "payment_failed_at",
            "created_at",
        )
        read_only_fields = fields


@extend_schema(tags=["billing"])
class BillingAccountViewSet(NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    """Billing accounts: yours and those of your organizations."""

    queryset = BillingStripeAccount.objects.all()
    serializer_class = BillingAccountSerializer
    pagination_class = CursorPagination
    scope_resource = "billing"
    scope_map = _SESSION_ONLY

    def scope_queryset(self, qs: QuerySet[BillingStripeAccount]) -> QuerySet[BillingStripeAccount]:
        user = self.request.user
        member_of = OrganizationMember.objects.filter(user=user, status="active").values("organization_id")
        return qs.filter(
            Q(owner_user=user, owner_organization__isnull=True) | Q(owner_organization_id__in=member_of)
        )

    def _manageable(self, permission: str = "org.billing") -> BillingStripeAccount:
        account = self.get_object()
        stripe_accounts.require_manager(self.request.user, account, permission)
        return account

    @extend_schema(
        request=BillingAccountOpenSerializer,
        responses={200: BillingAccountSerializer, 201: BillingAccountSerializer},
    )
    def create(self, request: Request) -> Response:
        """Open (or find) your own account, or an organization's (owners and billing managers)."""
        serializer = BillingAccountOpenSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organization = serializer.validated_data.get("owner_organization")
        if organization is not None:
            from apps.organizations.policy import enforce_security_policy

            enforce_security_policy(request, organization)
        account, created = stripe_accounts.open_account(actor=request.user, organization=organization)
        return Response(
            BillingAccountSerializer(account).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=CheckoutRequestSerializer,
        responses={201: CheckoutSessionSerializer},
        parameters=[_IDEMPOTENCY],
    )
    @action(detail=True, methods=["post"], url_path="checkout-sessions")
    def checkout_sessions(self, request: Request, pk: str | None = None) -> Response:
        """A Stripe Checkout session for a plan (with seats) or a credit top-up; open ``url``."""
        account = self._manageable()
        serializer = CheckoutRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row, created = stripe_accounts.start_checkout(
            actor=request.user,
            account=account,
            kind=data["kind"],
            plan=data.get("plan"),
            seats=data["seats"],
            amount_minor=data.get("amount_minor") or 0,
            client_key=_client_key(request),
        )
        return Response(
            CheckoutSessionSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        request=SeatsRequestSerializer,
        responses={202: SeatChangeSerializer, 200: SeatChangeSerializer},
        parameters=[_IDEMPOTENCY],
    )
    @action(detail=True, methods=["post"], url_path="seats")
    def seats(self, request: Request, pk: str | None = None) -> Response:
        """Change the seats of the organization's per-seat plan: pushed to Stripe in the background;
        the account's ``seats`` follows Stripe's answer (poll the account or this row's ``status``)."""
        account = self._manageable()
        serializer = SeatsRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change, created = stripe_accounts.request_seats(
            actor=request.user,
            account=account,
            seats=serializer.validated_data["seats"],
            client_key=_client_key(request),
        )
        return Response(
            SeatChangeSerializer(change).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=None, responses={201: LinkSerializer}, parameters=[_IDEMPOTENCY])
    @action(detail=True, methods=["post"], url_path="portal-sessions")
    def portal_sessions(self, request: Request, pk: str | None = None) -> Response:
        """A link to Stripe's customer portal (plan, seats, payment method, invoices)."""
        account = self._manageable()
        url = stripe_accounts.create_portal_session(
            actor=request.user, account=account, client_key=_client_key(request)
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: LinkSerializer}, parameters=[_IDEMPOTENCY])
    @action(detail=True, methods=["post"], url_path="connect-onboarding")
    def connect_onboarding(self, request: Request, pk: str | None = None) -> Response:
        """A Stripe Connect onboarding link for bounty payouts (owners, admins, billing managers)."""
        account = self._manageable("org.funds")
        url = stripe_accounts.start_connect_onboarding(
            actor=request.user, account=account, client_key=_client_key(request)
        )
        return Response({"url": url}, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CreditLedgerEntrySerializer(many=True))
    @action(detail=True, methods=["get"], url_path="credit-ledger")
    def credit_ledger(self, request: Request, pk: str | None = None) -> Response:
        """The account's credit movements, newest first."""
        account = self._manageable()
        qs = CreditLedgerEntry.objects.filter(account=account, network=account.network_id)
        return self._page(qs, CreditLedgerEntrySerializer)

    @extend_schema(responses=InvoiceSerializer(many=True))
    @action(detail=True, methods=["get"])
    def invoices(self, request: Request, pk: str | None = None) -> Response:
        """The account's invoices (mirrored from Stripe), newest first."""
        account = self._manageable()
        qs = BillingInvoice.objects.filter(account=account, network=account.network_id)
        return self._page(qs, InvoiceSerializer)

    def _page(self, qs: QuerySet, serializer_class: type[serializers.Serializer]) -> Response:
        paginator = CursorPagination()
        page = paginator.paginate_queryset(qs, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


class StripeWebhookAckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])


@extend_schema(
    tags=["webhooks"],
    request=OpenApiTypes.OBJECT,
    responses={200: StripeWebhookAckSerializer},
    parameters=[
        OpenApiParameter(
            SIGNATURE_HEADER,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            required=True,
            description="t=<unix time>,v1=<hex HMAC-SHA256 of f'{t}.{raw body}' with STRIPE_WEBHOOK_SECRET>",
        )
    ],
)
class StripeWebhookView(UnscopedAPIView):
    """Stripe events: verified on the raw body, stored once by event id, processed in Celery."""

    unscoped_reason = "Stripe callback; the network comes from the account the event names"
    allow_anonymous = True
    authentication_classes: list = []  # noqa: RUF012 — no session, no CSRF: the signature is the credential

    def get_permissions(self) -> list:
        # The signature (checked by the service) is the only credential; the request's
        # own network (host or default) must not turn Stripe's delivery into a 403/404.
        return []

    def perform_authentication(self, request: Request) -> None:
        # No principal and no host network: the event's account names the network (set by
        # the handler), so the per-request network lookup is skipped.
        request.network = None
        request._request.network = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """The intake is lean: a POST skips DRF's request wrapping, authentication, negotiation and
        rendering (the signature is the only credential; the answer is a fixed small JSON). Errors
        go through DRF's exception handler as on every other endpoint (same codes and bodies)."""
        if request.method != "POST":
            return super().dispatch(request, *args, **kwargs)
        request.network = None  # type: ignore[attr-defined]  # as perform_authentication
        try:
            _, outcome = receive_stripe_webhook(body=request.body, headers=request.headers)
        except Exception as exc:  # noqa: BLE001 — handed to DRF's handler, which re-raises the unknown
            return self._error(request, exc, args, kwargs)
        return HttpResponse(_ACKS[outcome], content_type="application/json")

    def _error(self, request: HttpRequest, exc: Exception, args: Any, kwargs: Any) -> HttpResponseBase:
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request, self.headers = drf_request, self.default_response_headers
        response = self.handle_exception(exc)
        self.response = self.finalize_response(drf_request, response, *args, **kwargs)
        return self.response

    def post(self, request: Request) -> Response:  # the schema's view of ``dispatch``
        _, outcome = receive_stripe_webhook(body=request.body, headers=request.headers)
        return Response({"status": outcome})


_ACKS = {outcome: json.dumps({"status": outcome}).encode() for outcome in ("accepted", "duplicate")}
