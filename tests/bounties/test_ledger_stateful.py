"""Hypothesis stateful test: random deposits, fundings, locks, releases, refunds, payouts and
reversals (and replays of each) keep every ledger invariant."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from apps.bounties import ledger, services
from apps.bounties.models import AgentBalance, BountyEscrow, BountyWallet, PayoutRequest, TreasuryTransaction
from apps.core.exceptions import DomainError
from apps.dispatcher import services as dispatcher
from tests.accounts.factories import UserFactory
from tests.dispatcher.factories import RoadmapTaskFactory
from tests.networks.factories import NetworkFactory
from tests.projects.factories import ProjectFactory

_n = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        i = next(_n)
        self.network = NetworkFactory(slug=f"h{i}", name=f"H{i}")
        self.people = [UserFactory(network=self.network) for _ in range(2)]
        project = ProjectFactory(owner_user=self.people[0])
        self.tasks = [RoadmapTaskFactory(project=project) for _ in range(3)]
        self.wallets = {
            p.pk: BountyWallet.objects.create(
                network=self.network,
                owner_user=p,
                chain="base",
                status="verified",
                address=f"0x{i:020d}{k:020d}",
            )  # fmt: skip
            for k, p in enumerate(self.people)
        }
        self.calls: list[tuple] = []

    def _try(self, fn, **kwargs):
        try:
            return fn(**kwargs)
        except DomainError:
            return None

    @rule(who=st.integers(0, 1), amount=st.integers(1, 5_000))
    def deposit(self, who, amount):
        balance = services.balance_for(network_id=self.network.pk, asset="USD", owner_user=self.people[who])
        services.record_deposit(
            actor=None, balance=balance, amount_minor=amount, external_ref=f"pi_{next(_n)}"
        )

    @rule(who=st.integers(0, 1), task=st.integers(0, 2), amount=st.integers(1, 3_000))
    def fund(self, who, task, amount):
        kwargs = dict(actor=self.people[who], task=self.tasks[task], asset="USD", amount_minor=amount,
                      idempotency_key=f"fund-{next(_n)}")  # fmt: skip
        if self._try(services.fund_escrow, **kwargs) is not None:
            self.calls.append((services.fund_escrow, kwargs))  # a replay of a success changes nothing

    @rule(task=st.integers(0, 2))
    def claim(self, task):
        self._try(dispatcher.claim_task, actor=self.people[0], task=self.tasks[task])

    @rule(task=st.integers(0, 2))
    def unclaim(self, task):
        claim = self.tasks[task].claims.filter(status="active").first()
        if claim is not None:
            dispatcher.release_claim(actor=self.people[0], claim=claim, lease_token=claim.lease_token)

    @rule(task=st.integers(0, 2))
    def release(self, task):
        for escrow in BountyEscrow.objects.filter(task=self.tasks[task], status="locked"):
            services.release_escrow(escrow=escrow)
            services.release_escrow(escrow=escrow)  # a replay pays nothing more

    @rule(task=st.integers(0, 2))
    def refund(self, task):
        for escrow in BountyEscrow.objects.filter(task=self.tasks[task]):
            self._try(services.refund_escrow, actor=escrow.owner_user, escrow=escrow)

    @rule(who=st.integers(0, 1), amount=st.integers(1_000, 4_000))
    def payout(self, who, amount):
        person = self.people[who]
        balance = services.balance_for(network_id=self.network.pk, asset="USD", owner_user=person)
        kwargs = dict(actor=person, balance=balance, amount_minor=amount, idempotency_key=f"p-{next(_n)}",
                      method="onchain", wallet=self.wallets[person.pk])  # fmt: skip
        if self._try(services.request_payout, **kwargs) is not None:
            self.calls.append((services.request_payout, kwargs))

    @rule(settle=st.booleans())
    def finish_payout(self, settle):
        payout = PayoutRequest.objects.filter(
            network=self.network, status__in=("requested", "approved")
        ).first()
        if payout is None:
            return
        if settle:
            services.settle_payout(actor=None, payout=payout, external_ref=f"0xhash{next(_n)}")
        else:
            services.fail_payout(actor=None, payout=payout, reason="rail down")

    @rule(data=st.data())
    def replay(self, data):
        if not self.calls:
            return
        fn, kwargs = data.draw(st.sampled_from(self.calls))
        before = sorted(
            AgentBalance.objects.filter(network=self.network).values_list("pk", "available_minor")
        )
        count = TreasuryTransaction.objects.filter(network=self.network).count()
        self._try(fn, **kwargs)
        after = sorted(AgentBalance.objects.filter(network=self.network).values_list("pk", "available_minor"))
        assert TreasuryTransaction.objects.filter(network=self.network).count() == count and before == after

    @invariant()
    def ledger_holds(self):
        if not hasattr(self, "network"):
            return
        report = ledger.reconcile(network_id=self.network.pk)
        assert report["ok"], report
        assert not AgentBalance.objects.filter(network=self.network, available_minor__lt=0).exists()
        for escrow in BountyEscrow.objects.filter(network=self.network):
            assert ledger.escrow_paid_count(escrow.pk) <= 1


@pytest.mark.django_db
def test_random_ledger_histories_keep_every_invariant():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=15, stateful_step_count=15, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )  # fmt: skip
