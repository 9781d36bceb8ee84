"""One contact of a dry run (docs/api.md, "Dry runs"): its kept events replayed through a
definition as if it had been active over the window. Plain code, no Temporal, nothing that sends.

The contact's events, in acceptance order, meet the definition's triggers as R14 says (R13's
one active enrollment and re-entry, the chain limit); each enrollment it would have made runs
through the simulator (workflows/simulator.py, R18) with the events accepted after it, up to now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field

from workflows.definition import Automation
from workflows.event_memory import EventMemory, recall
from workflows.events import MAX_TRIGGER_DEPTH, ContactEvent
from workflows.matching import triggers_met_by
from workflows.messages import ENROLLMENT_PREFIX, ContactSnapshot, TriggerCause
from workflows.simulator import Previewed, simulate


class DryRunTally(BaseModel):
    """What a dry run counted; tallies add up (`add`)."""

    # Contact runs listed (with events in the window or not): the job's progress.
    contacts_listed: int = 0
    contacts_scanned: int = 0
    events_scanned: int = 0
    would_enroll: int = 0
    reached: dict[str, int] = Field(default_factory=dict)
    here: dict[str, int] = Field(default_factory=dict)
    met: dict[str, int] = Field(default_factory=dict)
    outcomes: dict[str, int] = Field(default_factory=dict)
    sends: dict[str, int] = Field(default_factory=lambda: {"email": 0, "sms": 0, "webhook": 0})

    def add(self, other: DryRunTally) -> None:
        self.contacts_listed += other.contacts_listed
        self.contacts_scanned += other.contacts_scanned
        self.events_scanned += other.events_scanned
        self.would_enroll += other.would_enroll
        for mine, theirs in (
            (self.reached, other.reached),
            (self.here, other.here),
            (self.met, other.met),
            (self.outcomes, other.outcomes),
            (self.sends, other.sends),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n


def dry_run_contact(
    *,
    automation_id: str,
    version: int,
    automation: Automation,
    contact: ContactSnapshot,
    events: list[ContactEvent],
    since: datetime,
    now: datetime,
) -> DryRunTally:
    """The tally of one contact: `events` are its kept events, oldest first; those accepted
    from `since` count, the earlier ones only as look-back."""
    # The changes the automation's own real enrollments made (their ids start with theirs)
    # are left out: the simulated enrollments make their own.
    own = f"{ENROLLMENT_PREFIX}{automation_id}:"
    events = [e for e in events if not e.id.startswith(own)]
    window = [e for e in events if e.accepted_at is not None and e.accepted_at >= since]
    tally = DryRunTally(contacts_listed=1, contacts_scanned=1 if window else 0)
    tally.events_scanned = len(window)
    reached: Counter[str] = Counter()
    here: Counter[str] = Counter()
    met: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    enrolled = 0
    active_until: datetime | None = None
    active = False
    for i, event in enumerate(window):
        at = event.accepted_at
        assert at is not None
        if active and active_until is not None and active_until <= at:
            active = False
        matched = triggers_met_by(automation, event, automation_id)
        if not matched or event.depth > MAX_TRIGGER_DEPTH or active:
            continue
        if enrolled and not automation.settings.allow_reentry:
            continue
        enrolled += 1
        earlier = EventMemory(events=[e for e in events if e.accepted_at and e.accepted_at < at])
        simulation = simulate(
            automation_id=automation_id,
            version=version,
            automation=automation,
            contact=contact,
            start=at,
            horizon=now,
            events=[Previewed(e.accepted_at or at, e) for e in window[i + 1 :]],
            enrollment_id=f"dry-run:{automation_id}:{contact.id}:{enrolled}",
            trigger=TriggerCause(trigger_id=matched[0], event_id=event.id, depth=event.depth),
            lookback_events=recall(earlier, automation, at),
        )
        view = simulation.view
        reached.update(simulation.reached)
        met.update(g.step_id for g in view.goals if g.met)
        if view.status == "active":
            if view.current_step is not None:
                here[view.current_step] += 1
            active, active_until = True, None
        else:
            outcomes[view.outcome or view.status] += 1
            active, active_until = True, simulation.ends_at
        for send in simulation.sends:
            tally.sends[send.channel] = tally.sends.get(send.channel, 0) + 1
    tally.would_enroll = enrolled
    tally.reached, tally.here, tally.met = dict(reached), dict(here), dict(met)
    tally.outcomes = dict(outcomes)
    return tally
