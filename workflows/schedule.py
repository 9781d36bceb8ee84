"""`until_time` waits: the next wall-clock time in a timezone, optionally on given weekdays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.definition import WEEKDAYS


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_clock_time(
    now: datetime, clock: str, weekdays: Sequence[str] | None, zone_name: str
) -> datetime:
    """The first instant strictly after `now` whose local time in `zone_name` is `clock`
    (HH:MM) on one of `weekdays` (all days when None). An unknown zone falls back to UTC; a naive
    `now` is taken as UTC. A clock time skipped by a DST change is read with the offset before
    the change (02:30 on a spring-forward night is 03:30 summer time); a repeated one means its
    first occurrence. The result is in `now`'s timezone."""
    zone = _zone(zone_name)
    hour, minute = (int(part) for part in clock.split(":"))
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    instant = now.astimezone(UTC)
    local_now = now.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in weekdays} if weekdays else set(range(7))
    for days_ahead in range(8):
        day = local_now.date() + timedelta(days=days_ahead)
        if day.weekday() not in allowed:
            continue
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # Compare instants in UTC: two datetimes sharing one tzinfo are compared by wall clock,
        # which is wrong across a DST fall-back (02:45 CEST is before 02:30 CET).
        if candidate.astimezone(UTC) > instant:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a week always contains an allowed day")
