"""R19 as plain code: the decision for one enrollment (workflows/migration.py) over the
interpreter's state, and the interpreter stopping between steps when a move is asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from goalflow.core.validation import parse_automation
from workflows.commands import BetweenSteps, PauseUntil, RunAction
from workflows.definition import Automation
from workflows.interpreter import Interpreter
from workflows.messages import ContactSnapshot, EnrollmentInput
from workflows.migration import (
    Ends,
    Moved,
    MoveRequest,
    Stays,
    check_step_map,
    decide_move,
    full_step_map,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BUY = {"event": "custom", "name": "buy"}


def definition(*steps: dict[str, Any]) -> Automation:
    automation, _ = parse_automation({"name": "unit", "steps": list(steps)})
    return automation


def wait(step_id: str, duration: str = "P3D") -> dict[str, Any]:
    return {"id": step_id, "type": "wait", "duration": duration}


def goal(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "goal", "any_of": [BUY], "if_unmet": {"action": "continue"}}


def started(automation: Automation) -> Interpreter:
    interpreter = Interpreter(
        EnrollmentInput(
            enrollment_id="enr:a:c:1",
            automation_id="a",
            version=1,
            automation=automation,
            contact=ContactSnapshot(id="c"),
            contact_workflow_id="contact:c",
        ),
        NOW,
        lambda _: True,
    )
    interpreter.start(NOW)
    return interpreter


def request(old: Automation, new: Automation, **extra: Any) -> MoveRequest:
    given = extra.pop("step_map", {})
    return MoveRequest(
        migration_id="m",
        from_version=1,
        to_version=2,
        automation=new,
        step_map=full_step_map(old, new, given),
        **extra,
    )


def at_pause(interpreter: Interpreter, move: MoveRequest, later: timedelta) -> Any:
    return decide_move(interpreter, move, interpreter.position, interpreter.waiting, NOW + later)


def test_an_unchanged_wait_keeps_its_deadline() -> None:
    old = definition(goal("g"), wait("w"), {"id": "t", "type": "add_tag", "tag": "x"})
    new = definition(goal("g"), wait("w"), {"id": "u", "type": "add_tag", "tag": "y"})
    interpreter = started(old)
    decision = at_pause(interpreter, request(old, new), timedelta(hours=1))
    assert isinstance(decision, Moved)
    assert (decision.from_step, decision.to_step) == ("w", "w")
    progress = decision.progress
    assert progress.position == 1
    assert progress.waiting is not None and progress.waiting.until == NOW + timedelta(days=3)
    last = progress.timeline[-1]
    assert (last.kind, last.step_id, last.at) == ("migrated", "w", NOW + timedelta(hours=1))
    assert last.detail == {"from_version": 1, "to_version": 2, "from_step": "w", "to_step": "w"}
    assert "w" in progress.reached


def test_a_changed_or_renamed_wait_starts_afresh() -> None:
    old = definition(wait("w"))
    interpreter = started(old)
    changed = at_pause(interpreter, request(old, definition(wait("w", "P5D"))), timedelta(0))
    renamed = at_pause(
        interpreter,
        request(old, definition(wait("v")), step_map={"w": "v"}),
        timedelta(0),
    )
    for decision in (changed, renamed):
        assert isinstance(decision, Moved) and decision.progress.waiting is None


def test_met_goals_are_carried_by_step_id() -> None:
    old = definition(goal("g"), goal("gone"), wait("w"))
    new = definition(goal("g"), goal("fresh"), wait("w"))
    interpreter = started(old)
    interpreter.goals["g"].met = True
    interpreter.goals["g"].event_id = "e-1"
    interpreter.goals["gone"].met = True
    decision = at_pause(interpreter, request(old, new), timedelta(0))
    assert isinstance(decision, Moved)
    goals = {g.step_id: g for g in decision.progress.goals}
    assert set(goals) == {"g", "fresh"}
    assert goals["g"].met and goals["g"].event_id == "e-1"
    assert not goals["fresh"].met


def test_unmapped_stays_or_ends() -> None:
    old = definition(wait("w"))
    new = definition(wait("v"))
    interpreter = started(old)
    assert at_pause(interpreter, request(old, new), timedelta(0)) == Stays("w")
    assert at_pause(interpreter, request(old, new, unmapped="end"), timedelta(0)) == Ends("w")


def test_after_an_action_the_move_is_from_the_next_step() -> None:
    hook = {"id": "hook", "type": "webhook", "url": "https://example.com/h"}
    old = definition(hook, wait("b"))
    interpreter = started(old)
    assert isinstance(interpreter.awaiting, RunAction)
    interpreter.version_move_asked = True  # the update came while the action ran
    commands = interpreter.on_action_done({"status_code": 200}, NOW)
    assert commands[-1] == BetweenSteps(1)
    assert interpreter.timeline.entries[-1].kind == "step_completed"
    new = definition(hook, {"id": "inserted", "type": "add_tag", "tag": "x"}, wait("b"))
    decision = decide_move(interpreter, request(old, new), 1, None, NOW)
    assert isinstance(decision, Moved)
    assert (decision.from_step, decision.to_step, decision.progress.position) == ("b", "b", 2)
    assert decision.progress.waiting is None
    # Staying instead, the enrollment goes on with its own next step.
    assert isinstance(interpreter.on_go_on(NOW)[-1], PauseUntil)
    assert interpreter.version_move_asked is False


def test_the_step_map_is_checked_against_both_versions() -> None:
    old = definition(wait("w"), wait("x"))
    new = definition(wait("w"))
    assert check_step_map(old, new, {"w": "w"}) == []
    assert [key for key, _ in check_step_map(old, new, {"nope": "w", "x": "nope"})] == [
        "nope",
        "x",
    ]
    assert full_step_map(old, new, {"x": "w"}) == {"w": "w", "x": "w"}
