"""RoadmapTask.deps_done: "every dependency is done", stored so the claim path reads a column
instead of re-deriving readiness per claim; kept by triggers, so every writer (services, the
admin, a bulk update, raw SQL) keeps it true.

* a TaskDependency row inserted, changed or deleted → its task is recomputed;
* a task moving into or out of ``done`` → its dependents are recomputed.

The recompute (``dispatcher_refresh_deps_done``) first locks the tasks it recomputes, then reads
with a fresh snapshot (plpgsql, READ COMMITTED): two dependencies of one task finishing in two
concurrent transactions cannot both read the other as not done. A new edge first takes a share
lock on the task it depends on, so a concurrent move of that task to ``done`` is either seen
by the recompute or sees the edge itself.
"""

from django.db import migrations, models

BLOCKED = """EXISTS (
        SELECT 1 FROM dispatcher_taskdependency d JOIN dispatcher_roadmaptask o ON o.id = d.depends_on_id
        WHERE d.task_id = t.id AND o.status <> 'done')"""

SQL = f"""
CREATE OR REPLACE FUNCTION dispatcher_refresh_deps_done(ids uuid[]) RETURNS void AS $$
BEGIN
    PERFORM 1 FROM dispatcher_roadmaptask WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
    UPDATE dispatcher_roadmaptask t SET deps_done = NOT {BLOCKED}
    WHERE t.id = ANY(ids) AND t.deps_done = {BLOCKED};
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION dispatcher_dependency_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM dispatcher_roadmaptask WHERE id = NEW.depends_on_id FOR SHARE;
        PERFORM dispatcher_refresh_deps_done(ARRAY[NEW.task_id]);
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM dispatcher_refresh_deps_done(ARRAY[OLD.task_id]);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION dispatcher_task_done_changed() RETURNS trigger AS $$
BEGIN
    PERFORM dispatcher_refresh_deps_done(
        ARRAY(SELECT task_id FROM dispatcher_taskdependency WHERE depends_on_id = NEW.id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER dispatcher_dependency_changed
    AFTER INSERT OR UPDATE OR DELETE ON dispatcher_taskdependency
    FOR EACH ROW EXECUTE FUNCTION dispatcher_dependency_changed();

CREATE TRIGGER dispatcher_task_done_changed
    AFTER UPDATE OF status ON dispatcher_roadmaptask
    FOR EACH ROW WHEN ((OLD.status = 'done') IS DISTINCT FROM (NEW.status = 'done'))
    EXECUTE FUNCTION dispatcher_task_done_changed();

UPDATE dispatcher_roadmaptask t SET deps_done = NOT {BLOCKED} WHERE t.deps_done = {BLOCKED};
"""

REVERSE = """
DROP TRIGGER IF EXISTS dispatcher_task_done_changed ON dispatcher_roadmaptask;
DROP TRIGGER IF EXISTS dispatcher_dependency_changed ON dispatcher_taskdependency;
DROP FUNCTION IF EXISTS dispatcher_task_done_changed();
DROP FUNCTION IF EXISTS dispatcher_dependency_changed();
DROP FUNCTION IF EXISTS dispatcher_refresh_deps_done(uuid[]);
"""


class Migration(migrations.Migration):
    dependencies = [("dispatcher", "0001_initial")]

    operations = [
        migrations.RemoveIndex(model_name="roadmaptask", name="roadmaptask_open_order"),
        migrations.AddField(model_name="roadmaptask", name="deps_done", field=models.BooleanField(default=True)),
        migrations.AddIndex(
            model_name="roadmaptask",
            index=models.Index(
                condition=models.Q(("deps_done", True), ("status", "open")),
                fields=["project", "priority", "due_at", "created_at"],
                name="roadmaptask_claimable",
            ),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
