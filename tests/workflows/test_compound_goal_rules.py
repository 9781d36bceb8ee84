"""R21, compound goals, sentence by sentence, at the workflow level on the time-skipping server:
the contact workflow accepts each event (its time, its id) and hands it to the enrollment, which
counts it toward `all_of`, `sequence` and `min_count` goals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, new_id, running_engine
from tests.unit.test_compound_goals import Scenario, criterion, reference, scenarios
from workflows.messages import EnrollmentView

A = {"event": "custom", "name": "a"}
B = {"event": "custom", "name": "b"}
C = {"event": "custom", "name": "c"}


def automation(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "compound", "steps": list(steps)}


def goal(**extra: Any) -> dict[str, Any]:
    return {"id": "g", "type": "goal", "on_met": {"action": "end"}, **extra}


WAIT = {"id": "w", "type": "wait", "duration": "P1D"}
HOLD = {"id": "hold", "type": "wait", "duration": "P3D"}


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment) -> Any:
    async with running_engine(ts_env) as engine:
        yield engine


def criteria(view: EnrollmentView) -> list[tuple[bool, int]]:
    return [(c.matched, c.count) for c in view.goals[0].criteria]


async def counted(
    engine: WorkflowDriver, enrollment_id: str, expected: list[tuple[bool, int]]
) -> EnrollmentView:
    return await engine.until(enrollment_id, lambda v: criteria(v) == expected)


async def test_all_of_is_met_in_any_order_by_the_last_event_needed_above_the_contact(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment
) -> None:
    contact = new_id()
    held = goal(all_of=[A, B, C], if_unmet={"action": "end"})
    enrolled = await engine.enroll(automation(WAIT, held), contact)
    await engine.send(contact, "custom", {"name": "c"}, id="e-c")
    await engine.send(contact, "custom", {"name": "a"}, id="e-a")
    view = await counted(engine, enrolled.enrollment_id, [(True, 1), (False, 0), (True, 1)])
    assert view.goals[0].met is False and view.current_step == "w"
    await ts_env.sleep(timedelta(hours=2))
    await engine.send(contact, "custom", {"name": "b"}, id="e-b")
    final = await engine.result(enrolled.enrollment_id)
    # Met while the contact was above it (R3): the day's wait was cut short.
    assert (final.status, final.outcome) == ("completed", "goal_met")
    assert final.goals[0].event_id == "e-b"
    # R9: met_at is the last needed event's, two hours after the others.
    entered = final.timeline[0].at
    met_at = final.goals[0].met_at
    assert met_at is not None and timedelta(hours=2) <= met_at - entered < timedelta(hours=3)
    waited = [e.detail for e in final.timeline if e.kind == "step_completed" and e.step_id == "w"]
    assert waited == [{"cut_short": True}]
    assert criteria(final) == [(True, 1), (True, 1), (True, 1)]


async def test_sequence_counts_events_only_in_the_listed_order(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(WAIT, goal(sequence=[A, B], if_unmet={"action": "end"})), contact
    )
    await engine.send(contact, "custom", {"name": "b"}, id="b-1")
    await engine.send(contact, "custom", {"name": "a"}, id="a-1")
    await counted(engine, enrolled.enrollment_id, [(True, 1), (False, 0)])
    await engine.send(contact, "custom", {"name": "b"}, id="b-2")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "b-2" and final.outcome == "goal_met"


async def test_within_drops_a_first_match_that_ran_out_and_the_next_one_counts(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment
) -> None:
    contact = new_id()
    windowed = goal(
        sequence=[A, B],
        within="PT2H",
        if_unmet={"action": "wait", "timeout": "P2D", "on_timeout": "end"},
    )
    enrolled = await engine.enroll(automation(windowed), contact)
    await engine.send(contact, "custom", {"name": "a"}, id="a-1")
    await counted(engine, enrolled.enrollment_id, [(True, 1), (False, 0)])
    await ts_env.sleep(timedelta(hours=3))
    await engine.send(contact, "custom", {"name": "b"}, id="b-1")
    # Three hours after the only first match: it ran out, nothing is counted.
    view = await counted(engine, enrolled.enrollment_id, [(False, 0), (False, 0)])
    assert view.goals[0].met is False
    await engine.send(contact, "custom", {"name": "a"}, id="a-2")
    await ts_env.sleep(timedelta(hours=1))
    await engine.send(contact, "custom", {"name": "b"}, id="b-2")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "b-2" and final.outcome == "goal_met"


async def test_a_duplicate_event_counts_once_toward_min_count(engine: WorkflowDriver) -> None:
    contact = new_id()
    opened = {**A, "min_count": 2}
    enrolled = await engine.enroll(
        automation(WAIT, goal(any_of=[opened], if_unmet={"action": "end"})), contact
    )
    await engine.send(contact, "custom", {"name": "a"}, id="a-1")
    await engine.send(contact, "custom", {"name": "a"}, id="a-1")  # the same event again
    await engine.send(contact, "custom", {"name": "other"}, id="x-1")
    await counted(engine, enrolled.enrollment_id, [(False, 1)])
    await engine.send(contact, "custom", {"name": "a"}, id="a-2")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "a-2" and criteria(final) == [(True, 2)]


async def test_look_back_events_count_first(engine: WorkflowDriver) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "a"}, id="a-before")
    back = {**A, "lookback": "P1D"}
    enrolled = await engine.enroll(
        automation(WAIT, goal(sequence=[back, B], if_unmet={"action": "end"})), contact
    )
    await counted(engine, enrolled.enrollment_id, [(True, 1), (False, 0)])
    await engine.send(contact, "custom", {"name": "b"}, id="b-1")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "b-1" and final.outcome == "goal_met"


@pytest.mark.parametrize(("jump_from", "moves"), [("anywhere", True), ("above", False)])
async def test_a_compound_goal_met_below_the_contact_follows_jump_from(
    engine: WorkflowDriver, jump_from: str, moves: bool
) -> None:
    contact = new_id()
    passed = goal(all_of=[A, B], jump_from=jump_from, if_unmet={"action": "continue"})
    enrolled = await engine.enroll(automation(passed, HOLD), contact)
    await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "hold")
    await engine.send(contact, "custom", {"name": "a"}, id="a-1")
    await engine.send(contact, "custom", {"name": "b"}, id="b-1")
    if moves:  # R4: back to the goal, met, on_met ends it
        final = await engine.result(enrolled.enrollment_id)
        assert final.outcome == "goal_met" and final.goals[0].event_id == "b-1"
        return
    view = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    assert view.current_step == "hold" and view.goals[0].event_id == "b-1"
    recorded = [e.detail for e in view.timeline if e.kind == "goal_met"]
    assert recorded == [{"event_id": "b-1", "event_type": "custom", "moves": False}]
    final = await engine.result(enrolled.enrollment_id)
    assert final.outcome == "completed"


async def test_the_details_line_counts_a_held_contact_toward_its_goal(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    held = goal(all_of=[A, B, C], if_unmet={"action": "wait"})
    enrolled = await engine.enroll(automation(held), contact)
    handle = engine.client.get_workflow_handle(enrolled.enrollment_id)

    async def details() -> str:
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        return metadata.current_details

    await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    assert (await details()).endswith("waiting for goal g: 0 of 3")
    await engine.send(contact, "custom", {"name": "b"}, id="b-1")
    await engine.send(contact, "custom", {"name": "c"}, id="c-1")
    await counted(engine, enrolled.enrollment_id, [(False, 0), (True, 1), (True, 1)])
    assert (await details()).endswith("waiting for goal g: 2 of 3")


# --- the property, on the workflows: their verdict equals the rule's reference ----------------

SENTINEL = {
    "id": "sentinel",
    "type": "goal",
    "any_of": [{"event": "custom", "name": "sentinel"}],
    "if_unmet": {"action": "continue"},
}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
async def test_the_workflows_meet_a_goal_where_the_reference_does(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment, scenario: Scenario
) -> None:
    kind, needed, within, events = scenario
    compound = goal(
        **{
            kind: [
                criterion(i, **({"min_count": n} if n > 1 else {})) for i, n in enumerate(needed)
            ]
        }
    )
    compound |= {"if_unmet": {"action": "continue"}, "on_met": {"action": "continue"}}
    if within is not None:
        # Half an hour more than the reference's whole hours: events here are accepted at the
        # workflow's clock, which also advances by the milliseconds between two sends, so an
        # event exactly `within` after the first would fall just outside; no gap is in between.
        compound["within"] = f"PT{within}H30M"
    contact = new_id()
    steps = (SENTINEL, {"id": "w", "type": "wait", "duration": "P60D"}, compound, HOLD)
    enrolled = await engine.enroll(automation(*steps), contact)
    previous = 0
    for n, (hours, matches) in enumerate(events):
        if hours > previous:
            await ts_env.sleep(timedelta(hours=hours - previous))
            previous = hours
        await engine.send(contact, "custom", {f"c{i}": True for i in matches}, id=f"e-{n}")
    # Events reach the enrollment in acceptance order: once the last one is recorded, all are.
    await engine.send(contact, "custom", {"name": "sentinel"}, id="last")
    view = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    expected = reference(kind, needed, within, events)
    status = view.goals[1]
    assert (status.event_id if status.met else None) == (
        None if expected is None else f"e-{expected}"
    )
