"""Checks that only mean something through PgBouncer in transaction mode.

Not collected by the suite (not ``test_*.py``): ``test_pgbouncer.py`` passes
this file, with a slice of the suite, to a pytest it runs with
``DATABASE_URL`` pointing at the PgBouncer it started. (Concurrent writers
under the transaction-scoped advisory lock are in the slice:
``tests/invites/test_waitlist.py::test_positions_are_unique_under_concurrent_joins``.)
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

from apps.invites.models import InviteWaitlist
from tests.invites.factories import WaitlistFactory

pytestmark = pytest.mark.skipif(
    not os.environ.get("OPS_PGBOUNCER_PORT"), reason="run by tests/ops/test_pgbouncer.py through PgBouncer"
)


def test_the_connection_goes_through_pgbouncer_without_prepared_statements_or_server_side_cursors(db):
    assert settings.DATABASE_BEHIND_POOLER
    assert str(connection.settings_dict["PORT"]) == os.environ["OPS_PGBOUNCER_PORT"]
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None


@pytest.mark.django_db(transaction=True)
def test_queryset_iterator_outside_a_transaction_works(network):
    WaitlistFactory.create_batch(5, network=network)
    assert connection.get_autocommit()
    assert len(list(InviteWaitlist.objects.order_by("pk").iterator(chunk_size=2))) == 5
