"""R18: a preview goes through the same timeline as a real enrollment given the same contact and
the same events at the same offsets. Each scenario runs twice: for real on the time-skipping
server (events sent as time skips to their offsets) and through the simulator from the real
enrollment's start; the timelines (kind, step), the status, the outcome and what was sent agree.

A new rule is tested here by adding a scenario: both drivers run it, so neither can have a rule
the other lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from api.preview import offset
from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, kinds, new_id, running_engine
from tests.support.send_fakes import Outbox
from workflows.events import ContactEvent
from workflows.messages import ContactSnapshot as Snapshot
from workflows.messages import (
    EnrollmentView,
)
from workflows.simulator import Previewed, simulate

BUY = {"event": "custom", "name": "buy"}
VIP_ADDED = {"event": "contact.tag_added", "tag": "vip"}
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment, outbox: Outbox) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env, activities=[outbox.send_sms, outbox.send_email]) as engine:
        yield engine


def goal(step_id: str, *criteria: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "goal", "any_of": list(criteria or [BUY]), **extra}


def wait(step_id: str, duration: str) -> dict[str, Any]:
    return {"id": step_id, "type": "wait", "duration": duration}


def tag(step_id: str, name: str) -> dict[str, Any]:
    return {"id": step_id, "type": "add_tag", "tag": name}


def email(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"}


def automation(*steps: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "fidelity", "settings": settings, "steps": list(steps)}


def closed_window(now: datetime) -> dict[str, Any]:
    """Every day, opening 3 hours from `now` (UTC), for an hour: a send now is held."""
    opens = now.astimezone(UTC) + timedelta(hours=3)
    return {
        "days": EVERY_DAY,
        "start": opens.strftime("%H:00"),
        "end": (opens + timedelta(hours=1)).strftime("%H:00"),
    }


@dataclass(frozen=True)
class Scenario:
    name: str
    # The definition, given the server's time (for send windows).
    definition: Callable[[datetime], dict[str, Any]]
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    contact: dict[str, Any] = field(default_factory=lambda: {"email": "ana@example.com"})


SCENARIOS = [
    Scenario(
        "goal met early cuts the wait short",
        lambda _: automation(wait("w", "P3D"), tag("skipped", "x"), goal("g"), email("after")),
        [("PT12H", "custom", {"name": "buy"})],
    ),
    Scenario(
        "goal unmet ends",
        lambda _: automation(
            wait("w", "P1D"), goal("g", if_unmet={"action": "end"}), tag("t", "x")
        ),
    ),
    Scenario(
        "goal unmet continues",
        lambda _: automation(wait("w", "PT6H"), goal("g"), email("after")),
        [("PT7H", "custom", {"name": "buy"})],
    ),
    Scenario(
        "goal unmet waits and is met",
        lambda _: automation(
            wait("w", "PT1H"),
            goal("g", if_unmet={"action": "wait", "timeout": "P2D", "on_timeout": "end"}),
            email("after"),
        ),
        [("P1D", "custom", {"name": "buy"})],
    ),
    Scenario(
        "goal unmet waits and times out",
        lambda _: automation(
            goal("g", if_unmet={"action": "wait", "timeout": "P2D", "on_timeout": "continue"}),
            tag("t", "x"),
        ),
        [("P1D", "custom", {"name": "other"})],
    ),
    Scenario(
        "passed goal is recorded and does not move",
        lambda _: automation(goal("g", jump_from="above"), wait("w", "P2D"), tag("t", "x")),
        [("PT1H", "custom", {"name": "buy"})],
    ),
    Scenario(
        "a send held by its window",
        lambda now: automation(email("hello"), send_window=closed_window(now), timezone="UTC"),
    ),
    Scenario(
        "a goal met while a send is held moves the contact",
        lambda now: automation(
            email("hello"), goal("g"), tag("t", "x"), send_window=closed_window(now), timezone="UTC"
        ),
        [("PT1H", "custom", {"name": "buy"})],
    ),
    Scenario(
        "if_else on a tag an event adds",
        lambda _: automation(
            wait("w", "P1D"),
            {"id": "b", "type": "if_else", "if": {"has_tag": "vip"}, "then": "yes", "else": "no"},
            email("yes"),
            {"id": "stop", "type": "end"},
            tag("no", "not-vip"),
        ),
        [("PT2H", "contact.tag_added", {"tag": "vip"})],
    ),
    Scenario(
        "a goal met by the enrollment's own tag",
        lambda _: automation(
            tag("t", "vip"), wait("w", "PT1H"), goal("g", VIP_ADDED, if_unmet={"action": "end"})
        ),
    ),
    Scenario(
        "one event meets two goals: the furthest down wins (R8)",
        lambda _: automation(
            wait("w", "P2D"), goal("g1"), tag("between", "x"), goal("g2"), email("after")
        ),
        [("PT3H", "custom", {"name": "buy"})],
    ),
    Scenario(
        "a passed goal with jump_from anywhere moves back (R4)",
        lambda _: automation(
            goal("g", jump_from="anywhere", on_met={"action": "goto", "step": "done"}),
            wait("w", "P2D"),
            tag("skipped", "x"),
            tag("done", "y"),
        ),
        [("P1D", "custom", {"name": "buy"})],
    ),
    Scenario(
        "on_met end completes with goal_met (R6)",
        lambda _: automation(
            wait("w", "P1D"), goal("g", on_met={"action": "end"}), tag("never", "x")
        ),
        [("PT30M", "custom", {"name": "buy"}), ("PT40M", "custom", {"name": "buy"})],
    ),
    Scenario(
        "if_else on a field the automation sets",
        lambda _: automation(
            {"id": "set", "type": "update_contact", "fields": {"plan": "pro"}},
            wait("w", "PT1H"),
            {
                "id": "b",
                "type": "if_else",
                "if": {"field": "plan", "equals": "pro"},
                "then": "yes",
                "else": "no",
            },
            email("yes"),
            {"id": "stop", "type": "end"},
            tag("no", "x"),
        ),
    ),
    Scenario(
        "a wait until a time of day in the contact's own time zone",
        lambda _: automation(
            {"id": "w", "type": "wait", "until_time": "09:00"}, email("morning"), timezone="UTC"
        ),
        [],
        {"email": "ana@example.com", "fields": {"timezone": "Asia/Tokyo"}},
    ),
    Scenario(
        "a split sends the contact down its path",
        lambda _: automation(
            {
                "id": "s",
                "type": "split",
                "paths": [
                    {"id": "a", "weight": 50, "next": "pa"},
                    {"id": "b", "weight": 50, "next": "pb"},
                ],
            },
            email("pa"),
            {"id": "stop", "type": "end"},
            tag("pb", "b"),
        ),
    ),
    Scenario(
        "an unsubscribed contact's email is skipped",
        lambda _: automation(wait("w", "PT1H"), email("hello"), tag("t", "x")),
        [("PT10M", "email.unsubscribed", {})],
    ),
]


async def run_for_real(
    engine: WorkflowDriver,
    ts_env: WorkflowEnvironment,
    scenario: Scenario,
    definition: dict[str, Any],
) -> tuple[str, EnrollmentView, datetime]:
    contact_id = new_id()
    enrolled = await engine.enroll(definition, contact_id, contact=scenario.contact)
    start = (await engine.view(enrolled.enrollment_id)).timeline[0].at
    for i, (after, event_type, data) in enumerate(scenario.events):
        remaining = start + offset(after) - await ts_env.get_current_time()
        if remaining > timedelta(0):
            await ts_env.sleep(remaining)
        await engine.send(contact_id, event_type, data, id=f"e-{i}")
    return contact_id, await engine.result(enrolled.enrollment_id), start


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_r18_preview_goes_through_the_real_timeline(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment, scenario: Scenario
) -> None:
    definition = scenario.definition(await ts_env.get_current_time())
    contact_id, real, start = await run_for_real(engine, ts_env, scenario, definition)

    parsed, _ = parse_automation(definition)
    events = [
        Previewed(
            start + offset(after),
            ContactEvent(id=f"e-{i}", contact_id=contact_id, type=event_type, data=data),
        )
        for i, (after, event_type, data) in enumerate(scenario.events)
    ]
    preview = simulate(
        automation_id="auto",
        version=1,
        automation=parsed,
        contact=Snapshot(id=contact_id, **scenario.contact),
        start=start,
        horizon=start + timedelta(days=365),
        events=events,
    )
    assert kinds(preview.view) == kinds(real)
    assert (preview.view.status, preview.view.outcome) == (real.status, real.outcome)
    assert [send.step_id for send in preview.sends] == outbox.sent
    assert [g.met for g in preview.view.goals] == [g.met for g in real.goals]
    assert preview.ends_at is not None
