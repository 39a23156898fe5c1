from django.db import migrations

from apps.core.ids import uuid7

PLANS = [
    # code, name, per_seat, min, max, included µ$ (per seat when per_seat), overage, position
    ("free", "Free", False, 1, 3, 1_000_000, False, 0),
    ("pro", "Pro", False, 1, 1, 20_000_000, True, 1),
    ("team", "Team", True, 2, 500, 10_000_000, True, 2),
    ("enterprise", "Enterprise", True, 1, 100_000, 20_000_000, True, 3),
]


def seed(apps, schema_editor):
    BillingPlan = apps.get_model("billing", "BillingPlan")
    for code, name, per_seat, lo, hi, included, overage, position in PLANS:
        BillingPlan.objects.get_or_create(
            code=code,
            defaults={
                "id": uuid7(),
                "name": name,
                "per_seat": per_seat,
                "min_seats": lo,
                "max_seats": hi,
                "included_ai_micros": included,
                "allows_overage": overage,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_stripe_accounts")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
