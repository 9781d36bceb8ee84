"""ISO 8601 durations and `until_time` clock waits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.durations import MAX_DURATION, parse_duration
from workflows.schedule import next_clock_time

PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# --- parse_duration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2S", timedelta(seconds=2)),
        ("PT15M", timedelta(minutes=15)),
        ("PT1M", timedelta(minutes=1)),  # minutes after T, never months
        ("PT36H", timedelta(hours=36)),
        ("P3D", timedelta(days=3)),
        ("P1W", timedelta(weeks=1)),
        ("P2W3D", timedelta(days=17)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1W2DT3H4M5S", timedelta(days=9, hours=3, minutes=4, seconds=5)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("PT1.25S", timedelta(seconds=1, milliseconds=250)),
        ("PT90M", timedelta(minutes=90)),
        ("P0DT1S", timedelta(seconds=1)),
        ("P3650D", timedelta(days=3650)),
    ],
)
def test_valid_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P1M", "uses years or months"),
        ("P1Y", "uses years or months"),
        ("P1Y2M3D", "uses years or months"),
        ("P2W1M", "uses years or months"),
        ("P0D", "must be positive"),
        ("PT0S", "must be positive"),
        ("P0W0DT0H0M0S", "must be positive"),
        ("P3651D", "longer than 10 years"),
        ("P522W", "longer than 10 years"),
        ("PT87601H", "longer than 10 years"),
        ("P99999999999D", "longer than 10 years"),
        ("PT99999999999999999999999S", "longer than 10 years"),
        ("", "invalid ISO 8601 duration"),
        ("P", "invalid ISO 8601 duration"),
        ("PT", "invalid ISO 8601 duration"),
        ("P1DT", "invalid ISO 8601 duration"),
        ("2 days", "invalid ISO 8601 duration"),
        ("p2d", "invalid ISO 8601 duration"),
        ("P-1D", "invalid ISO 8601 duration"),
        ("-P1D", "invalid ISO 8601 duration"),
        ("P1.5D", "invalid ISO 8601 duration"),
        ("PT1.5H", "invalid ISO 8601 duration"),
        ("PT1S2M", "invalid ISO 8601 duration"),
        ("P1D2W", "invalid ISO 8601 duration"),
        ("P2H", "invalid ISO 8601 duration"),
        (" P2D", "invalid ISO 8601 duration"),
        ("P2D ", "invalid ISO 8601 duration"),
        ("P2D\n", "invalid ISO 8601 duration"),
        ("P\uff12D", "invalid ISO 8601 duration"),  # fullwidth digit two
        ("P\u0662D", "invalid ISO 8601 duration"),  # Arabic-Indic digit two
        ("3600", "invalid ISO 8601 duration"),
    ],
)
def test_invalid_durations(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_max_duration_is_ten_years_of_days() -> None:
    assert timedelta(days=3650) == MAX_DURATION


# --- next_clock_time -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "clock", "weekdays", "zone", "expected"),
    [
        # later today
        (utc(2025, 6, 2, 8, 0), "09:00", None, "UTC", utc(2025, 6, 2, 9, 0)),
        # strictly after: exactly at the clock time means tomorrow
        (utc(2025, 6, 2, 9, 0), "09:00", None, "UTC", utc(2025, 6, 3, 9, 0)),
        (utc(2025, 6, 2, 9, 0, 0, 1), "09:00", None, "UTC", utc(2025, 6, 3, 9, 0)),
        (utc(2025, 6, 2, 8, 59, 59, 999999), "09:00", None, "UTC", utc(2025, 6, 2, 9, 0)),
        # midnight and the last minute of the day
        (utc(2025, 6, 2, 23, 59), "00:00", None, "UTC", utc(2025, 6, 3, 0, 0)),
        (utc(2025, 12, 31, 23, 0), "23:59", None, "UTC", utc(2025, 12, 31, 23, 59)),
        (utc(2025, 12, 31, 23, 59, 30), "23:59", None, "UTC", utc(2026, 1, 1, 23, 59)),
        # Europe/Paris in summer (UTC+2) and in winter (UTC+1)
        (utc(2025, 6, 2, 6, 0), "09:00", None, "Europe/Paris", utc(2025, 6, 2, 7, 0)),
        (utc(2025, 1, 6, 7, 0), "09:00", None, "Europe/Paris", utc(2025, 1, 6, 8, 0)),
        # 07:30 UTC is already 09:30 in Paris: tomorrow
        (utc(2025, 6, 2, 7, 30), "09:00", None, "Europe/Paris", utc(2025, 6, 3, 7, 0)),
        # across the spring-forward night (30 March 2025): 09:00 CET, then 09:00 CEST
        (utc(2025, 3, 29, 10, 0), "09:00", None, "Europe/Paris", utc(2025, 3, 30, 7, 0)),
        # across the fall-back night (26 October 2025): 09:00 CEST, then 09:00 CET
        (utc(2025, 10, 25, 10, 0), "09:00", None, "Europe/Paris", utc(2025, 10, 26, 8, 0)),
        # 02:30 does not exist on 30 March in Paris: read with the winter offset (03:30 CEST)
        (utc(2025, 3, 30, 0, 0), "02:30", None, "Europe/Paris", utc(2025, 3, 30, 1, 30)),
        # 02:45 happens twice on 26 October in Paris: before the first one, the first one
        (utc(2025, 10, 26, 0, 10), "02:45", None, "Europe/Paris", utc(2025, 10, 26, 0, 45)),
        # between the two 02:45s (now = 02:30 CET, second pass): the first one is in the
        # past, so never earlier than now: next day's 02:45 CET
        (utc(2025, 10, 26, 1, 30), "02:45", None, "Europe/Paris", utc(2025, 10, 27, 1, 45)),
        # weekdays (2 June 2025 is a Monday)
        (utc(2025, 6, 2, 8, 0), "09:00", ["mon"], "UTC", utc(2025, 6, 2, 9, 0)),
        (utc(2025, 6, 2, 10, 0), "09:00", ["mon"], "UTC", utc(2025, 6, 9, 9, 0)),
        (utc(2025, 6, 2, 9, 0), "09:00", ["mon"], "UTC", utc(2025, 6, 9, 9, 0)),
        (utc(2025, 6, 2, 10, 0), "09:00", ["fri"], "UTC", utc(2025, 6, 6, 9, 0)),
        (utc(2025, 6, 2, 10, 0), "09:00", ["sat", "sun"], "UTC", utc(2025, 6, 7, 9, 0)),
        (utc(2025, 6, 2, 10, 0), "09:00", ["sun", "tue"], "UTC", utc(2025, 6, 3, 9, 0)),
        # the weekday is the local one: Friday 20:00 UTC is Saturday 05:00 in Tokyo
        (utc(2025, 6, 6, 20, 0), "09:00", ["sat"], "Asia/Tokyo", utc(2025, 6, 7, 0, 0)),
        (utc(2025, 6, 6, 20, 0), "09:00", ["fri"], "Asia/Tokyo", utc(2025, 6, 13, 0, 0)),
        # weekdays across the spring-forward night: Saturday 29 March, next Monday 09:00 CEST
        (utc(2025, 3, 29, 10, 0), "09:00", ["mon"], "Europe/Paris", utc(2025, 3, 31, 7, 0)),
        # an unknown zone falls back to UTC
        (utc(2025, 6, 2, 8, 0), "09:00", None, "Mars/Olympus", utc(2025, 6, 2, 9, 0)),
    ],
)
def test_next_clock_time(
    now: datetime, clock: str, weekdays: list[str] | None, zone: str, expected: datetime
) -> None:
    got = next_clock_time(now, clock, weekdays, zone)
    assert got == expected
    assert got > now
    assert got.utcoffset() == timedelta(0)  # in now's timezone
    local = got.astimezone(ZoneInfo(zone) if zone != "Mars/Olympus" else UTC)
    assert local.strftime("%H:%M") == clock or (clock, zone) == ("02:30", "Europe/Paris")


def test_result_is_in_the_timezone_of_now() -> None:
    now = datetime(2025, 6, 2, 8, 0, tzinfo=PARIS)
    got = next_clock_time(now, "09:00", None, "Asia/Tokyo")
    # 08:00 Paris = 15:00 Tokyo; next 09:00 Tokyo = 3 June 00:00 UTC = 02:00 Paris
    assert got == utc(2025, 6, 3, 0, 0)
    assert got.tzinfo is PARIS
    assert (got.hour, got.minute) == (2, 0)


def test_now_in_the_same_zone_during_the_repeated_hour() -> None:
    # now = 02:30 CET on 26 October 2025 (second pass through 02:00-03:00), given in Paris time.
    now = datetime(2025, 10, 26, 2, 30, tzinfo=PARIS, fold=1)
    assert now.astimezone(UTC) == utc(2025, 10, 26, 1, 30)
    got = next_clock_time(now, "02:45", None, "Europe/Paris")
    assert got.astimezone(UTC) > now.astimezone(UTC)
    assert got.astimezone(UTC) == utc(2025, 10, 27, 1, 45)


def test_naive_now_is_utc() -> None:
    got = next_clock_time(datetime(2025, 6, 2, 6, 0), "09:00", None, "Europe/Paris")
    assert got == utc(2025, 6, 2, 7, 0)


def test_daily_clock_time_across_both_dst_changes() -> None:
    # A daily 09:00 in Paris across both DST changes of 2025 is always 09:00 local.
    now = utc(2025, 3, 28, 12, 0)
    seen = []
    for _ in range(220):
        now = next_clock_time(now, "09:00", None, "Europe/Paris")
        local = now.astimezone(PARIS)
        assert (local.hour, local.minute) == (9, 0)
        seen.append(local.date())
    assert seen[0].isoformat() == "2025-03-29"
    assert all((b - a).days == 1 for a, b in itertools.pairwise(seen))
    assert seen[-1].isoformat() == "2025-11-03"
