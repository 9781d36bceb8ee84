"""Splits and holdouts without Temporal: who takes which path and who is held out (pure
functions of ids), the validation of a split, and the interpreter driven by hand through a
split and a holdout."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from goalflow.core.validation import parse_automation
from workflows.commands import Finish, PauseUntil, Recorded, ShowGoals, ShowProgress
from workflows.definition import Automation, Holdout, SplitStep
from workflows.events import ContactEvent
from workflows.experiments import (
    HOLDOUT_MARK,
    is_held_out,
    path_mark,
    split_path,
    stable_number,
)
from workflows.interpreter import Interpreter
from workflows.messages import ContactSnapshot, EnrollmentInput

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONTACTS = [f"c-{i}" for i in range(1000)]
BUY = {"event": "custom", "name": "buy"}


def split(*weights: int) -> SplitStep:
    paths = [{"id": f"p{k}", "weight": w, "next": "end"} for k, w in enumerate(weights)]
    return SplitStep.model_validate({"id": "ab", "type": "split", "paths": paths})


def within_binomial_bounds(count: int, n: int, p: float) -> bool:
    """Within 4.5 standard deviations of n·p: a fair assignment fails this about once in
    150,000 automations; a biased one (a path never taken, weights ignored) fails at once."""
    return abs(count - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))


# --- assignment ------------------------------------------------------------------------------


def test_the_hash_is_pinned_so_published_experiments_keep_their_contacts() -> None:
    # Changing how contacts are assigned would move contacts of running experiments from one
    # path to another between two enrollments: these values must never change.
    assert stable_number("split", "welcome", "c-0", "ab") == 12194133905034520886
    step = split(70, 30)
    taken = [split_path("welcome", f"c-{i}", step).id for i in range(10)]
    assert taken == ["p1", "p0", "p0", "p1", "p1", "p0", "p0", "p0", "p0", "p0"]
    held = [i for i in range(30) if is_held_out("welcome", f"c-{i}", Holdout(percent=10))]
    assert held == [11, 21]


def test_a_contact_takes_the_same_path_every_time_and_each_split_draws_on_its_own() -> None:
    step = split(50, 50)
    first = [split_path("auto", c, step).id for c in CONTACTS]
    assert first == [split_path("auto", c, step).id for c in CONTACTS]
    other_step = step.model_copy(update={"id": "cd"})
    other = [split_path("auto", c, other_step).id for c in CONTACTS]
    other_automation = [split_path("auto-2", c, step).id for c in CONTACTS]
    # Independent draws agree on about half the contacts, not on all of them.
    for again in (other, other_automation):
        same = sum(a == b for a, b in zip(first, again, strict=True))
        assert within_binomial_bounds(same, len(CONTACTS), 0.5)


@pytest.mark.parametrize("weights", [(50, 50), (70, 30), (1, 1, 1), (10, 20, 30, 40), (100, 1)])
def test_paths_are_taken_in_proportion_to_their_weights(weights: tuple[int, ...]) -> None:
    step = split(*weights)
    taken = Counter(split_path("auto", c, step).id for c in CONTACTS)
    total = sum(weights)
    for k, weight in enumerate(weights):
        assert within_binomial_bounds(taken[f"p{k}"], len(CONTACTS), weight / total), taken


@pytest.mark.parametrize("percent", [1, 10, 25, 50])
def test_the_held_out_share_is_the_percent_asked(percent: int) -> None:
    holdout = Holdout(percent=percent)
    held = sum(is_held_out("auto", c, holdout) for c in CONTACTS)
    assert within_binomial_bounds(held, len(CONTACTS), percent / 100)


def test_without_a_holdout_nobody_is_held_out_and_held_out_contacts_stay_so() -> None:
    assert not any(is_held_out("auto", c, None) for c in CONTACTS)
    # A larger percent keeps every contact a smaller one held out (buckets, not a new draw).
    small = {c for c in CONTACTS if is_held_out("auto", c, Holdout(percent=5))}
    large = {c for c in CONTACTS if is_held_out("auto", c, Holdout(percent=20))}
    assert small and small < large


# --- validation ------------------------------------------------------------------------------


def definition(*paths: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "name": "test",
        "settings": settings,
        "steps": [
            {"id": "ab", "type": "split", "paths": list(paths)},
            {"id": "a-mail", "type": "send_sms", "body": "A"},
            {"id": "b-mail", "type": "send_sms", "body": "B"},
        ],
    }


A = {"id": "a", "weight": 50, "next": "a-mail"}
B = {"id": "b", "weight": 50, "next": "b-mail"}


def errors(data: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as info:
        parse_automation(data)
    return [(e["loc"], e["type"]) for e in info.value.errors()]


def test_a_valid_split_and_holdout_publish() -> None:
    parsed, _ = parse_automation(definition(A, B, holdout={"percent": 10}))
    assert isinstance(parsed.steps[0], SplitStep)
    assert parsed.settings.holdout == Holdout(percent=10, window="P14D")


PATHS = ("steps", 0, "paths")
HOLDOUT = ("settings", "holdout")


@pytest.mark.parametrize(
    ("data", "loc", "kind"),
    [
        (definition(A, {**B, "next": "nowhere"}), (*PATHS, 1, "next"), "unknown_step"),
        (definition(A, {**B, "id": "a"}), (*PATHS, 1, "id"), "duplicate_path_id"),
        (definition(A, {**B, "weight": 0}), (*PATHS, 1, "weight"), "greater_than_equal"),
        (definition(A, {**B, "weight": 101}), (*PATHS, 1, "weight"), "less_than_equal"),
        (definition(A), PATHS, "too_short"),
        (definition(*({**A, "id": f"p{k}"} for k in range(6))), PATHS, "too_long"),
        (definition(A, B, holdout={"percent": 51}), (*HOLDOUT, "percent"), "less_than_equal"),
        (definition(A, B, holdout={"percent": 0}), (*HOLDOUT, "percent"), "greater_than_equal"),
        (definition(A, B, holdout={"window": "x", "percent": 5}),
            (*HOLDOUT, "window"), "value_error"),
    ],
    ids=[
        "missing-next", "duplicate-path", "weight-0", "weight-101", "one-path", "six-paths",
        "holdout-51", "holdout-0", "bad-window",
    ],
)  # fmt: skip
def test_split_and_holdout_errors_name_their_field(
    data: dict[str, Any], loc: tuple[int | str, ...], kind: str
) -> None:
    assert errors(data) == [(loc, kind)]


def test_a_split_closing_a_loop_without_a_pause_is_refused() -> None:
    data = definition(A, {**B, "next": "ab"})
    assert errors(data) == [(("steps", 0, "paths", 1, "next"), "loop_without_wait")]


# --- the interpreter -------------------------------------------------------------------------


def interpreter(automation: dict[str, Any], contact_id: str) -> Interpreter:
    return Interpreter(
        EnrollmentInput(
            enrollment_id=f"enr:auto:{contact_id}:1",
            automation_id="auto",
            version=1,
            automation=Automation.model_validate(automation),
            contact=ContactSnapshot(id=contact_id),
            contact_workflow_id=f"contact:{contact_id}",
        ),
        T0,
        lambda _: True,
    )


def test_a_split_sends_the_contact_down_its_path_and_says_which() -> None:
    data = {
        "name": "t",
        "steps": [
            {"id": "ab", "type": "split", "paths": [A, B]},
            {"id": "a-mail", "type": "wait", "duration": "P1D"},
            {"id": "b-mail", "type": "wait", "duration": "P2D"},
        ],
    }
    step = SplitStep.model_validate(data["steps"][0])
    # The first contact that takes each path.
    firsts = {split_path("auto", c, step).id: c for c in reversed(CONTACTS)}
    assert set(firsts) == {"a", "b"}
    for contact in firsts.values():
        path = split_path("auto", contact, step)
        machine = interpreter(data, contact)
        commands = machine.start(T0)
        recorded = [c.entry for c in commands if isinstance(c, Recorded)]
        completed = next(e for e in recorded if e.kind == "step_completed")
        assert (completed.step_id, completed.detail) == ("ab", {"path": path.id, "next": path.next})
        assert machine.view().current_step == path.next
        shown = next(c for c in commands if isinstance(c, ShowProgress) and c.shown.waiting)
        assert path_mark("ab", path.id) in shown.shown.reached


def held_out_contact(holdout: Holdout) -> str:
    return next(c for c in CONTACTS if is_held_out("auto", c, holdout))


def test_a_held_out_enrollment_runs_no_step_records_goals_and_completes_after_the_window() -> None:
    data = {
        "name": "t",
        "settings": {"holdout": {"percent": 10, "window": "P3D"}},
        "steps": [
            {"id": "mail", "type": "send_sms", "body": "hi"},
            {"id": "g", "type": "goal", "any_of": [BUY], "jump_from": "anywhere"},
            {"id": "after", "type": "send_sms", "body": "bye"},
        ],
    }
    contact = held_out_contact(Holdout(percent=10))
    machine = interpreter(data, contact)
    commands = machine.start(T0)
    assert [(c.entry.kind, c.entry.step_id) for c in commands if isinstance(c, Recorded)] == [
        ("entered", None),
        ("waiting", None),
    ]
    assert commands[-1] == PauseUntil(T0 + timedelta(days=3), "held out")
    view = machine.view()
    assert view.holdout is True and view.current_step is None
    assert view.waiting is not None and view.waiting.until == T0 + timedelta(days=3)
    shown = next(c for c in commands if isinstance(c, ShowProgress))
    assert shown.shown.step is None and shown.shown.reached == (HOLDOUT_MARK,)

    at = T0 + timedelta(days=1)
    event = ContactEvent(id="e-1", contact_id=contact, type="custom", accepted_at=at, data=BUY)
    met = machine.on_event(event, at)
    assert [type(c) for c in met][-1] is ShowGoals
    assert not machine.move_pending  # recorded, never moved: it runs no step
    assert machine.timeline.entries[-1].detail["moves"] is False

    ended = machine.on_timer(T0 + timedelta(days=3))
    finish = ended[-1]
    assert isinstance(finish, Finish) and (finish.status, finish.outcome) == (
        "completed",
        "holdout",
    )
    assert machine.goals["g"].met and machine.goals["g"].met_at == at
    assert all(e.kind != "step_started" for e in machine.timeline.entries)


def test_a_treated_contact_of_an_automation_with_a_holdout_runs_as_usual() -> None:
    data = {
        "name": "t",
        "settings": {"holdout": {"percent": 10}},
        "steps": [{"id": "w", "type": "wait", "duration": "P1D"}],
    }
    contact = next(c for c in CONTACTS if not is_held_out("auto", c, Holdout(percent=10)))
    machine = interpreter(data, contact)
    assert machine.start(T0)[-1] == PauseUntil(T0 + timedelta(days=1), "wait w")
    assert machine.view().holdout is False
