"""Explain's entries, without a server: what became of each event a trigger listens to, and the
refusal reasons in the contact workflow's order (chain cut, already active, re-entry, paused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.explain import Run, entries
from goalflow.core.validation import parse_automation
from workflows.events import ContactEvent
from workflows.messages import AutomationVersion, EnrollmentView, TimelineEntry

T0 = datetime(2026, 5, 1, tzinfo=UTC)
CONFIRMED = {"event": "appointment.status_changed", "status": ["confirmed"]}


def version(**settings: Any) -> AutomationVersion:
    definition, _ = parse_automation(
        {"name": "x", "settings": settings, "triggers": [CONFIRMED],
         "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}
    )  # fmt: skip
    return AutomationVersion(automation_id="a", version=1, definition=definition, published_at=T0)


def confirmed(event_id: str, hours: int, depth: int = 0) -> ContactEvent:
    return ContactEvent(
        id=event_id,
        contact_id="c",
        type="appointment.status_changed",
        data={"status": "confirmed"},
        accepted_at=T0 + timedelta(hours=hours),
        depth=depth,
    )


def run(found: AutomationVersion, trigger_event: str, hours: int, ended: int | None) -> Run:
    timeline = [
        TimelineEntry(
            at=T0 + timedelta(hours=hours),
            kind="entered",
            detail={"trigger_id": "trigger-1", "trigger_event_id": trigger_event},
        )
    ]
    if ended is not None:
        timeline.append(TimelineEntry(at=T0 + timedelta(hours=ended), kind="ended"))
    view = EnrollmentView(
        enrollment_id=f"enr:a:c:{trigger_event}",
        automation_id="a",
        version=1,
        contact_id="c",
        status="active" if ended is None else "completed",
        current_step="w",
        waiting=None,
        goals=[],
        timeline=timeline,
        outcome=None,
    )
    return Run(view, found.definition)


def results(found: AutomationVersion, events: list[ContactEvent], runs: list[Run]) -> list[Any]:
    return [(e.event_id, e.result, e.reason) for e in entries("a", [found], events, runs)]


def test_refusals_follow_the_contact_workflows_order() -> None:
    once = version()
    first = run(once, "e1", 1, ended=3)
    events = [confirmed("e1", 1), confirmed("e2", 2), confirmed("e3", 4), confirmed("e4", 5, 11)]
    assert results(once, events, [first]) == [
        ("e1", "enrolled", None),
        ("e2", "refused", "already_active"),
        ("e3", "refused", "reentry"),
        ("e4", "refused", "chain_cut"),
    ]
    again = version(allow_reentry=True)
    # Re-entry allowed and nothing active: only a paused automation enrolls nobody.
    assert results(again, [confirmed("e1", 1), confirmed("e3", 4)], [run(again, "e1", 1, 3)]) == [
        ("e1", "enrolled", None),
        ("e3", "refused", "paused"),
    ]


def test_events_before_the_first_version_or_of_other_types_are_not_entries() -> None:
    found = version()
    early = confirmed("e0", -1)
    other = ContactEvent(id="x", contact_id="c", type="custom", accepted_at=T0 + timedelta(hours=1))
    assert results(found, [early, other], []) == []
