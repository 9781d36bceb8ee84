"""The enrollment's step interpreter driven by hand, without Temporal: each input (start, an
event at a time, a timer firing, an action's result) answers with the commands to carry out."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from workflows.commands import (
    ChangeContact,
    Command,
    Finish,
    GoalMet,
    PauseUntil,
    Recorded,
    RunAction,
    ShowGoals,
    ShowProgress,
)
from workflows.definition import Automation
from workflows.events import ContactEvent
from workflows.interpreter import Interpreter
from workflows.messages import ContactSnapshot, EnrollmentInput
from workflows.patches import TAGS_ANY_CASE

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BUY = {"event": "custom", "name": "buy"}
C = TypeVar("C", bound=Command)
PURE_MODULES = ("interpreter", "enrollment_state", "commands", "timeline", "patches")


def interpreter(*steps: dict[str, Any]) -> Interpreter:
    automation = Automation.model_validate({"name": "test", "steps": list(steps)})
    return Interpreter(
        EnrollmentInput(
            enrollment_id="enr:a:c:1",
            automation_id="a",
            version=1,
            automation=automation,
            contact=ContactSnapshot(id="c", email="c@example.com"),
            contact_workflow_id="contact:c",
        ),
        T0,
        lambda _: True,
    )


def goal(step_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "goal", "any_of": [BUY], **extra}


def buy(at: datetime) -> ContactEvent:
    return ContactEvent(
        id="e-1", contact_id="c", type="custom", accepted_at=at, data={"name": "buy"}
    )


def last(commands: list[Command], kind: type[C]) -> C:
    assert isinstance(commands[-1], kind), commands[-1]
    return commands[-1]


def entries(commands: list[Command]) -> list[tuple[str, str | None]]:
    return [(c.entry.kind, c.entry.step_id) for c in commands if isinstance(c, Recorded)]


def test_start_runs_to_the_first_email_then_waits_for_its_result() -> None:
    machine = interpreter(
        {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"},
        {"id": "bye", "type": "end"},
    )
    commands = machine.start(T0)
    assert entries(commands) == [("entered", None), ("step_started", "hello")]
    assert [type(c) for c in commands] == [Recorded, ShowProgress, Recorded, RunAction]
    progress = commands[1]
    assert isinstance(progress, ShowProgress) and progress.shown.step == "hello"
    action = commands[-1]
    assert isinstance(action, RunAction)
    assert action.step.id == "hello"
    assert (action.context.step_id, action.context.visit) == ("hello", 1)
    assert machine.awaiting == action

    done = machine.on_action_done({"message_id": "m-1"}, T0 + timedelta(seconds=1))
    assert entries(done) == [
        ("step_completed", "hello"),
        ("step_started", "bye"),
        ("step_completed", "bye"),
        ("ended", None),
    ]
    assert machine.timeline.entries[2].detail == {"message_id": "m-1"}
    finish = last(done, Finish)
    assert (finish.status, finish.outcome) == ("completed", "ended")
    assert machine.awaiting is None
    assert machine.view().status == "completed"


def test_an_event_meeting_a_goal_during_a_wait_moves_the_contact() -> None:
    machine = interpreter(
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "skipped", "type": "add_tag", "tag": "never"},
        goal("g"),
        {"id": "after", "type": "add_tag", "tag": "done"},
    )
    pause = machine.start(T0)[-1]
    assert pause == PauseUntil(T0 + timedelta(days=1), "wait w")

    at = T0 + timedelta(hours=2)
    met = machine.on_event(buy(at), at)
    # The event never moves the enrollment by itself: the pause is cut short by its driver.
    assert entries(met) == [("goal_met", "g")]
    assert GoalMet("g") in met
    assert last(met, ShowGoals).moving is True
    assert machine.move_pending and machine.awaiting == pause
    assert machine.goals["g"].met_at == at

    moved = machine.on_moved(at)
    assert entries(moved) == [
        ("step_completed", "w"),
        ("moved", "g"),
        ("step_completed", "g"),
        ("step_started", "after"),
    ]
    assert machine.timeline.entries[-4].detail == {"cut_short": True}
    change = moved[-1]
    assert isinstance(change, ChangeContact)
    assert change.change.add_tags == ["done"]
    assert change.change.id == "enr:a:c:1:after:1"
    assert "never" not in machine.contact.tags


def test_r4_a_passed_goal_jumping_from_above_is_recorded_and_does_not_move() -> None:
    machine = interpreter(
        goal("g", jump_from="above", if_unmet={"action": "continue"}),
        {"id": "w", "type": "wait", "duration": "P2D"},
        {"id": "t", "type": "add_tag", "tag": "x"},
    )
    commands = machine.start(T0)
    assert entries(commands)[-3:] == [("goal_unmet", "g"), ("step_started", "w"), ("waiting", "w")]
    assert isinstance(commands[-1], PauseUntil)

    at = T0 + timedelta(hours=1)
    met = machine.on_event(buy(at), at)
    assert entries(met) == [("goal_met", "g")]
    assert machine.timeline.entries[-1].detail["moves"] is False
    shown = last(met, ShowGoals)
    assert shown.moving is False and shown.shown.goals_met == ("g",)
    assert not machine.move_pending
    with pytest.raises(RuntimeError):
        machine.on_moved(at)

    fired = machine.on_timer(T0 + timedelta(days=2))
    assert entries(fired) == [("step_completed", "w"), ("step_started", "t")]
    assert isinstance(fired[-1], ChangeContact)
    assert all(e.kind != "moved" for e in machine.timeline.entries)


@pytest.mark.parametrize(
    ("on_timeout", "then"), [("continue", "next"), ("end", "exited")], ids=["continue", "end"]
)
def test_if_unmet_wait_with_timeout_starts_a_timer_then_follows_on_timeout(
    on_timeout: str, then: str
) -> None:
    machine = interpreter(
        goal("g", if_unmet={"action": "wait", "timeout": "PT1H", "on_timeout": on_timeout}),
        {"id": "next", "type": "add_tag", "tag": "n"},
    )
    commands = machine.start(T0)
    assert entries(commands)[-1] == ("waiting", "g")
    progress = commands[-2]
    assert isinstance(progress, ShowProgress)
    assert progress.shown.waiting is not None and progress.shown.waiting.kind == "goal"
    assert commands[-1] == PauseUntil(T0 + timedelta(hours=1), "waiting for goal g")
    assert machine.view().waiting is not None

    fired = machine.on_timer(T0 + timedelta(hours=1))
    assert entries(fired)[0] == ("timed_out", "g")
    assert machine.timeline.entries[-len(entries(fired))].detail == {"on_timeout": on_timeout}
    if then == "next":
        assert isinstance(fired[-1], ChangeContact)
        assert machine.view().current_step == "next"
    else:
        finish = last(fired, Finish)
        assert (finish.status, finish.outcome) == ("exited", "goal_unmet")
        assert machine.awaiting is None


def test_an_answer_to_a_command_not_given_is_refused() -> None:
    machine = interpreter({"id": "w", "type": "wait", "duration": "P1D"})
    machine.start(T0)
    with pytest.raises(RuntimeError):
        machine.on_action_done({}, T0)
    with pytest.raises(RuntimeError):
        machine.start(T0)


def test_cancelling_ends_a_paused_enrollment() -> None:
    machine = interpreter({"id": "w", "type": "wait", "duration": "P1D"})
    machine.start(T0)
    commands = machine.on_cancelled(T0 + timedelta(minutes=5))
    assert entries(commands) == [("ended", None)]
    finish = last(commands, Finish)
    assert (finish.status, finish.outcome) == ("cancelled", "cancelled")
    assert machine.awaiting is None and machine.waiting is None


@pytest.mark.parametrize("module", PURE_MODULES)
def test_the_interpreter_modules_need_no_temporal_asyncio_or_clock(module: str) -> None:
    path = Path(__file__).resolve().parents[2] / "workflows" / f"{module}.py"
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "collections",
        "dataclasses",
        "datetime",
        "typing",
        "zoneinfo",
        "workflows",
    }
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"now", "utcnow", "today", "time", "monotonic"}


def test_tags_any_case_is_asked_of_the_driver_only_when_case_decides_a_match() -> None:
    """The interpreter asks its driver's `patched` at the moment matching needs it (the
    workflow's `workflow.patched`), and not at all when no two tags differ only by case."""
    for applies in (False, True):
        asked: list[str] = []

        def patched(patch_id: str, asked: list[str] = asked, applies: bool = applies) -> bool:
            asked.append(patch_id)
            return applies

        automation = Automation.model_validate(
            {
                "name": "test",
                "steps": [
                    {
                        "id": "vip",
                        "type": "goal",
                        "any_of": [{"event": "contact.tag_added", "tag": "vip"}],
                        "if_unmet": {"action": "wait"},
                    }
                ],
            }
        )
        machine = Interpreter(
            EnrollmentInput(
                enrollment_id="enr:a:c:1",
                automation_id="a",
                version=1,
                automation=automation,
                contact=ContactSnapshot(id="c", email="c@example.com"),
                contact_workflow_id="contact:c",
            ),
            T0,
            patched,
        )
        last(machine.start(T0), PauseUntil)
        other = ContactEvent(id="e-0", contact_id="c", type="contact.tag_added", data={"tag": "x"})
        machine.on_event(other, T0)
        assert asked == []
        event = ContactEvent(
            id="e-1", contact_id="c", type="contact.tag_added", data={"tag": "VIP"}
        )
        machine.on_event(event, T0 + timedelta(minutes=1))
        assert asked and set(asked) == {TAGS_ANY_CASE}
        assert machine.goals["vip"].met is applies
        assert machine.move_pending is applies
