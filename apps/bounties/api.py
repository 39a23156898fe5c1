"""Bounty routes (SCHEMA.md §15 REST): balances, the ledger of a balance, escrows, wallets,
payout requests. Money POSTs take an ``Idempotency-Key`` header; conflicts are 409."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import request_session
from apps.accounts.selectors import recently_authenticated, session_passed_mfa
from apps.apikeys.permissions import request_api_key
from apps.core.api import ListModelMixin, NetworkScopedRelatedField, NetworkScopedViewSet, UnscopedAPIView
from apps.core.exceptions import NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from apps.core.serializers import FastReadMixin
from apps.dispatcher.models import RoadmapTask
from apps.organizations.models import Organization, OrganizationMember
from apps.projects import permissions as project_permissions

from . import services
from .models import (
    AgentBalance,
    BountyEscrow,
    BountyWallet,
    DepositCheckout,
    PayoutMethod,
    PayoutRequest,
    TreasuryTransaction,
    WalletStatus,
)

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
    description="Replays with the same key return the first result.",
)  # fmt: skip


def _idempotency_key(request: Request) -> str:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key or len(key) > 150:
        raise ValidationFailed("Send an Idempotency-Key header (1–150 characters).", field="idempotency_key")
    return key


def _funds_orgs(user: Any) -> QuerySet:
    return OrganizationMember.objects.filter(
        user=user, status="active", role__in=("owner", "admin", "billing")
    ).values("organization_id")


def owned_q(user: Any, prefix: str = "") -> Q:
    """Rows owned by the caller, by agents the caller owns, or by organizations it funds for."""
    return (
        Q(**{f"{prefix}owner_user": user})
        | Q(**{f"{prefix}owner_user__agent_owner_user": user})
        | Q(**{f"{prefix}owner_organization__in": _funds_orgs(user)})
    )


class AgentBalanceSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = AgentBalance
        fields = ("id", "owner_user", "owner_organization", "asset", "available_minor", "lifetime_in_minor",
                  "lifetime_out_minor", "updated_at")  # fmt: skip
        read_only_fields = fields


class TreasuryTransactionSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = TreasuryTransaction
        fields = ("id", "kind", "asset", "amount_minor", "from_balance", "from_escrow", "from_system", "to_balance",
                  "to_escrow", "to_system", "group_id", "external_ref", "chain", "task", "payout", "memo",
                  "created_at")  # fmt: skip
        read_only_fields = fields


class BountyEscrowSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = BountyEscrow
        fields = ("id", "task", "owner_user", "owner_organization", "asset", "amount_minor", "held_minor", "fee_bps",
                  "status", "beneficiary", "claim", "funded_at", "locked_at", "released_at", "refunded_at",
                  "expires_at", "release_group")  # fmt: skip
        read_only_fields = fields


class EscrowFundSerializer(serializers.Serializer):
    asset = serializers.CharField(max_length=24)
    amount_minor = serializers.IntegerField(min_value=1, max_value=2**62)
    organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True,
        help_text="Fund from this organization's balance (owner, admin or billing).",
    )  # fmt: skip
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class TopUpSerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(min_value=1, max_value=2**62)


class RefundSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class BountyWalletSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = BountyWallet
        fields = ("id", "owner_user", "owner_organization", "chain", "address", "label", "is_default", "status",
                  "verified_at", "created_at")  # fmt: skip
        read_only_fields = fields


class WalletCreateSerializer(serializers.Serializer):
    chain = serializers.CharField(max_length=24)
    address = serializers.CharField(max_length=128)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    organization = NetworkScopedRelatedField(
        queryset=Organization.objects.all(), required=False, allow_null=True
    )


class WalletUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_default = serializers.BooleanField(required=False)


class WalletChallengeSerializer(serializers.Serializer):
    message = serializers.CharField(read_only=True)


class WalletVerifySerializer(serializers.Serializer):
    signature = serializers.CharField(max_length=200)


class PayoutRequestSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = PayoutRequest
        fields = ("id", "balance", "requested_by", "amount_minor", "asset", "method", "wallet", "status",
                  "approved_by", "external_ref", "failure_reason", "created_at", "updated_at")  # fmt: skip
        read_only_fields = fields


class PayoutCreateSerializer(serializers.Serializer):
    balance = NetworkScopedRelatedField(
        queryset=AgentBalance.objects.all(), scope=lambda qs, request: qs.filter(owned_q(request.user))
    )
    amount_minor = serializers.IntegerField(min_value=1, max_value=2**62)
    method = serializers.ChoiceField(choices=PayoutMethod.choices, default=PayoutMethod.ONCHAIN)
    wallet = NetworkScopedRelatedField(
        queryset=BountyWallet.objects.all(), required=False, allow_null=True,
        scope=lambda qs, request: qs.filter(owned_q(request.user)),
    )  # fmt: skip


class DepositCheckoutSerializer(serializers.ModelSerializer):
    class Meta:
        model = DepositCheckout
        fields = ("id", "balance", "asset", "amount_minor", "status", "url", "transaction", "created_at",
                  "completed_at")  # fmt: skip
        read_only_fields = fields


class DepositCheckoutCreateSerializer(serializers.Serializer):
    balance = NetworkScopedRelatedField(
        queryset=AgentBalance.objects.all(), scope=lambda qs, request: qs.filter(owned_q(request.user))
    )
    amount_minor = serializers.IntegerField(min_value=1, max_value=2**62)


class OnchainReportSerializer(serializers.Serializer):
    payout_id = serializers.UUIDField()
    tx_hash = serializers.CharField(max_length=100)
    confirmations = serializers.IntegerField(min_value=0, max_value=10**9, default=0)
    status = serializers.ChoiceField(choices=("pending", "confirmed", "failed"), default="pending")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def require_fresh_session(request: Request) -> None:
    """Payouts: a session (never an API key) that signed in ≤ 10 minutes ago and, where the
    user enrolled 2FA, passed it."""
    session = request_session(request)
    if session is None or request_api_key(request) is not None:
        raise PermissionDenied("Payouts are requested from a signed-in session.", code="session_required")
    if not session_passed_mfa(request.user, session):
        raise PermissionDenied("Confirm your two-factor code first.", code="mfa_required")
    if not recently_authenticated(request.user, session):
        raise NotAuthenticated("Sign in again (or reauthenticate) to request a payout.",
                               code="reauthentication_required")  # fmt: skip


class _Money:
    scope_resource = "wallets"


@extend_schema(tags=["bounties"])
class AgentBalanceViewSet(_Money, NetworkScopedViewSet, ListModelMixin):
    """Your balances, your agents' and those of organizations you fund for."""

    queryset = AgentBalance.objects.all()
    serializer_class = AgentBalanceSerializer
    scope_map = {"get": "bounties:read"}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(owned_q(self.request.user))


@extend_schema(tags=["bounties"])
class BalanceTransactionViewSet(_Money, NetworkScopedViewSet, ListModelMixin):
    """The ledger rows that moved a balance (read-only)."""

    queryset = TreasuryTransaction.objects.all()
    serializer_class = TreasuryTransactionSerializer
    organization_url_kwarg = "balance_pk"
    organization_field = "from_balance__owner_organization"
    scope_map = {"get": "bounties:read"}

    @cached_property
    def balance(self) -> AgentBalance:
        found = AgentBalance.objects.filter(owned_q(self.request.user), network=self.network,
                                            pk=self.kwargs["balance_pk"]).first()  # fmt: skip
        if found is None:
            raise NotFound()
        return found

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        balance = self.balance
        return qs.filter(Q(from_balance=balance) | Q(to_balance=balance))


@extend_schema(tags=["bounties"])
class TaskEscrowViewSet(NetworkScopedViewSet, ListModelMixin):
    """The bounties on a task; fund one (or top up yours) with an Idempotency-Key."""

    queryset = BountyEscrow.objects.all()
    serializer_class = BountyEscrowSerializer
    organization_url_kwarg = "task_pk"
    organization_field = "task__project__owner_organization"
    scope_resource = "bounties"
    scope_map = {"get": "bounties:read", "create": "bounties:fund"}

    @cached_property
    def task(self) -> RoadmapTask:
        task = (
            RoadmapTask.objects.filter(network=self.network, pk=self.kwargs["task_pk"])
            .filter(project_permissions.visible_q(self.request.user, prefix="project__"))
            .first()
        )
        if task is None:
            raise NotFound()
        return task

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(task=self.task)

    @extend_schema(
        request=EscrowFundSerializer, responses={201: BountyEscrowSerializer}, parameters=[IDEMPOTENCY]
    )
    def create(self, request: Request, task_pk: str) -> Response:
        task = self.task  # an invisible task is 404 before the body is read
        key = _idempotency_key(request)
        serializer = EscrowFundSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        escrow = services.fund_escrow(actor=request.user, task=task, idempotency_key=key,
                                      **serializer.validated_data)  # fmt: skip
        return Response(BountyEscrowSerializer(escrow).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["bounties"])
class BountyEscrowViewSet(NetworkScopedViewSet, mixins.RetrieveModelMixin):
    queryset = BountyEscrow.objects.all()
    serializer_class = BountyEscrowSerializer
    organization_field = "task__project__owner_organization"
    scope_resource = "bounties"
    scope_map = {"get": "bounties:read", "top_up": "bounties:fund", "refund": "bounties:fund"}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(project_permissions.visible_q(self.request.user, prefix="task__project__"))

    @extend_schema(request=TopUpSerializer, responses=BountyEscrowSerializer, parameters=[IDEMPOTENCY])
    @action(detail=True, methods=["post"], url_path="top-up")
    def top_up(self, request: Request, pk: str | None = None) -> Response:
        escrow = self.get_object()
        if not services.can_manage_balance(request.user, escrow.funder_balance):
            raise NotFound()
        key = _idempotency_key(request)
        serializer = TopUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        escrow = services.fund_escrow(
            actor=request.user, task=escrow.task, asset=escrow.asset, idempotency_key=key,
            organization=escrow.owner_organization, **serializer.validated_data,
        )  # fmt: skip
        return Response(BountyEscrowSerializer(escrow).data)

    @extend_schema(request=RefundSerializer, responses=BountyEscrowSerializer)
    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: str | None = None) -> Response:
        serializer = RefundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        escrow = services.refund_escrow(
            actor=request.user, escrow=self.get_object(), **serializer.validated_data
        )
        return Response(BountyEscrowSerializer(escrow).data)


@extend_schema(tags=["bounties"])
class BountyWalletViewSet(_Money, NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    queryset = BountyWallet.objects.all()
    serializer_class = BountyWalletSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(owned_q(self.request.user)).exclude(status=WalletStatus.DISABLED)

    @extend_schema(request=WalletCreateSerializer, responses={201: BountyWalletSerializer})
    def create(self, request: Request) -> Response:
        serializer = WalletCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        wallet = services.add_wallet(actor=request.user, **serializer.validated_data)
        return Response(BountyWalletSerializer(wallet).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WalletUpdateSerializer, responses=BountyWalletSerializer)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        serializer = WalletUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        wallet = services.update_wallet(
            actor=request.user, wallet=self.get_object(), **serializer.validated_data
        )
        return Response(BountyWalletSerializer(wallet).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.disable_wallet(actor=request.user, wallet=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=WalletChallengeSerializer)
    @action(detail=True, methods=["post"])
    def challenge(self, request: Request, pk: str | None = None) -> Response:
        return Response({"message": services.challenge_wallet(actor=request.user, wallet=self.get_object())})

    @extend_schema(request=WalletVerifySerializer, responses=BountyWalletSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        serializer = WalletVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        wallet = services.verify_wallet(
            actor=request.user, wallet=self.get_object(), **serializer.validated_data
        )
        return Response(BountyWalletSerializer(wallet).data)


@extend_schema(tags=["bounties"])
class PayoutRequestViewSet(_Money, NetworkScopedViewSet, ListModelMixin, mixins.RetrieveModelMixin):
    queryset = PayoutRequest.objects.all()
    serializer_class = PayoutRequestSerializer
    scope_map = {"create": "payouts:write", "cancel": "payouts:write"}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(owned_q(self.request.user, prefix="balance__"))

    @extend_schema(
        request=PayoutCreateSerializer, responses={201: PayoutRequestSerializer}, parameters=[IDEMPOTENCY]
    )
    def create(self, request: Request) -> Response:
        key = _idempotency_key(request)
        serializer = PayoutCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        require_fresh_session(request)
        payout = services.request_payout(actor=request.user, idempotency_key=key, **serializer.validated_data)
        return Response(PayoutRequestSerializer(payout).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PayoutRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        payout = services.cancel_payout(actor=request.user, payout=self.get_object())
        return Response(PayoutRequestSerializer(payout).data)


@extend_schema(tags=["bounties"])
class DepositCheckoutViewSet(_Money, NetworkScopedViewSet, mixins.RetrieveModelMixin):
    """Deposit into a USD balance by card: a Stripe Checkout (mode payment); the deposit is
    posted when Stripe reports the payment (billing's webhook), keyed by the payment intent."""

    queryset = DepositCheckout.objects.all()
    serializer_class = DepositCheckoutSerializer
    scope_map = {"get": "bounties:read", "create": "bounties:fund"}

    def scope_queryset(self, qs: QuerySet) -> QuerySet:
        return qs.filter(owned_q(self.request.user, prefix="balance__"))

    @extend_schema(
        request=DepositCheckoutCreateSerializer,
        responses={201: DepositCheckoutSerializer},
        parameters=[IDEMPOTENCY],
    )
    def create(self, request: Request) -> Response:
        key = _idempotency_key(request)
        serializer = DepositCheckoutCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        row, created = services.start_deposit_checkout(
            actor=request.user, client_key=key, **serializer.validated_data
        )
        return Response(
            DepositCheckoutSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=["webhooks"], request=OnchainReportSerializer, responses=PayoutRequestSerializer,
               parameters=[OpenApiParameter("X-Colony-Timestamp", OpenApiTypes.INT, OpenApiParameter.HEADER,
                                            required=True),
                           OpenApiParameter("X-Colony-Signature", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                            required=True,
                                            description='hex HMAC-SHA256 of f"{timestamp}.{raw_body}" '
                                                        "with INFRA_WEBHOOK_SECRET")])  # fmt: skip
class OnchainPayoutWebhookView(UnscopedAPIView):
    """The on-chain signer reports a payout's transaction: its hash, confirmations, or failure.
    Signed like the infra webhooks (``apps.projects.signing``); the network comes from the payout."""

    unscoped_reason = "signed signer callback; the network comes from the payout row"
    allow_anonymous = True
    authentication_classes: ClassVar[list] = []

    def get_permissions(self) -> list:
        return []  # the HMAC signature is the only credential

    def post(self, request: Request) -> Response:
        from apps.projects import signing

        try:
            signing.verify(timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
                           signature=request.headers.get(signing.SIGNATURE_HEADER), body=request.body)  # fmt: skip
        except signing.BadSignature as exc:
            raise PermissionDenied("Bad signature.", code="bad_signature") from exc
        serializer = OnchainReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payout = services.report_onchain_payout(
            payout_id=data["payout_id"], tx_hash=data["tx_hash"], confirmations=data["confirmations"],
            failed=data["status"] == "failed", reason=data["reason"],
        )  # fmt: skip
        return Response(PayoutRequestSerializer(payout).data)
