"""Re-encrypt every encrypted column with the newest key in FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.db.models import F, Func, IntegerField, Q, Value

from apps.core import crypto
from apps.core.fields import encrypted_fields


def _key_byte(field_name: str) -> Func:
    return Func(F(field_name), Value(0), function="get_byte", output_field=IntegerField())


def stale_rows(model: type[models.Model], fields: list, key_id: int) -> models.QuerySet:
    condition = Q()
    annotations = {}
    for field in fields:
        alias = f"_kid_{field.attname}"
        annotations[alias] = _key_byte(field.attname)
        condition |= Q(**{f"{field.attname}__isnull": False}) & ~Q(**{alias: key_id})
    return model._base_manager.annotate(**annotations).filter(condition)


class ProgressBar:
    def __init__(self, stream, label: str, total: int, width: int = 30) -> None:
        self.stream, self.label, self.total, self.width, self.done = stream, label, total, width, 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        filled = int(self.width * self.done / self.total) if self.total else self.width
        percent = 100 * self.done // self.total if self.total else 100
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if self.done >= self.total else ""
        self.stream.write(f"\r{self.label:<40} [{bar}] {self.done}/{self.total} {percent:3d}%{end}")
        self.stream.flush()


class Command(BaseCommand):
    help = "Re-encrypt rows whose encrypted columns use an older key (newest key = first listed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--dry-run", action="store_true", help="Count rows only.")

    def handle(self, *args, batch_size: int, dry_run: bool, **options) -> None:
        key_id = crypto.current_key_id()
        total_rotated = 0
        for model in apps.get_models():
            fields = encrypted_fields(model)
            if not fields:
                continue
            queryset = stale_rows(model, fields, key_id)
            total = queryset.count()
            label = model._meta.label
            if total == 0:
                self.stdout.write(f"{label:<40} up to date")
                continue
            if dry_run:
                self.stdout.write(f"{label:<40} {total} row(s) to rotate")
                continue
            bar = ProgressBar(self.stdout._out, label, total)
            names = [f.attname for f in fields]
            hint_names = [
                f.attname for f in model._meta.concrete_fields if getattr(f, "source", None) in names
            ]
            last_pk = None
            while True:
                batch_qs = queryset.order_by("pk")
                if last_pk is not None:
                    batch_qs = batch_qs.filter(pk__gt=last_pk)
                pks = list(batch_qs.values_list("pk", flat=True)[:batch_size])
                if not pks:
                    break
                with transaction.atomic():
                    for obj in (
                        model._base_manager.select_for_update()
                        .filter(pk__in=pks)
                        .only("pk", *names, *hint_names)
                    ):
                        for name in names:
                            getattr(obj, name)  # decrypt; the save re-encrypts with the newest key
                        obj.save(update_fields=names + hint_names)
                bar.advance(len(pks))
                total_rotated += len(pks)
                last_pk = pks[-1]
        self.stdout.write(self.style.SUCCESS(f"Rotated {total_rotated} row(s) to key {key_id}."))
