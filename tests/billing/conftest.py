"""Billing fixtures: the local Stripe stub (tests/stripe_server.py) and priced plans."""

from __future__ import annotations

import pytest

from tests.stripe_server import stripe_server  # noqa: F401 — the fixture


@pytest.fixture
def plans(db):
    from tests.billing.stripe_factories import priced_plans

    return priced_plans()
