"""The goal rules R1–R13 of docs/automations.md, one test per rule, at the workflow level.

Most run on the time-skipping server: days of waiting pass in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, kinds, new_id, running_engine
from workflows.messages import REENTRY_REFUSED, EnrollmentView

BUY = {"event": "custom", "name": "buy"}
CONFIRMED = {"event": "appointment.status_changed", "status": ["confirmed"]}


def goal(step_id: str, *criteria: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "goal", "any_of": list(criteria or [BUY]), **extra}


def wait(step_id: str, duration: str = "P1D") -> dict[str, Any]:
    return {"id": step_id, "type": "wait", "duration": duration}


def tag(step_id: str, name: str) -> dict[str, Any]:
    return {"id": step_id, "type": "add_tag", "tag": name}


def automation(*steps: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "test", "settings": settings, "steps": list(steps)}


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment) -> Any:
    async with running_engine(ts_env) as engine:
        yield engine


def waiting_at(step_id: str) -> Callable[[EnrollmentView], bool]:
    return lambda v: v.current_step == step_id and v.waiting is not None


def completed_steps(view: Any) -> list[str]:
    return [e.step_id for e in view.timeline if e.kind == "step_completed"]


async def test_r1_listening_events_before_enrollment_are_not_seen(engine: WorkflowDriver) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "buy"})
    enrolled = await engine.enroll(
        automation(wait("w", "PT1H"), goal("g", if_unmet={"action": "end"})), contact
    )
    final = await engine.result(enrolled.enrollment_id)
    assert final.status == "exited"
    assert final.outcome == "goal_unmet"
    assert final.goals[0].met is False


async def test_r1_listening_events_after_enrollment_are_seen_in_order(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(wait("w", "P1D"), goal("g", {"event": "custom"}, if_unmet={"action": "end"})),
        contact,
    )
    first = await engine.send(contact, "custom", {"name": "one"}, id="e-1")
    await engine.send(contact, "custom", {"name": "two"}, id="e-2")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == first.event_id
    met = [e.detail["event_id"] for e in final.timeline if e.kind == "goal_met"]
    assert met == ["e-1"]  # the second event arrives after the enrollment completed at the goal


async def test_r3_early_goal_cuts_wait_short(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment
) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(wait("w1", "P3D"), tag("skipped", "never"), goal("g"), tag("after", "done")),
        contact,
    )
    await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    before = await ts_env.get_current_time()
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert final.status == "completed"
    assert ("moved", "g") in kinds(final)
    assert "skipped" not in completed_steps(final)
    assert completed_steps(final)[-1] == "after"
    # The move happened long before the 3-day wait would have ended.
    moved_at = next(e.at for e in final.timeline if e.kind == "moved")
    assert moved_at - before < timedelta(hours=1)
    assert final.goals[0].met and final.goals[0].met_at is not None


async def test_r4_passed_goal_jump_from_above_records_and_stays(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", jump_from="above"), wait("w", "P2D"), tag("t", "x")), contact
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    await engine.send(contact, "custom", {"name": "buy"})
    view = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    assert view.current_step == "w"
    final = await engine.result(enrolled.enrollment_id)
    assert "moved" not in [k for k, _ in kinds(final)]
    met = next(e for e in final.timeline if e.kind == "goal_met")
    assert met.detail["moves"] is False
    assert completed_steps(final).count("w") == 1


async def test_r4_passed_goal_jump_from_anywhere_moves_back(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("g", jump_from="anywhere", on_met={"action": "goto", "step": "t"}),
            wait("w", "P2D"),
            {"id": "e", "type": "end"},
            tag("t", "x"),
        ),
        contact,
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert ("moved", "g") in kinds(final)
    assert completed_steps(final)[-1] == "t"
    assert final.outcome == "completed"


async def test_r5_arrival_met_already_runs_on_met(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("early", {"event": "custom", "name": "other"}, if_unmet={"action": "continue"}),
            wait("w", "P1D"),
            goal("g", jump_from="anywhere", on_met={"action": "end"}),
        ),
        contact,
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    # Met while above g: the contact moves to g at once and on_met ends it.
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert final.outcome == "goal_met"


async def test_r5_arrival_unmet_runs_if_unmet(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "continue"}), tag("next", "n")), contact
    )
    final = await engine.result(enrolled.enrollment_id)
    assert ("goal_unmet", "g") in kinds(final)
    assert completed_steps(final) == ["next"]


async def test_r5_arrival_in_order_after_goal_was_met_from_below(engine: WorkflowDriver) -> None:
    """Met while passed (jump_from above), then reached again in order via a goto: on_met."""
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("g", if_unmet={"action": "continue"}, on_met={"action": "end"}),
            wait("w1", "P1D"),
            goal(
                "loop",
                {"event": "custom", "name": "again"},
                on_met={"action": "goto", "step": "g"},
                if_unmet={"action": "end"},
            ),
        ),
        contact,
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w1"))
    await engine.send(contact, "custom", {"name": "buy"})  # passed: recorded only
    await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    await engine.send(contact, "custom", {"name": "again"})  # moves to loop → goto g
    final = await engine.result(enrolled.enrollment_id)
    assert final.outcome == "goal_met"


async def test_r6_on_met_continue(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(wait("w", "P1D"), goal("g", on_met={"action": "continue"}), tag("n", "n")),
        contact,
    )
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert completed_steps(final)[-2:] == ["g", "n"]
    assert final.status == "completed"


async def test_r6_on_met_continue_with_no_step_after_completes(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(automation(wait("w", "P1D"), goal("g")), contact)
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome) == ("completed", "completed")


async def test_r6_on_met_goto(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            wait("w", "P1D"),
            goal("g", on_met={"action": "goto", "step": "target"}),
            tag("skipped", "s"),
            tag("target", "t"),
        ),
        contact,
    )
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert "skipped" not in completed_steps(final)
    assert completed_steps(final)[-1] == "target"


async def test_r6_on_met_end(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(wait("w", "P1D"), goal("g", on_met={"action": "end"}), tag("never", "n")),
        contact,
    )
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome) == ("completed", "goal_met")
    assert "never" not in completed_steps(final)


async def test_r7_if_unmet_end(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "end"}), tag("never", "n")), contact
    )
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome) == ("exited", "goal_unmet")
    assert ("goal_unmet", "g") in kinds(final)


async def test_r7_if_unmet_continue(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "continue"}), tag("next", "n")), contact
    )
    final = await engine.result(enrolled.enrollment_id)
    assert final.status == "completed"
    assert completed_steps(final) == ["next"]


async def test_r7_if_unmet_wait_until_met(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "wait"}), tag("next", "n")), contact
    )
    view = await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    assert view.waiting is not None and view.waiting.kind == "goal"
    assert view.waiting.goal == "g"
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert completed_steps(final)[-1] == "next"
    assert "moved" not in [k for k, _ in kinds(final)]


async def test_r7_if_unmet_wait_times_out_after_14_days(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("g", if_unmet={"action": "wait", "timeout": "P14D", "on_timeout": "end"}),
            tag("never", "n"),
        ),
        contact,
    )
    final = await engine.result(enrolled.enrollment_id)  # 14 days, skipped
    assert (final.status, final.outcome) == ("exited", "goal_unmet")
    waiting = next(e for e in final.timeline if e.kind == "waiting")
    timed_out = next(e for e in final.timeline if e.kind == "timed_out")
    assert timed_out.at - waiting.at >= timedelta(days=14)


async def test_r7_if_unmet_wait_timeout_continue(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("g", if_unmet={"action": "wait", "timeout": "P14D", "on_timeout": "continue"}),
            tag("next", "n"),
        ),
        contact,
    )
    final = await engine.result(enrolled.enrollment_id)
    assert ("timed_out", "g") in kinds(final)
    assert completed_steps(final) == ["next"]
    assert final.status == "completed"


async def test_r8_one_event_meets_several_goals_moves_to_furthest(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            wait("w", "P1D"),
            goal("g1", on_met={"action": "end"}),
            tag("between", "b"),
            goal("g2", {"event": "custom"}),
            tag("after", "a"),
        ),
        contact,
    )
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert [g.met for g in final.goals] == [True, True]
    assert ("moved", "g2") in kinds(final)
    assert completed_steps(final)[-1] == "after"
    assert "between" not in completed_steps(final)


async def test_r9_first_match_wins(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            goal("early", {"event": "custom", "name": "never"}, if_unmet={"action": "continue"}),
            wait("w", "P1D"),
            goal("g", if_unmet={"action": "wait"}),
        ),
        contact,
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    # jump_from above and the contact is above g: the first event moves it and meets it.
    first = await engine.send(contact, "custom", {"name": "buy"}, id="first")
    final = await engine.result(enrolled.enrollment_id)
    status = next(g for g in final.goals if g.step_id == "g")
    assert status.event_id == first.event_id == "first"
    assert status.met_at is not None


async def test_r9_first_match_wins_when_met_twice(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "continue"}), wait("w", "P1D")), contact
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    await engine.send(contact, "custom", {"name": "buy"}, id="one")
    first = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    await engine.send(contact, "custom", {"name": "buy"}, id="two")
    view = await engine.until(
        enrolled.enrollment_id, lambda v: len([e for e in v.timeline if e.kind == "goal_met"]) == 2
    )
    assert view.goals[0].event_id == "one"
    assert view.goals[0].met_at == first.goals[0].met_at


async def test_r10_duplicate_event_ids_are_applied_once(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(
        automation(goal("g", if_unmet={"action": "continue"}), wait("w", "P1D")), contact
    )
    await engine.until(enrolled.enrollment_id, waiting_at("w"))
    receipts = [await engine.send(contact, "custom", {"name": "buy"}, id="same") for _ in range(3)]
    assert [r.duplicate for r in receipts] == [False, True, True]
    await engine.send(contact, "custom", {"name": "marker"}, id="marker")
    view = await engine.until(enrolled.enrollment_id, lambda v: v.goals[0].met)
    assert [e.kind for e in view.timeline].count("goal_met") == 1
    contact_view = await engine.contact(contact)
    assert contact_view.active_enrollments[0].enrollment_id == enrolled.enrollment_id


async def test_r11_cancel_ends_at_once(engine: WorkflowDriver) -> None:
    contact = new_id()
    enrolled = await engine.enroll(automation(wait("w", "P30D"), tag("never", "n")), contact)
    await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    await engine.client.get_workflow_handle(enrolled.enrollment_id).cancel()
    final = await engine.result(enrolled.enrollment_id)
    assert (final.status, final.outcome) == ("cancelled", "cancelled")
    assert "never" not in completed_steps(final)
    contact_view = await engine.contact(contact)
    assert contact_view.tags == []
    assert contact_view.active_enrollments == []


async def test_r12_running_enrollment_keeps_its_version(engine: WorkflowDriver) -> None:
    contact, other = new_id(), new_id()
    v1 = automation(wait("w", "P1D"), tag("v1-step", "v1"))
    v2 = automation(wait("w", "P1D"), tag("v2-step", "v2"))
    first = await engine.enroll(v1, contact, version=1)
    second = await engine.enroll(v2, other, version=2)
    assert (await engine.result(first.enrollment_id)).version == 1
    assert completed_steps(await engine.result(first.enrollment_id))[-1] == "v1-step"
    assert completed_steps(await engine.result(second.enrollment_id))[-1] == "v2-step"
    assert (await engine.contact(contact)).tags == ["v1"]


async def test_r13_reentry_refused_and_allowed(engine: WorkflowDriver) -> None:
    contact = new_id()
    once = automation(tag("t", "x"))
    first = await engine.enroll(once, contact)
    await engine.result(first.enrollment_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await engine.enroll(once, contact)
    assert isinstance(refused.value.cause, ApplicationError)
    assert refused.value.cause.type == REENTRY_REFUSED
    again = automation(tag("t", "x"), allow_reentry=True)
    second = await engine.enroll(again, contact, automation_id="other")
    await engine.result(second.enrollment_id)
    third = await engine.enroll(again, contact, automation_id="other")
    assert third.created and third.enrollment_id != second.enrollment_id


async def test_r13_enrolling_while_active_returns_the_active_one(engine: WorkflowDriver) -> None:
    contact = new_id()
    first = await engine.enroll(automation(wait("w", "P1D")), contact)
    again = await engine.enroll(automation(wait("w", "P1D")), contact)
    assert again.enrollment_id == first.enrollment_id
    assert (first.created, again.created) == (True, False)


async def test_tag_added_by_one_automation_meets_a_goal_in_another(engine: WorkflowDriver) -> None:
    contact = new_id()
    waiting = await engine.enroll(
        automation(
            goal(
                "tagged", {"event": "contact.tag_added", "tag": "vip"}, if_unmet={"action": "wait"}
            ),
            tag("after", "done"),
        ),
        contact,
        automation_id="listener",
    )
    await engine.until(waiting.enrollment_id, lambda v: v.waiting is not None)
    tagger = await engine.enroll(
        automation(tag("make-vip", "vip")), contact, automation_id="tagger"
    )
    await engine.result(tagger.enrollment_id)
    final = await engine.result(waiting.enrollment_id)
    assert final.goals[0].met
    assert completed_steps(final)[-1] == "after"
    assert set((await engine.contact(contact)).tags) == {"vip", "done"}


async def test_if_else_branches_on_tags_and_fields(engine: WorkflowDriver) -> None:
    definition = automation(
        {
            "id": "check",
            "type": "if_else",
            "if": {"all": [{"has_tag": "vip"}, {"field": "score", "gte": 10}]},
            "then": "yes",
            "else": "no",
        },
        tag("yes", "went-yes"),
        {"id": "stop", "type": "end"},
        tag("no", "went-no"),
    )
    vip, plain = new_id(), new_id()
    a = await engine.enroll(definition, vip, contact={"tags": ["vip"], "fields": {"score": 12}})
    b = await engine.enroll(definition, plain, contact={"tags": ["vip"], "fields": {"score": 3}})
    assert completed_steps(await engine.result(a.enrollment_id))[-2:] == ["yes", "stop"]
    assert completed_steps(await engine.result(b.enrollment_id))[-1] == "no"
    assert (await engine.result(a.enrollment_id)).outcome == "ended"


async def test_long_wait_through_many_events_continues_as_new(engine: WorkflowDriver) -> None:
    """A held enrollment continues as new while it waits and resumes the same wait."""
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            wait("w", "P1D"),
            goal(
                "g",
                {"event": "custom", "name": "finish"},
                if_unmet={"action": "wait", "timeout": "P10D"},
            ),
            tag("after", "done"),
        ),
        contact,
        enrollment_continue_as_new_after=3,
    )
    handle = engine.client.get_workflow_handle(enrolled.enrollment_id)
    first_run = (await handle.describe()).run_id
    for i in range(10):
        await engine.send(contact, "custom", {"name": f"noise-{i}"})
    view = await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "w")
    assert (await handle.describe()).run_id != first_run
    assert [k for k, _ in kinds(view)].count("waiting") == 1, "the wait resumed, not restarted"
    # The resumed wait keeps its original deadline.
    waiting = next(e for e in view.timeline if e.kind == "waiting")
    assert view.waiting is not None and view.waiting.until is not None
    assert waiting.detail["until"] == view.waiting.until.isoformat()
    await engine.send(contact, "custom", {"name": "finish"}, id="finish")
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "finish"
    assert completed_steps(final)[-1] == "after"
    assert [k for k, _ in kinds(final)].count("entered") == 1
