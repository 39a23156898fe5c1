"""UserSettings and UserPreferences writes (rows are created on first write)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.exceptions import Conflict, ValidationFailed

from ..models import UserPreferences, UserSettings
from ..validators import PREFERENCES_MAX_DEPTH, json_depth, merge_patch, validate_preferences_data

_Row = TypeVar("_Row", UserSettings, UserPreferences)

#: the columns a user may set, in the order the API and the export show them
SETTINGS_FIELDS = (
    "timezone",
    "locale",
    "notification_choices",
    "email_digest",
    "quiet_start",
    "quiet_end",
    "marketing_emails",
    "allow_dms_from",
    "profile_visibility",
)


def _locked_row(model: type[_Row], user: Any) -> _Row:
    row, _ = model.objects.select_for_update().get_or_create(
        user=user, defaults={"network_id": user.network_id}
    )
    return row


@transaction.atomic
def update_settings(*, actor: Any, **fields: Any) -> UserSettings:
    unknown = set(fields).difference(SETTINGS_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown field.", field=sorted(unknown)[0], code="unknown_field")
    row = _locked_row(UserSettings, actor)
    for name, value in fields.items():
        setattr(row, name, value)
    if (row.quiet_start is None) != (row.quiet_end is None):
        raise ValidationFailed(
            "Set both quiet_start and quiet_end, or neither.", field="quiet_end", code="quiet_hours"
        )
    if row.quiet_start is not None and row.quiet_start == row.quiet_end:
        raise ValidationFailed("Quiet hours must not start and end at the same time.", field="quiet_end")
    if fields:
        row.save(update_fields=[*fields, "updated_at"])
    return row


@transaction.atomic
def write_preferences(
    *, actor: Any, data: Any, expected_version: int | None = None, merge: bool = False
) -> UserPreferences:
    """Replace (PUT) or merge-patch (PATCH, RFC 7386) the client JSON.

    ``expected_version`` is optimistic concurrency: a write based on an older
    read is refused with 409 ``stale_version`` and changes nothing.
    """
    if json_depth(data) > PREFERENCES_MAX_DEPTH:
        raise ValidationFailed(
            f"Preferences may nest at most {PREFERENCES_MAX_DEPTH} levels.", field="data", code="too_deep"
        )
    row = _locked_row(UserPreferences, actor)
    if expected_version is not None and expected_version != row.version:
        raise Conflict(
            "These preferences changed since you read them; reload and retry.",
            code="stale_version",
            extra={"current_version": row.version},
        )
    new_data = merge_patch(row.data, data) if merge else data
    try:
        validate_preferences_data(new_data)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], field="data", code=exc.code or "invalid") from exc
    row.data = new_data
    row.version += 1
    row.save(update_fields=["data", "version", "updated_at"])
    return row
