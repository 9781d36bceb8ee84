"""Send windows (R16 in docs/automations.md): the pure "next opening" computation and the
validation of `send_window` in definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from goalflow.core.validation import parse_automation
from workflows.definition import Automation, SendWindow
from workflows.send_windows import first_instant_reading, next_opening, zone_or_none

MADRID = ZoneInfo("Europe/Madrid")
WORKDAYS = SendWindow(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="18:00")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def window(days: list[str], start: str, end: str) -> SendWindow:
    return SendWindow.model_validate({"days": days, "start": start, "end": end})


# --- ordinary days -------------------------------------------------------------------------------


def test_inside_the_window_sends_now() -> None:
    # Wednesday 2026-12-02 10:00 in Madrid (UTC+1).
    assert next_opening(utc(2026, 12, 2, 9, 0), WORKDAYS, MADRID) is None


def test_start_is_inclusive_and_end_exclusive() -> None:
    assert next_opening(utc(2026, 12, 2, 8, 0), WORKDAYS, MADRID) is None  # 09:00 local
    assert next_opening(utc(2026, 12, 2, 17, 0), WORKDAYS, MADRID) == utc(2026, 12, 3, 8, 0)


def test_before_the_start_waits_for_todays_opening() -> None:
    assert next_opening(utc(2026, 12, 2, 5, 0), WORKDAYS, MADRID) == utc(2026, 12, 2, 8, 0)


def test_friday_evening_waits_for_monday() -> None:
    friday_evening = utc(2026, 12, 4, 19, 0)
    assert next_opening(friday_evening, WORKDAYS, MADRID) == utc(2026, 12, 7, 8, 0)


def test_the_answer_keeps_the_timezone_of_now() -> None:
    new_york = timezone(timedelta(hours=-5))
    now = datetime(2026, 12, 2, 0, 0, tzinfo=new_york)  # 06:00 in Madrid
    opening = next_opening(now, WORKDAYS, MADRID)
    assert opening == utc(2026, 12, 2, 8, 0)
    assert opening is not None and opening.utcoffset() == timedelta(hours=-5)


def test_a_naive_now_is_utc() -> None:
    assert next_opening(datetime(2026, 12, 2, 5, 0), WORKDAYS, MADRID) == utc(2026, 12, 2, 8, 0)


def test_overnight_window_belongs_to_the_day_it_opens() -> None:
    friday_night = window(["fri"], "22:00", "06:00")
    # Saturday 03:00 local: still Friday's window.
    assert next_opening(utc(2026, 12, 5, 2, 0), friday_night, MADRID) is None
    # Friday 03:00 local: Thursday is not listed, so the window is closed.
    assert next_opening(utc(2026, 12, 4, 2, 0), friday_night, MADRID) == utc(2026, 12, 4, 21, 0)
    # Saturday 06:00 local: closed until next Friday 22:00.
    assert next_opening(utc(2026, 12, 5, 5, 0), friday_night, MADRID) == utc(2026, 12, 11, 21, 0)


def test_window_ending_at_midnight_runs_to_the_end_of_the_day() -> None:
    evening = window(["mon"], "20:00", "00:00")
    assert next_opening(utc(2026, 12, 7, 22, 59), evening, MADRID) is None  # 23:59 Monday
    assert next_opening(utc(2026, 12, 7, 23, 0), evening, MADRID) == utc(2026, 12, 14, 19, 0)


# --- DST -----------------------------------------------------------------------------------------
# Europe/Madrid: Sunday 2027-03-28 02:00 CET → 03:00 CEST; Sunday 2027-10-31 03:00 CEST → 02:00 CET.


def test_spring_forward_moves_the_opening_by_the_offset() -> None:
    sundays = window(["sun"], "09:00", "18:00")
    # The Sunday before: 09:00 CET is 08:00 UTC. On the change day: 09:00 CEST is 07:00 UTC.
    assert next_opening(utc(2027, 3, 21, 0, 0), sundays, MADRID) == utc(2027, 3, 21, 8, 0)
    assert next_opening(utc(2027, 3, 28, 0, 0), sundays, MADRID) == utc(2027, 3, 28, 7, 0)


def test_a_start_in_the_skipped_hour_opens_when_the_clock_jumps() -> None:
    small_hours = window(["sun"], "02:30", "04:00")
    # 02:30 never happens that night; the clock reads 03:00 CEST (01:00 UTC) right after 01:59:59.
    opening = next_opening(utc(2027, 3, 27, 23, 0), small_hours, MADRID)
    assert opening == utc(2027, 3, 28, 1, 0)
    assert opening is not None and opening.astimezone(MADRID).strftime("%H:%M") == "03:00"
    assert next_opening(utc(2027, 3, 28, 1, 30), small_hours, MADRID) is None  # 03:30 CEST
    assert next_opening(utc(2027, 3, 28, 2, 0), small_hours, MADRID) == utc(2027, 4, 4, 0, 30)


def test_a_window_inside_the_skipped_hour_does_not_open_that_day() -> None:
    lost = window(["sun"], "02:10", "02:50")
    assert next_opening(utc(2027, 3, 27, 23, 0), lost, MADRID) == utc(2027, 4, 4, 0, 10)


def test_fall_back_opens_at_the_first_occurrence_of_a_repeated_time() -> None:
    repeated = window(["sun"], "02:30", "02:45")
    # 02:30 CEST = 00:30 UTC; the window closes at 02:45 CEST and is not open again at 02:30 CET.
    assert next_opening(utc(2027, 10, 30, 22, 0), repeated, MADRID) == utc(2027, 10, 31, 0, 30)
    assert next_opening(utc(2027, 10, 31, 0, 40), repeated, MADRID) is None
    assert next_opening(utc(2027, 10, 31, 1, 35), repeated, MADRID) == utc(2027, 11, 7, 1, 30)


def test_fall_back_day_window_lasts_an_hour_longer() -> None:
    night = window(["sun"], "01:00", "05:00")
    opening = next_opening(utc(2027, 10, 30, 22, 0), night, MADRID)
    assert opening == utc(2027, 10, 30, 23, 0)  # 01:00 CEST
    assert next_opening(utc(2027, 10, 31, 3, 59), night, MADRID) is None  # 04:59 CET
    assert next_opening(utc(2027, 10, 31, 4, 0), night, MADRID) == utc(2027, 11, 7, 0, 0)


def test_a_day_that_does_not_exist_locally_has_no_window() -> None:
    # Samoa skipped Friday 2011-12-30 (from the 29th at 24:00, UTC-10, to the 31st, UTC+14).
    apia = ZoneInfo("Pacific/Apia")
    fridays = window(["fri"], "09:00", "17:00")
    opening = next_opening(utc(2011, 12, 29, 12, 0), fridays, apia)
    assert opening is not None
    assert opening.astimezone(apia).replace(tzinfo=None) == datetime(2012, 1, 6, 9, 0)


def test_first_instant_reading_a_skipped_and_a_repeated_time() -> None:
    assert first_instant_reading(datetime(2027, 3, 28, 2, 30), MADRID) == utc(2027, 3, 28, 1, 0)
    assert first_instant_reading(datetime(2027, 10, 31, 2, 30), MADRID) == utc(2027, 10, 31, 0, 30)
    assert first_instant_reading(datetime(2027, 7, 1, 12, 0), MADRID) == utc(2027, 7, 1, 10, 0)


def test_every_instant_of_a_year_agrees_with_the_wall_clock() -> None:
    """Hour by hour through 2027 in Madrid: inside exactly when the local clock is in the window;
    outside, the opening is in the future, is inside, and nothing between is."""
    lunch = window(["mon", "wed", "sun"], "12:00", "14:30")
    now = utc(2027, 1, 1, 0, 0)
    while now < utc(2028, 1, 1):
        local = now.astimezone(MADRID)
        expected = (
            local.strftime("%a").lower() in lunch.days
            and "12:00" <= (local.strftime("%H:%M")) < "14:30"
        )
        opening = next_opening(now, lunch, MADRID)
        assert (opening is None) == expected, now
        if opening is not None:
            assert opening > now
            assert next_opening(opening, lunch, MADRID) is None
            assert next_opening(opening - timedelta(minutes=1), lunch, MADRID) is not None
        now += timedelta(minutes=97)


# --- zones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Mars/Olympus", "", None, 7, "../etc/passwd"])
def test_an_invalid_zone_name_is_none(name: Any) -> None:
    assert zone_or_none(name) is None


# --- definitions ---------------------------------------------------------------------------------


def definition(settings_window: Any = None, **step: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"timezone": "Europe/Madrid"}
    if settings_window is not None:
        settings["send_window"] = settings_window
    return {
        "name": "windows",
        "settings": settings,
        "steps": [{"id": "hello", "type": "send_sms", "body": "hi", **step}],
    }


def error_locs(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        parse_automation(data)
    return [tuple(e["loc"]) for e in caught.value.errors()]


def test_unknown_day_is_refused_with_its_path() -> None:
    bad = {"days": ["mon", "funday"], "start": "09:00", "end": "18:00"}
    assert ("settings", "send_window", "days", 1) in error_locs(definition(bad))


@pytest.mark.parametrize("clock", ["25:00", "9:00", "09:60", "24:00", "0900", ""])
def test_bad_clock_is_refused_with_its_path(clock: str) -> None:
    bad = {"days": ["mon"], "start": clock, "end": "18:00"}
    assert ("settings", "send_window", "start") in error_locs(definition(bad))


def test_start_equal_to_end_is_refused() -> None:
    bad = {"days": ["mon"], "start": "09:00", "end": "09:00"}
    assert ("settings", "send_window") in error_locs(definition(bad))


def test_empty_or_repeated_days_are_refused() -> None:
    assert ("settings", "send_window", "days") in error_locs(
        definition({"days": [], "start": "09:00", "end": "18:00"})
    )
    assert ("settings", "send_window") in error_locs(
        definition({"days": ["mon", "mon"], "start": "09:00", "end": "18:00"})
    )


def test_a_step_window_is_validated_with_its_path() -> None:
    bad = {"days": ["mon"], "start": "09:00", "end": "25:00"}
    assert ("steps", 0, "send_window", "end") in error_locs(definition(send_window=bad))


def test_explicit_null_differs_from_absent_and_survives_temporal_and_the_api() -> None:
    window_json = {"days": ["mon"], "start": "09:00", "end": "18:00"}
    inherits, _ = parse_automation(definition(window_json))
    opts_out, _ = parse_automation(definition(window_json, send_window=None))
    assert inherits != opts_out
    default = inherits.settings.send_window
    assert inherits.steps[0].window(default) == default  # type: ignore[union-attr]
    assert opts_out.steps[0].window(default) is None  # type: ignore[union-attr]
    converter = pydantic_data_converter.payload_converter
    for automation in (inherits, opts_out):
        carried = converter.from_payloads(converter.to_payloads([automation]), [Automation])[0]
        assert carried == automation
        # The API's GET drops nulls: the opt-out must still be there.
        shown = automation.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert parse_automation(shown)[0] == automation
    shown = opts_out.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert shown["steps"][0]["send_window"] is None
    assert "send_window" not in inherits.model_dump(mode="json", exclude_none=True)["steps"][0]
