"""Splits and holdouts run by real enrollments on the time-skipping server: the path taken
and kept on re-entry, and a held-out enrollment that runs nothing, records its goals and ends
when its window does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, kinds, new_id, running_engine
from workflows.definition import Holdout, SplitStep
from workflows.experiments import is_held_out, split_path

BUY = {"event": "custom", "name": "buy"}
SPLIT = {
    "id": "ab",
    "type": "split",
    "paths": [
        {"id": "a", "weight": 50, "next": "tag-a"},
        {"id": "b", "weight": 50, "next": "tag-b"},
    ],
}
SPLIT_AUTOMATION = {
    "name": "split",
    "settings": {"allow_reentry": True},
    "steps": [
        SPLIT,
        {"id": "tag-a", "type": "add_tag", "tag": "got-a"},
        {"id": "end-a", "type": "end"},
        {"id": "tag-b", "type": "add_tag", "tag": "got-b"},
    ],
}
HOLDOUT = {"percent": 20, "window": "P3D"}
HOLDOUT_DAYS = timedelta(days=3)
HOLDOUT_AUTOMATION = {
    "name": "holdout",
    "settings": {"holdout": HOLDOUT},
    "steps": [
        {"id": "treat", "type": "add_tag", "tag": "treated"},
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "bought", "type": "goal", "any_of": [BUY], "jump_from": "anywhere"},
    ],
}


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env) as engine:
        yield engine


def contact_where(check: Callable[[str], bool]) -> str:
    """A fresh contact id for which `check` holds (ids are random, the check is not)."""
    return next(c for c in (new_id() for _ in range(10_000)) if check(c))


@pytest.mark.parametrize("path", ["a", "b"])
async def test_a_contact_takes_its_path_and_the_same_one_on_re_entry(
    engine: WorkflowDriver, path: str
) -> None:
    step = SplitStep.model_validate(SPLIT)
    contact = contact_where(lambda c: split_path("auto", c, step).id == path)
    for _ in range(2):
        enrolled = await engine.enroll(SPLIT_AUTOMATION, contact)
        final = await engine.result(enrolled.enrollment_id)
        assert final.status == "completed"
        split_done = next(e for e in final.timeline if e.kind == "step_completed")
        assert (split_done.step_id, split_done.detail) == (
            "ab",
            {"path": path, "next": f"tag-{path}"},
        )
        started = [step_id for kind, step_id in kinds(final) if kind == "step_started"]
        assert started == (["ab", "tag-a", "end-a"] if path == "a" else ["ab", "tag-b"])
    profile = await engine.contact(contact)
    assert profile.tags == [f"got-{path}"]


async def test_a_held_out_enrollment_runs_nothing_and_ends_as_holdout(
    engine: WorkflowDriver,
) -> None:
    contact = contact_where(lambda c: is_held_out("auto", c, Holdout.model_validate(HOLDOUT)))
    enrolled = await engine.enroll(HOLDOUT_AUTOMATION, contact)
    waiting = await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    assert waiting.holdout is True and waiting.current_step is None
    await engine.send(contact, "custom", {"name": "buy"}, id="buy-1")
    await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)

    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome, final.holdout) == ("completed", "holdout", True)
    assert kinds(final) == [
        ("entered", None),
        ("waiting", None),
        ("goal_met", "bought"),
        ("ended", None),
    ]
    assert final.goals[0].event_id == "buy-1"
    assert final.timeline[1].detail["holdout"] is True
    # Three days after it entered, the window's end, not before.
    assert final.timeline[-1].at - final.timeline[0].at >= HOLDOUT_DAYS
    assert (await engine.contact(contact)).tags == []  # its add_tag step never ran


async def test_a_treated_enrollment_of_the_same_automation_runs_its_steps(
    engine: WorkflowDriver,
) -> None:
    contact = contact_where(lambda c: not is_held_out("auto", c, Holdout.model_validate(HOLDOUT)))
    enrolled = await engine.enroll(HOLDOUT_AUTOMATION, contact)
    await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "w")
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome, final.holdout) == ("completed", "completed", False)
    assert (await engine.contact(contact)).tags == ["treated"]
