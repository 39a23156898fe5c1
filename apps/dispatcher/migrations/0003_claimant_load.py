"""ClaimantLoad: live claims per (network, claimant), kept by a trigger on TaskClaim.

The claim path compared the claimant's limit with a count of their live claims, which
read as many rows as they held (10,000 rows per claim for one claimer holding the bench's
whole backlog). The trigger keeps one counter row exact for every writer: a claim becoming
live adds one, one leaving the live states (or deleted while live, or moved to another
claimant or network) takes one away. The counter row is locked only by its own claimant's
claims, which the claim path already serialises on the claimant's user row.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


LIVE = "('active', 'submitted')"

SQL = f"""
CREATE OR REPLACE FUNCTION dispatcher_claim_load() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN {LIVE} THEN
        UPDATE dispatcher_claimantload SET live = live - 1
        WHERE network_id = OLD.network_id AND claimant_id = OLD.claimant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN {LIVE} THEN
        INSERT INTO dispatcher_claimantload (network_id, claimant_id, live) VALUES (NEW.network_id, NEW.claimant_id, 1)
        ON CONFLICT (network_id, claimant_id) DO UPDATE SET live = dispatcher_claimantload.live + 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER dispatcher_claim_load_insert_delete
    AFTER INSERT OR DELETE ON dispatcher_taskclaim
    FOR EACH ROW EXECUTE FUNCTION dispatcher_claim_load();

CREATE TRIGGER dispatcher_claim_load_update
    AFTER UPDATE ON dispatcher_taskclaim
    FOR EACH ROW WHEN (
        (OLD.status IN {LIVE}) IS DISTINCT FROM (NEW.status IN {LIVE})
        OR (OLD.status IN {LIVE} AND (OLD.claimant_id, OLD.network_id) IS DISTINCT FROM (NEW.claimant_id, NEW.network_id))
    )
    EXECUTE FUNCTION dispatcher_claim_load();

INSERT INTO dispatcher_claimantload (network_id, claimant_id, live)
SELECT network_id, claimant_id, count(*) FROM dispatcher_taskclaim WHERE status IN {LIVE}
GROUP BY network_id, claimant_id;
"""

REVERSE = """
DROP TRIGGER IF EXISTS dispatcher_claim_load_update ON dispatcher_taskclaim;
DROP TRIGGER IF EXISTS dispatcher_claim_load_insert_delete ON dispatcher_taskclaim;
DROP FUNCTION IF EXISTS dispatcher_claim_load();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('dispatcher', '0002_deps_done'),
        ('networks', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ClaimantLoad',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('live', models.IntegerField(default=0)),
                ('claimant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('network', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='networks.network')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('network', 'claimant'), name='claimantload_one'), models.CheckConstraint(condition=models.Q(('live__gte', 0)), name='claimantload_live_gte_0')],
            },
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
