"""The message budget's pure decision (workflows/budget.py): caps, when a slot frees, skip, the
same send asked twice, transactional records, quiet hours (overnight, time zones, DST), the
ledger's bounds, and the policy's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from workflows.budget import (
    MAX_LEDGER_PER_CHANNEL,
    GrantRequest,
    MessagingPolicy,
    QuietHours,
    SendLedger,
    SentRecord,
    decide,
    record,
)

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday, noon UTC
UTC_ZONE = ZoneInfo("UTC")


def policy(**parts: Any) -> MessagingPolicy:
    return MessagingPolicy.model_validate(parts)


def ask(ledger: SendLedger, rules: MessagingPolicy, key: str, at: datetime, **extra: Any) -> Any:
    zone = extra.pop("zone", UTC_ZONE)
    request = GrantRequest(key=key, channel=extra.pop("channel", "email"), policy=rules, **extra)
    return decide(ledger, request, at, zone)


def test_grants_up_to_max_then_waits_until_the_oldest_leaves_the_window() -> None:
    rules = policy(email={"max": 2, "per": "P1D"})
    ledger = SendLedger()
    assert ask(ledger, rules, "a", T0).granted
    assert ask(ledger, rules, "b", T0 + timedelta(hours=3)).granted
    third = ask(ledger, rules, "c", T0 + timedelta(hours=5))
    assert (third.granted, third.wait, third.until) == (False, "budget", T0 + timedelta(days=1))
    assert ask(ledger, rules, "c", T0 + timedelta(days=1, seconds=1)).granted
    # Now b and c are in the window: the next slot frees when b leaves it.
    fourth = ask(ledger, rules, "d", T0 + timedelta(days=1, hours=1))
    assert fourth.until == T0 + timedelta(days=1, hours=3)


def test_the_same_send_asked_again_is_granted_and_counted_once() -> None:
    rules = policy(email={"max": 1, "per": "P1D"})
    ledger = SendLedger()
    assert ask(ledger, rules, "a", T0).granted
    assert ask(ledger, rules, "a", T0 + timedelta(minutes=1)).granted  # a retry
    assert len(ledger.entries) == 1
    assert not ask(ledger, rules, "b", T0 + timedelta(minutes=2)).granted


def test_skip_and_channels_are_counted_apart() -> None:
    rules = policy(email={"max": 1, "per": "P1D"}, sms={"max": 1, "per": "P1D"})
    ledger = SendLedger()
    assert ask(ledger, rules, "a", T0).granted
    assert ask(ledger, rules, "t", T0, channel="sms").granted
    skipped = ask(ledger, rules, "b", T0, when_capped="skip")
    assert skipped.skipped and not skipped.granted and skipped.until is None
    assert not ledger.has("b")


def test_a_channel_without_a_cap_is_not_capped() -> None:
    rules = policy(sms={"max": 1, "per": "P1D"})
    ledger = SendLedger()
    assert all(ask(ledger, rules, f"k{n}", T0).granted for n in range(5))


def test_transactional_sends_count() -> None:
    rules = policy(email={"max": 1, "per": "P1D"})
    ledger = SendLedger()
    record(ledger, SentRecord(key="r", channel="email", policy=rules), T0)
    record(ledger, SentRecord(key="r", channel="email", policy=rules), T0)  # once per key
    assert len(ledger.entries) == 1
    assert ask(ledger, rules, "a", T0 + timedelta(hours=1)).wait == "budget"


def test_the_ledger_forgets_past_the_longest_per_and_stays_bounded() -> None:
    rules = policy(email={"max": 1000, "per": "PT1H"}, sms={"max": 1, "per": "PT2H"})
    ledger = SendLedger()
    ask(ledger, rules, "old", T0)
    ask(ledger, rules, "new", T0 + timedelta(hours=2, seconds=1))
    assert [e.key for e in ledger.entries] == ["new"]
    for n in range(MAX_LEDGER_PER_CHANNEL + 5):
        record(ledger, SentRecord(key=f"t{n}", channel="email", policy=rules), T0)
    assert len([e for e in ledger.entries if e.channel == "email"]) == MAX_LEDGER_PER_CHANNEL


@pytest.mark.parametrize(
    ("local", "ends"),
    [
        ("2026-12-02T23:00", "2026-12-03T08:00"),  # before midnight
        ("2026-12-03T07:59", "2026-12-03T08:00"),  # after midnight
        ("2026-12-02T21:00", "2026-12-03T08:00"),  # start is inclusive
        ("2026-12-03T08:00", None),  # end is exclusive
        ("2026-12-02T12:00", None),
    ],
)
def test_overnight_quiet_hours(local: str, ends: str | None) -> None:
    madrid = ZoneInfo("Europe/Madrid")
    quiet = QuietHours(start="21:00", end="08:00")
    now = datetime.fromisoformat(local).replace(tzinfo=madrid)
    expected = datetime.fromisoformat(ends).replace(tzinfo=madrid) if ends else None
    assert quiet.end_after(now, madrid) == expected


def test_daytime_quiet_hours_and_the_zone_decides() -> None:
    quiet = policy(quiet_hours={"start": "12:00", "end": "14:00"})
    ledger = SendLedger()
    answer = ask(ledger, quiet, "a", T0)  # noon UTC
    assert (answer.wait, answer.until) == ("quiet_hours", T0 + timedelta(hours=2))
    tokyo = ask(ledger, quiet, "b", T0, zone=ZoneInfo("Asia/Tokyo"))  # 21:00 there
    assert tokyo.granted


def test_quiet_hours_across_a_dst_change_end_on_the_local_clock() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    quiet = QuietHours(start="21:00", end="08:00")
    # The night of 27–28 March 2027: clocks go 02:00 → 03:00; 08:00 CEST is 06:00 UTC.
    now = datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert quiet.end_after(now, madrid) == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"email": {"max": 0, "per": "P1D"}},
        {"email": {"max": 1001, "per": "P1D"}},
        {"email": {"max": 1, "per": "P1M"}},
        {"email": {"max": 1, "per": "P367D"}},
        {"quiet_hours": {"start": "24:00", "end": "08:00"}},
        {"quiet_hours": {"start": "08:00", "end": "08:00"}},
        {"push": {"max": 1, "per": "P1D"}},
    ],
)
def test_invalid_policies(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MessagingPolicy.model_validate(body)


def test_applies_to() -> None:
    assert not MessagingPolicy().applies_to("email")
    assert policy(sms={"max": 1, "per": "P1D"}).applies_to("sms")
    assert not policy(sms={"max": 1, "per": "P1D"}).applies_to("email")
    assert policy(quiet_hours={"start": "22:00", "end": "07:00"}).applies_to("email")
