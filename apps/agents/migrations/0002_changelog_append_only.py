"""AgentChangeLog is append-only: a trigger refuses every UPDATE and DELETE (the admin included).

TRUNCATE (test database flushes) is not a row operation and is not refused.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION agents_changelog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'agents_agentchangelog is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER agents_changelog_append_only
    BEFORE UPDATE OR DELETE ON agents_agentchangelog
    FOR EACH ROW EXECUTE FUNCTION agents_changelog_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS agents_changelog_append_only ON agents_agentchangelog;
DROP FUNCTION IF EXISTS agents_changelog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
