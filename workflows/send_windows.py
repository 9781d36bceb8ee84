"""Send windows: when, in a contact's local time, a send may go out (R16 in docs/automations.md).

A window is listed days with a `start` and an `end` wall-clock time. On each listed local day D it
is open from the first instant the local clock reads `start` on D until the first instant it reads
`end` (on D, or on the day after D when `end` is before `start`: an overnight window belongs to
the day it opens). Reading the clock this way settles the DST cases:

- a `start`/`end` in an hour the clock skips (02:30 on a spring-forward night) is reached when the
  clock jumps past it (03:00 summer time);
- a `start`/`end` in an hour the clock repeats (fall-back) is its first occurrence;
- a window whose whole span is skipped is not open that day, nor is one on a day that does not
  exist locally.

Pure functions of their arguments: workflows call them with `workflow.now()`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.definition import WEEKDAYS, SendWindow


def zone_or_none(name: object) -> ZoneInfo | None:
    """The zone named `name`, or None when it is not a known IANA zone name."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_for(contact_zone: object, fallback: str) -> ZoneInfo:
    """The contact's own zone when it names a valid one, else `fallback` (else UTC). Built here,
    in a module the workflow sandbox passes through, so that workflows get a real ZoneInfo."""
    return zone_or_none(contact_zone) or zone_or_none(fallback) or ZoneInfo("UTC")


def _clock(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)


def first_instant_reading(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the clock in `zone` reads `wall` (naive) or later."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) == wall:
        return early  # the wall time exists; when it repeats, fold=0 is its first occurrence
    # `wall` falls in a gap: the clock jumps over it at a transition between `before`
    # (offset after the gap applied, so still before the jump) and `early` (after the jump).
    before = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    after = int(early.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        local = datetime.fromtimestamp(middle, UTC).astimezone(zone).replace(tzinfo=None)
        if local >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _interval(window: SendWindow, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = _clock(window.start), _clock(window.end)
    end_day = day if end > start else day + timedelta(days=1)
    opens = first_instant_reading(datetime.combine(day, start), zone)
    closes = first_instant_reading(datetime.combine(end_day, end), zone)
    return opens, closes


def next_opening(now: datetime, window: SendWindow, zone: ZoneInfo) -> datetime | None:
    """None when `now` is inside `window` (in `zone`); else the instant the window next opens,
    in `now`'s timezone. A naive `now` is taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    instant = now.astimezone(UTC)
    today = instant.astimezone(zone).date()
    days = {WEEKDAYS.index(day) for day in window.days}
    # Yesterday's overnight window may still be open; within 9 days every listed day recurs.
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens, closes = _interval(window, day, zone)
        if opens >= closes:
            continue  # skipped entirely by a DST change
        if opens <= instant < closes:
            return None
        if opens > instant:
            return opens.astimezone(now.tzinfo)
    raise AssertionError("a window with a listed day opens within nine days")
