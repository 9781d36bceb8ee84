"""The message budget across automations (R20 in docs/automations.md): the policy, the ledger of
a contact's recent sends, and the grant decision.

Plain code, no Temporal and no clock: the contact workflow (workflows/contact_budget.py) keeps
the ledger in its state and decides each grant with its own `now`; the worker's send activities
(goalflow/core/send_budget.py) ask for the grant with the policy of their process's cached catalog.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.definition import AutomationSettings
from workflows.durations import parse_duration

Channel = Literal["email", "sms"]
Priority = Literal["transactional", "normal"]
WhenCapped = Literal["defer", "skip"]
BudgetWait = Literal["budget", "quiet_hours"]
BUDGET_WAITS = ("budget", "quiet_hours")

# The contact workflow's handlers: a normal send asks for a slot, a transactional one is counted.
UPDATE_GRANT_SEND = "grant_send"
SIGNAL_SEND_RECORDED = "send_recorded"

# A cap's window: long enough for "one a week", short enough that the ledger stays small.
MAX_PER = timedelta(days=366)
MAX_CAP = 1000
# The ledger keeps at most this many sends per channel (normal sends never exceed the cap
# within `per`; transactional ones could), the oldest dropped first.
MAX_LEDGER_PER_CHANNEL = 1000
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cap(_Strict):
    """At most `max` sends on a channel over any `per` (an ISO 8601 duration)."""

    max: int = Field(ge=1, le=MAX_CAP)
    per: str

    @field_validator("per")
    @classmethod
    def _duration(cls, value: str) -> str:
        length = parse_duration(value)  # ValueError for a malformed duration
        if length <= timedelta(0) or length > MAX_PER:
            raise ValueError("per must be a positive ISO 8601 duration of at most P366D")
        return value

    @property
    def window(self) -> timedelta:
        return parse_duration(self.per)


class QuietHours(_Strict):
    """No normal send from `start` to `end` ("HH:MM", local time); 21:00–08:00 spans midnight."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day as HH:MM, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def end_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the quiet hours `now` falls in end (None: `now` is not in quiet hours)."""
        local = now.astimezone(zone)
        start, end = _clock(self.start), _clock(self.end)
        at = local.time().replace(tzinfo=None)
        inside = start <= at < end if start < end else (at >= start or at < end)
        if not inside:
            return None
        ends = datetime.combine(local.date(), end, tzinfo=zone)
        if ends <= local:
            ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
        return ends


class MessagingPolicy(_Strict):
    """The namespace's messaging policy; empty: no limit."""

    email: Cap | None = None
    sms: Cap | None = None
    quiet_hours: QuietHours | None = None

    def cap(self, channel: Channel) -> Cap | None:
        return self.email if channel == "email" else self.sms

    def applies_to(self, channel: Channel) -> bool:
        """Whether a send on `channel` has anything to ask."""
        return self.cap(channel) is not None or self.quiet_hours is not None

    @property
    def longest(self) -> timedelta:
        windows = [cap.window for cap in (self.email, self.sms) if cap is not None]
        return max(windows, default=timedelta(0))


class SendingRules(BaseModel):
    """What a send carries of its automation's settings, for the budget."""

    priority: Priority = "normal"
    when_capped: WhenCapped = "defer"
    timezone: str = "UTC"


def sending_rules(settings: AutomationSettings) -> SendingRules:
    return SendingRules(
        priority=settings.priority or "normal",
        when_capped=settings.when_capped or "defer",
        timezone=settings.timezone,
    )


class SentEntry(BaseModel):
    """One granted (or transactional) send: when, on which channel, and the send's stable key
    (enrollment, step, visit), so that a retried send is not counted twice."""

    at: datetime
    channel: Channel
    key: str


class SendLedger(BaseModel):
    """A contact's recent sends, oldest first, kept as long as the longest `per`."""

    entries: list[SentEntry] = Field(default_factory=list)

    def has(self, key: str) -> bool:
        return any(entry.key == key for entry in self.entries)

    def add(self, at: datetime, channel: Channel, key: str) -> None:
        self.entries.append(SentEntry(at=at, channel=channel, key=key))
        on_channel = [e for e in self.entries if e.channel == channel]
        if len(on_channel) > MAX_LEDGER_PER_CHANNEL:
            oldest = on_channel[0]
            self.entries.remove(oldest)

    def prune(self, now: datetime, keep: timedelta) -> None:
        """Forget the sends older than `keep` (the policy's longest `per`)."""
        self.entries = [entry for entry in self.entries if entry.at > now - keep]

    def on_channel_since(self, channel: Channel, since: datetime) -> list[datetime]:
        return sorted(e.at for e in self.entries if e.channel == channel and e.at > since)


class GrantRequest(BaseModel):
    """A normal send asks its contact for a slot. `timezone`: the automation's (the contact's
    own `timezone` field comes first); `policy`: the asking process's current copy."""

    key: str
    channel: Channel
    when_capped: WhenCapped = "defer"
    timezone: str = "UTC"
    policy: MessagingPolicy


class GrantAnswer(BaseModel):
    """`granted`, or wait (`wait` and `until`), or `skipped` (capped, with `skip`)."""

    granted: bool = False
    wait: BudgetWait | None = None
    until: datetime | None = None
    skipped: bool = False


class SentRecord(BaseModel):
    """A transactional send, counted without asking."""

    key: str
    channel: Channel
    policy: MessagingPolicy


def decide(ledger: SendLedger, request: GrantRequest, now: datetime, zone: ZoneInfo) -> GrantAnswer:
    """Grant the slot (recording it in the ledger), or say when to ask again, or skip."""
    policy = request.policy
    ledger.prune(now, policy.longest)
    if ledger.has(request.key):
        return GrantAnswer(granted=True)  # the same send, retried: already counted
    if policy.quiet_hours is not None:
        ends = policy.quiet_hours.end_after(now, zone)
        if ends is not None:
            return GrantAnswer(wait="quiet_hours", until=ends)
    cap = policy.cap(request.channel)
    if cap is not None:
        sent = ledger.on_channel_since(request.channel, now - cap.window)
        if len(sent) >= cap.max:
            if request.when_capped == "skip":
                return GrantAnswer(skipped=True)
            # The slot frees when enough of the oldest sends leave the window.
            return GrantAnswer(wait="budget", until=sent[len(sent) - cap.max] + cap.window)
    ledger.add(now, request.channel, request.key)
    return GrantAnswer(granted=True)


def record(ledger: SendLedger, sent: SentRecord, now: datetime) -> None:
    """Count a transactional send (once per key)."""
    ledger.prune(now, sent.policy.longest)
    if not ledger.has(sent.key):
        ledger.add(now, sent.channel, sent.key)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
