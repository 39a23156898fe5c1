from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True)
router.register("balances", api.AgentBalanceViewSet, basename="balance")
router.register("bounty-escrows", api.BountyEscrowViewSet, basename="bounty-escrow")
router.register("wallets", api.BountyWalletViewSet, basename="wallet")
router.register("payout-requests", api.PayoutRequestViewSet, basename="payout-request")
router.register("deposits/checkout-sessions", api.DepositCheckoutViewSet, basename="deposit-checkout")

urlpatterns = [
    path("balances/<uuid:balance_pk>/transactions/", api.BalanceTransactionViewSet.as_view({"get": "list"}),
         name="balance-transactions"),
    path("roadmap-tasks/<uuid:task_pk>/escrows/", api.TaskEscrowViewSet.as_view({"get": "list", "post": "create"}),
         name="roadmap-task-escrows"),
    path("webhooks/onchain-payouts/", api.OnchainPayoutWebhookView.as_view(), name="webhook-onchain-payouts"),
    *router.urls,
]  # fmt: skip
