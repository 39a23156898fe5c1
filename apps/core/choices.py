"""CHECK constraints for TextChoices columns (enum = TextChoices + CHECK)."""

from __future__ import annotations

from django.db import models


def choices_check(field: str, choices: type[models.TextChoices], *, model: str) -> models.CheckConstraint:
    """``CHECK (field IN (...))`` named ``<model>_<field>_valid``; nullable columns may be NULL."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__in": list(choices.values)}) | models.Q(**{f"{field}__isnull": True}),
        name=f"{model}_{field}_valid",
    )
