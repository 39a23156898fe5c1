"""Two fresh-snapshot reads for the one-statement ``claim_next``.

In READ COMMITTED a statement reads with the snapshot taken when it started, so a statement
that first waits for a lock (the claimant's user row, a task row) cannot see, in its other
reads, what the transaction it waited for committed. A VOLATILE PL/pgSQL function takes a
fresh snapshot for each query it runs: called after the locks (on the locked rows' output),
it sees every claim and escrow committed before them. ``claim_next`` calls these two instead
of a second statement:

- ``dispatcher_claimant_live(network, claimant)``: the claimant's live claims (the
  ``ClaimantLoad`` counter, 0 without a row) — the claim limit;
- ``dispatcher_task_funded(task)``: whether the task has funded escrows (which a claim must
  lock: ``claim_next`` then takes the transactional path that calls ``lock_task_escrows``).
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION dispatcher_claimant_live(p_network uuid, p_claimant uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN COALESCE((SELECT live FROM dispatcher_claimantload
                     WHERE network_id = p_network AND claimant_id = p_claimant), 0);
END;
$$;

CREATE OR REPLACE FUNCTION dispatcher_task_funded(p_task uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM bounties_bountyescrow WHERE task_id = p_task AND status = 'funded');
END;
$$;
"""

REVERSE = """
DROP FUNCTION IF EXISTS dispatcher_task_funded(uuid);
DROP FUNCTION IF EXISTS dispatcher_claimant_live(uuid, uuid);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("dispatcher", "0003_claimant_load"),
        ("bounties", "0001_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
