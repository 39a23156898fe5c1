"""ToolExecutionLog is append-only: a trigger refuses every UPDATE of its content and every DELETE.

Allowed: a referenced row going away (its FK set to NULL by ``on_delete``) and
the retention purge, which runs ``SET LOCAL integrations.purge = 'on'`` in its
transaction. TRUNCATE (test database flushes) is not a row operation.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION integrations_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('integrations.purge', true) = 'on' THEN
            RETURN OLD;
        END IF;
    ELSIF NEW.id = OLD.id AND NEW.network_id = OLD.network_id
        AND NEW.created_at = OLD.created_at AND NEW.tool = OLD.tool
        AND NEW.arguments_redacted = OLD.arguments_redacted AND NEW.status = OLD.status
        AND NEW.result IS NOT DISTINCT FROM OLD.result AND NEW.error = OLD.error
        AND NEW.duration_ms = OLD.duration_ms
        AND NEW.external_execution_id IS NOT DISTINCT FROM OLD.external_execution_id
        AND (NEW.agent_id IS NULL OR NEW.agent_id = OLD.agent_id)
        AND (NEW.user_id IS NULL OR NEW.user_id = OLD.user_id)
        AND (NEW.user_integration_id IS NULL OR NEW.user_integration_id = OLD.user_integration_id)
        AND (NEW.agent_integration_id IS NULL OR NEW.agent_integration_id = OLD.agent_integration_id)
        AND (NEW.pending_execution_id IS NULL OR NEW.pending_execution_id = OLD.pending_execution_id)
    THEN
        RETURN NEW;  -- only references to deleted rows cleared
    END IF;
    RAISE EXCEPTION 'integrations_toolexecutionlog is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER integrations_log_append_only
    BEFORE UPDATE OR DELETE ON integrations_toolexecutionlog
    FOR EACH ROW EXECUTE FUNCTION integrations_log_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS integrations_log_append_only ON integrations_toolexecutionlog;
DROP FUNCTION IF EXISTS integrations_log_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
