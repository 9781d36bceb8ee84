"""R19 at the workflow level, on the time-skipping server: an enrollment moved to another version
through its `migrate` update. An unchanged wait keeps its deadline, a changed one restarts; an
action in flight finishes first; met goals are carried by step id; unmapped steps stay or end;
a refused move never reaches the history. (An enrollment that has ended is skipped by the
migration job: tests/api/test_migrations.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, kinds, new_id, running_engine
from workflows.messages import SEND_WEBHOOK, EnrollmentView, WebhookRequest, WebhookResult
from workflows.migration import (
    MIGRATION_REFUSED,
    UPDATE_MIGRATE,
    MoveRequest,
    MoveResult,
    Unmapped,
    full_step_map,
)

BUY = {"event": "custom", "name": "buy"}


class Gate:
    """A fake webhook that holds each call until the test opens the gate."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.open = asyncio.Event()

    @activity.defn(name=SEND_WEBHOOK)
    async def send_webhook(self, request: WebhookRequest) -> WebhookResult:
        self.calls.append(request.context.step_id)
        self.started.set()
        await self.open.wait()
        return WebhookResult(status_code=200, webhook_id="w")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment, gate: Gate) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env, activities=[gate.send_webhook]) as engine:
        yield engine


def automation(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"name": "migrating", "steps": list(steps)}


def wait(step_id: str, duration: str) -> dict[str, Any]:
    return {"id": step_id, "type": "wait", "duration": duration}


def tag(step_id: str, name: str) -> dict[str, Any]:
    return {"id": step_id, "type": "add_tag", "tag": name}


async def migrate(
    engine: WorkflowDriver,
    enrollment_id: str,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    step_map: dict[str, str] | None = None,
    unmapped: Unmapped = "stay",
) -> MoveResult:
    old_definition, _ = parse_automation(old)
    new_definition, _ = parse_automation(new)
    request = MoveRequest(
        migration_id="m-1",
        from_version=1,
        to_version=2,
        automation=new_definition,
        step_map=full_step_map(old_definition, new_definition, step_map or {}),
        unmapped=unmapped,
    )
    handle = engine.client.get_workflow_handle(enrollment_id)
    result: MoveResult = await handle.execute_update(
        UPDATE_MIGRATE, request, result_type=MoveResult
    )
    return result


def migrated(view: EnrollmentView) -> list[dict[str, Any]]:
    return [entry.detail for entry in view.timeline if entry.kind == "migrated"]


def paused(view: EnrollmentView) -> bool:
    return view.waiting is not None


async def test_unchanged_wait_keeps_its_deadline(engine: WorkflowDriver) -> None:
    old = automation(wait("w", "P3D"), tag("t", "old"))
    new = automation(wait("w", "P3D"), tag("t2", "new"))
    enrolled = await engine.enroll(old, new_id())
    before = await engine.until(enrolled.enrollment_id, paused)
    result = await migrate(engine, enrolled.enrollment_id, old, new)
    assert (result.outcome, result.from_step, result.to_step) == ("moved", "w", "w")
    after = await engine.until(enrolled.enrollment_id, lambda v: v.version == 2 and paused(v))
    assert before.waiting is not None and after.waiting is not None
    assert after.waiting.until == before.waiting.until
    assert migrated(after) == [
        {"from_version": 1, "to_version": 2, "from_step": "w", "to_step": "w"}
    ]
    final = await engine.result(enrolled.enrollment_id)
    assert final.version == 2 and final.status == "completed"
    # The wait was not started again, and the steps after it are the new version's.
    assert kinds(final).count(("step_started", "w")) == 1
    assert ("step_completed", "t2") in kinds(final)
    assert ("step_completed", "t") not in kinds(final)


async def test_changed_wait_starts_afresh(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment
) -> None:
    old = automation(wait("w", "P3D"), tag("t", "old"))
    new = automation(wait("w", "P5D"), tag("t", "old"))
    enrolled = await engine.enroll(old, new_id())
    before = await engine.until(enrolled.enrollment_id, paused)
    now = await ts_env.get_current_time()
    result = await migrate(engine, enrolled.enrollment_id, old, new)
    assert result.outcome == "moved"
    after = await engine.until(enrolled.enrollment_id, lambda v: v.version == 2 and paused(v))
    assert before.waiting is not None and after.waiting is not None
    assert after.waiting.until is not None and before.waiting.until is not None
    assert after.waiting.until > before.waiting.until
    assert after.waiting.until >= now + timedelta(days=5)
    order = kinds(after)
    assert order.index(("migrated", "w")) < len(order) - 2
    assert order[-2:] == [("step_started", "w"), ("waiting", "w")]


async def test_action_in_flight_finishes_first(engine: WorkflowDriver, gate: Gate) -> None:
    hook = {"id": "hook", "type": "webhook", "url": "https://example.com/h"}
    old = automation(hook, wait("b", "P1D"))
    new = automation(hook, tag("inserted", "never"), wait("b", "P1D"))
    enrolled = await engine.enroll(old, new_id())
    await asyncio.wait_for(gate.started.wait(), 20)
    moving = asyncio.create_task(migrate(engine, enrolled.enrollment_id, old, new))
    await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "hook")
    gate.open.set()
    result = await moving
    # The move follows the action: from the step it was about to start.
    assert (result.outcome, result.from_step, result.to_step) == ("moved", "b", "b")
    after = await engine.until(enrolled.enrollment_id, lambda v: v.version == 2 and paused(v))
    order = kinds(after)
    assert order.index(("step_completed", "hook")) < order.index(("migrated", "b"))
    assert ("step_started", "inserted") not in order  # steps before the mapped one: not run
    assert after.current_step == "b"
    assert gate.calls == ["hook"]


async def test_met_goals_are_carried_by_step_id(engine: WorkflowDriver) -> None:
    contact = new_id()
    goal = {"id": "g", "type": "goal", "any_of": [BUY], "if_unmet": {"action": "continue"}}
    other = {"id": "g2", "type": "goal", "any_of": [BUY], "if_unmet": {"action": "continue"}}
    old = automation(goal, wait("w", "P3D"))
    new = automation(goal, other, wait("w", "P3D"))
    enrolled = await engine.enroll(old, contact)
    await engine.until(enrolled.enrollment_id, paused)
    await engine.send(contact, "custom", {"name": "buy"})
    before = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    await migrate(engine, enrolled.enrollment_id, old, new)
    after = await engine.until(enrolled.enrollment_id, lambda v: v.version == 2)
    goals = {g.step_id: g for g in after.goals}
    assert goals["g"] == before.goals[0]
    assert goals["g2"].met is False


async def test_unmapped_stays(engine: WorkflowDriver) -> None:
    old = automation(wait("w", "P3D"), tag("t", "old"))
    new = automation(wait("v", "P1D"), tag("t", "old"))
    enrolled = await engine.enroll(old, new_id())
    before = await engine.until(enrolled.enrollment_id, paused)
    result = await migrate(engine, enrolled.enrollment_id, old, new)
    assert (result.outcome, result.from_step) == ("stayed", "w")
    view = await engine.view(enrolled.enrollment_id)
    assert view.version == 1 and view.waiting == before.waiting and migrated(view) == []
    final = await engine.result(enrolled.enrollment_id)
    assert final.status == "completed" and ("step_completed", "t") in kinds(final)


async def test_unmapped_ends(engine: WorkflowDriver) -> None:
    old = automation(wait("w", "P3D"), tag("t", "old"))
    new = automation(wait("v", "P1D"), tag("t", "old"))
    enrolled = await engine.enroll(old, new_id())
    await engine.until(enrolled.enrollment_id, paused)
    result = await migrate(engine, enrolled.enrollment_id, old, new, unmapped="end")
    assert (result.outcome, result.from_step) == ("ended", "w")
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome) == ("exited", "migrated_out")
    assert ("step_completed", "t") not in kinds(final)


async def test_explicit_map_and_asking_again_moves_once(engine: WorkflowDriver) -> None:
    old = automation(wait("w", "P3D"), tag("t", "old"))
    new = automation(wait("v", "P1D"), tag("t", "old"))
    enrolled = await engine.enroll(old, new_id())
    await engine.until(enrolled.enrollment_id, paused)
    first = await migrate(engine, enrolled.enrollment_id, old, new, step_map={"w": "v"})
    again = await migrate(engine, enrolled.enrollment_id, old, new, step_map={"w": "v"})
    assert first == again == MoveResult(outcome="moved", from_step="w", to_step="v")
    final = await engine.result(enrolled.enrollment_id)
    assert len(migrated(final)) == 1 and final.current_step == "t"


async def test_refused_move_never_reaches_history(engine: WorkflowDriver) -> None:
    old = automation(wait("w", "P3D"))
    enrolled = await engine.enroll(old, new_id(), version=3)
    await engine.until(enrolled.enrollment_id, paused)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await migrate(engine, enrolled.enrollment_id, old, old)
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == MIGRATION_REFUSED
    history = await engine.client.get_workflow_handle(enrolled.enrollment_id).fetch_history()
    types = {event.event_type for event in history.events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in types
