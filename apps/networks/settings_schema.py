"""The network settings document (``Network.settings``): one pydantic schema for writes and reads.

* **Writes** (``clean_settings``, called by ``services.update_network`` for the
  API and by the admin form) merge the change into the stored document —
  nested objects key by key, so ``{"project_quotas": {"sandboxes": 3}}`` keeps
  the other quotas — and validate the whole result strictly: unknown keys,
  wrong types (``"abc"``, ``true`` for a number), out-of-range values and
  unparseable rates are refused with the path of the bad value.
* **Reads** (``effective_settings``, behind ``Network.setting``) never fail: a
  stored value that does not fit the schema (written before it existed, or
  by hand in the database) is treated as absent — its default — key by key.

To add a setting: add a field here with its type, bounds and default; it is
then validated, defaulted and documented (README: networks) in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)


def _rate(value: str) -> str:
    from apps.core.ratelimit import Rate

    try:
        Rate.parse(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate such as '10/m' or '100/h'") from exc
    return value


RateText = Annotated[StrictStr, Field(max_length=32), AfterValidator(_rate)]
Quota = Annotated[StrictInt, Field(ge=0, le=100_000)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class ProjectQuotas(_Strict):
    """Live rows per project; ``null`` = no limit."""

    sandboxes: Quota = 10
    storage_buckets: Quota = 5
    databases: Quota = 5


class NetworkSettings(_Strict):
    require_2fa: StrictBool = False
    #: per-user limits by action name (``{"posts": "10/m"}``), read by ``ratelimit.network_rate``
    rate_limits: dict[Annotated[StrictStr, Field(min_length=1, max_length=64)], RateText] = Field(
        default_factory=dict, max_length=100
    )
    fee_bps: Annotated[StrictInt, Field(ge=0, le=10_000)] = 500
    deletion_grace_days: Annotated[StrictInt, Field(ge=0, le=3650)] = 30
    attribution_days: Annotated[StrictInt, Field(ge=0, le=3650)] = 30
    #: social: days an account counts as new (at most 2 links and 2 mentions per post, no media)
    new_account_days: Annotated[StrictInt, Field(ge=0, le=365)] = 2
    payout_threshold_minor: Annotated[StrictInt, Field(ge=0)] = 0
    default_model: Annotated[StrictStr, Field(max_length=200)] = ""
    project_quotas: ProjectQuotas = Field(default_factory=ProjectQuotas)


DEFAULTS: dict[str, Any] = NetworkSettings().model_dump()


class SettingsInvalid(ValueError):
    """``errors`` maps a dotted path (``project_quotas.sandboxes``) to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors.items()))


def _merge(stored: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    for name, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def clean_settings(change: Any, *, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The new stored document: ``change`` merged into ``stored``, validated whole (or ``SettingsInvalid``)."""
    if not isinstance(change, dict):
        raise SettingsInvalid({"settings": "Settings must be a JSON object."})
    merged = _merge(_readable(stored or {}), change)
    try:
        NetworkSettings.model_validate(merged)
    except ValidationError as exc:
        raise SettingsInvalid(
            {".".join(str(p) for p in error["loc"]) or "settings": error["msg"] for error in exc.errors()}
        ) from None
    return merged


def _readable(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored keys that still fit (so one stale value never blocks an unrelated change)."""
    effective = effective_settings(stored)
    return {name: effective[name] for name in stored if name in effective}


def _field_value(model: type[BaseModel], name: str, value: Any) -> Any:
    annotation = model.model_fields[name].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _lenient(annotation, value if isinstance(value, dict) else {})
    # the other fields keep their defaults: only this value is judged
    return model.model_validate({name: value}).model_dump()[name]


def _lenient(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    out = model().model_dump()
    for name in model.model_fields:
        if name not in raw:
            continue
        try:
            out[name] = _field_value(model, name, raw[name])
        except (ValidationError, ValueError, TypeError):
            continue  # does not fit: absent, so the default stands
    return out


def effective_settings(stored: Any) -> dict[str, Any]:
    """Every setting with its effective value: stored values that fit, defaults for the rest."""
    return _lenient(NetworkSettings, stored if isinstance(stored, dict) else {})
