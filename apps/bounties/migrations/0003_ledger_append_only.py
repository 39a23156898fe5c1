"""TreasuryTransaction is append-only: a trigger refuses every UPDATE and DELETE (the admin
and raw SQL included) — the same shape as agents' change log trigger.

TRUNCATE (test database flushes) is not a row operation and is not refused.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION bounties_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'bounties_treasurytransaction is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER bounties_ledger_append_only
    BEFORE UPDATE OR DELETE ON bounties_treasurytransaction
    FOR EACH ROW EXECUTE FUNCTION bounties_ledger_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS bounties_ledger_append_only ON bounties_treasurytransaction;
DROP FUNCTION IF EXISTS bounties_ledger_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("bounties", "0002_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
