"""Channel choices, quiet hours (across midnight and time zones), digest timing."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time

import pytest

from apps.notifications import rules

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_defaults_and_choices():
    assert rules.channel_enabled("mention", "push", {}) is True
    assert rules.channel_enabled("reaction", "push", {}) is False
    assert rules.channel_enabled("mention", "push", {"mention": {"push": False}}) is False
    assert rules.channel_enabled("mention", "email", {"mention": {"push": False}}) is True  # omitted: default
    assert (
        rules.channel_enabled("mention", "push", {"mention": {"push": "no"}}) is True
    )  # not a bool: default
    assert rules.channel_enabled("security", "email", {"security": {"email": False}}) is True  # locked
    assert rules.channel_enabled("security", "push", {"security": {"push": False}}) is False


@pytest.mark.parametrize(
    ("now", "start", "end", "until"),
    [
        # 23:30 Berlin (22:30 UTC), quiet 22:00–07:00: until 07:00 Berlin next day = 06:00 UTC
        (
            datetime(2026, 1, 10, 22, 30, tzinfo=UTC),
            time(22),
            time(7),
            datetime(2026, 1, 11, 6, 0, tzinfo=UTC),
        ),
        # 03:00 Berlin, same window: until 07:00 Berlin the same day
        (datetime(2026, 1, 11, 2, 0, tzinfo=UTC), time(22), time(7), datetime(2026, 1, 11, 6, 0, tzinfo=UTC)),
        # 12:00 Berlin: outside
        (datetime(2026, 1, 11, 11, 0, tzinfo=UTC), time(22), time(7), None),
        # a daytime window 13:00–14:00 Berlin at 13:30 (summer time, UTC+2)
        (
            datetime(2026, 7, 1, 11, 30, tzinfo=UTC),
            time(13),
            time(14),
            datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        ),
        # no quiet hours
        (datetime(2026, 7, 1, 11, 30, tzinfo=UTC), None, None, None),
    ],
)
def test_quiet_until(now, start, end, until):
    assert rules.quiet_until(now, BERLIN, start, end) == until


def test_digest_is_due_during_the_local_8_oclock_hour():
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    assert rules.digest_due(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), tokyo, "daily")  # 08:00 Tokyo
    assert not rules.digest_due(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tokyo, "daily")
    monday_8_berlin = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)  # Monday 08:15 Berlin
    assert rules.digest_due(monday_8_berlin, BERLIN, "weekly")
    assert not rules.digest_due(datetime(2026, 3, 3, 7, 15, tzinfo=UTC), BERLIN, "weekly")
    assert not rules.digest_due(monday_8_berlin, BERLIN, "off")


def test_an_unknown_time_zone_falls_back_to_utc():
    assert rules.zone("Mars/Olympus") == zoneinfo.ZoneInfo("UTC")
