"""Who gets what, where and when: channel defaults per kind, the user's choices, quiet hours, digests.

``UserSettings.notification_choices`` is ``{kind: {push?, email?, in_app?: bool}}``
(apps/preferences); an omitted kind or channel takes the default below.
``in_app: false`` mutes the kind in the inbox too (no item is created).
Channels in ``LOCKED`` cannot be turned off (security notices always reach
the inbox and the mailbox).

Quiet hours (``quiet_start``–``quiet_end`` in the user's time zone, may wrap
midnight) defer push to their end; email of the immediate kinds goes to the
next digest instead (security mail is never held). Other kinds' email always
goes to the digest (``email_digest`` daily or weekly, sent at the user's
local 08:00; ``off`` = no email for them).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

CHANNELS = ("push", "email", "in_app")

_ALL_ON = {"push": True, "email": True, "in_app": True}

#: kind → channel defaults (kinds not listed: every channel on)
DEFAULTS: dict[str, dict[str, bool]] = {
    "reaction": {"push": False, "email": False, "in_app": True},
    "follow": {"push": False, "email": False, "in_app": True},
    "welcome": {"push": False, "email": False, "in_app": True},
    "system": {"push": False, "email": False, "in_app": True},
}

#: channels a user cannot switch off for a kind
LOCKED: dict[str, frozenset[str]] = {"security": frozenset({"email", "in_app"})}

#: kinds whose email goes out at once (everything else waits for the digest)
IMMEDIATE_EMAIL_KINDS = frozenset({"security", "org_invite", "payout"})

#: email that quiet hours never hold back
NEVER_HELD = frozenset({"security"})

DIGEST_HOUR = 8
DIGEST_WEEKDAY = 0  # Monday, for weekly digests


def default_channels(kind: str) -> dict[str, bool]:
    return DEFAULTS.get(kind, _ALL_ON)


def channel_enabled(kind: str, channel: str, choices: Any) -> bool:
    if channel in LOCKED.get(kind, ()):
        return True
    chosen = choices.get(kind) if isinstance(choices, dict) else None
    if isinstance(chosen, dict) and isinstance(chosen.get(channel), bool):
        return chosen[channel]
    return default_channels(kind)[channel]


@dataclass(frozen=True)
class Recipient:
    """What delivery needs to know about a user (one query for many, see ``selectors.recipients``)."""

    id: Any
    network_id: Any
    email: str | None = None
    is_active: bool = True
    choices: dict = field(default_factory=dict)
    timezone: str = "UTC"
    quiet_start: time | None = None
    quiet_end: time | None = None
    email_digest: str = "daily"

    def wants(self, kind: str, channel: str) -> bool:
        return channel_enabled(kind, channel, self.choices)

    def zone(self) -> zoneinfo.ZoneInfo:
        return zone(self.timezone)

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet hours ``now`` falls in (aware UTC), or None outside them."""
        return quiet_until(now, self.zone(), self.quiet_start, self.quiet_end)


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def quiet_until(
    now: datetime, tz: zoneinfo.ZoneInfo, start: time | None, end: time | None
) -> datetime | None:
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # wraps midnight: 22:00–07:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return _at(end_day, end, tz)


def _at(day: date, clock: time, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(zoneinfo.ZoneInfo("UTC"))


def digest_due(now: datetime, tz: zoneinfo.ZoneInfo, cadence: str) -> bool:
    """True during the user's local 08:00 hour (weekly: on Mondays)."""
    local = now.astimezone(tz)
    if local.hour != DIGEST_HOUR:
        return False
    return cadence == "daily" or (cadence == "weekly" and local.weekday() == DIGEST_WEEKDAY)
