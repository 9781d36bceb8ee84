"""Compound goals (R21) in the enrollment's own decision code, driven without Temporal: the
interpreter the workflow runs, fed events at chosen times. The rules one by one, then a
property test: over random event sequences, the interpreter's verdict (which event met the goal,
if any) equals a plain reference function's, written from the rule's words alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from goalflow.core.validation import parse_automation
from workflows.commands import ShowDetails
from workflows.definition import Automation
from workflows.events import ContactEvent
from workflows.interpreter import Interpreter
from workflows.messages import ContactSnapshot, EnrollmentInput, EnrollmentProgress

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# How many events each enrollment of a test has been fed (by id of the interpreter).
_fed: dict[int, int] = {}


def criterion(i: int, **extra: Any) -> dict[str, Any]:
    """Criterion i matches a custom event whose data has `c{i}: true`: one event may match
    several criteria."""
    return {"event": "custom", "where": {f"c{i}": True}, **extra}


def enrollment(goal: dict[str, Any], *, above: bool = True, **input: Any) -> Interpreter:
    """A contact waiting a long wait above goal `g` (or, `above=False`, held below it)."""
    wait = {"id": "w", "type": "wait", "duration": "P60D"}
    g = {"id": "g", "type": "goal", "if_unmet": {"action": "continue"}, **goal}
    never = [{"event": "custom", "name": "never"}]
    hold = {"id": "hold", "type": "goal", "any_of": never, "if_unmet": {"action": "wait"}}
    steps = [wait, g, hold] if above else [g, hold]
    automation = Automation.model_validate({"name": "compound", "steps": steps})
    machine = Interpreter(
        EnrollmentInput(
            enrollment_id="enr:a:c:1",
            automation_id="a",
            version=1,
            automation=automation,
            contact=ContactSnapshot(id="c"),
            contact_workflow_id="contact:c",
            **input,
        ),
        T0,
        lambda _: True,
    )
    machine.start(T0)
    _fed[id(machine)] = 0
    return machine


def event(n: int, at: datetime, *matches: int) -> ContactEvent:
    return ContactEvent(
        id=f"e-{n}",
        contact_id="c",
        type="custom",
        accepted_at=at,
        data={f"c{i}": True for i in matches},
    )


def feed(machine: Interpreter, *events: tuple[float, tuple[int, ...]]) -> None:
    """Events at `hours` after T0 matching the criteria given, with ids e-0, e-1, ... in the
    order the enrollment is fed them."""
    for hours, matches in events:
        n = _fed.get(id(machine), 0)
        _fed[id(machine)] = n + 1
        at = T0 + timedelta(hours=hours)
        machine.on_event(event(n, at, *matches), at)


def counts(machine: Interpreter) -> list[tuple[bool, int]]:
    return [(c.matched, c.count) for c in machine.view().goals[0].criteria]


def met_by(machine: Interpreter) -> str | None:
    status = machine.view().goals[0]
    return status.event_id if status.met else None


def test_all_of_is_met_by_the_last_criterion_needed_in_any_order() -> None:
    machine = enrollment({"all_of": [criterion(0), criterion(1), criterion(2)]})
    feed(machine, (1, (2,)), (2, (0,)), (3, (2,)))
    assert counts(machine) == [(True, 1), (False, 0), (True, 2)]
    assert met_by(machine) is None and machine.view().current_step == "w"
    feed(machine, (8, (1,)))
    assert met_by(machine) == "e-3"
    assert machine.view().goals[0].met_at == T0 + timedelta(hours=8)
    # Above it (R3): the wait is cut short and the contact moves on to the goal.
    assert machine.pending_move == 1


def test_sequence_counts_only_matches_in_the_listed_order() -> None:
    machine = enrollment({"sequence": [criterion(0), criterion(1)]})
    feed(machine, (1, (1,)), (2, (0,)))
    assert counts(machine) == [(True, 1), (False, 0)]
    assert met_by(machine) is None
    feed(machine, (3, (1,)))
    assert met_by(machine) == "e-2"


def test_one_event_never_counts_for_two_criteria_of_a_sequence() -> None:
    machine = enrollment({"sequence": [criterion(0), criterion(1)]})
    feed(machine, (1, (0, 1)))
    assert counts(machine) == [(True, 1), (False, 0)]
    feed(machine, (2, (0, 1)))
    assert met_by(machine) == "e-1"


def test_within_drops_a_first_match_that_runs_out_and_the_next_one_counts() -> None:
    machine = enrollment({"sequence": [criterion(0), criterion(1)], "within": "PT10H"})
    feed(machine, (0, (0,)), (8, (0,)), (15, (1,)))
    # 15 h after the first match but 7 h after the second: met by the third event.
    assert met_by(machine) == "e-2"


def test_within_includes_its_last_instant() -> None:
    machine = enrollment({"sequence": [criterion(0), criterion(1)], "within": "PT10H"})
    feed(machine, (0, (0,)), (10, (1,)))
    assert met_by(machine) == "e-1"


def test_within_run_out_without_a_later_first_match_is_not_met() -> None:
    machine = enrollment({"sequence": [criterion(0), criterion(1)], "within": "PT10H"})
    feed(machine, (0, (0,)), (11, (1,)))
    assert met_by(machine) is None
    assert counts(machine) == [(False, 0), (False, 0)]


def test_within_counts_from_the_first_match_of_a_first_criterion_with_min_count() -> None:
    machine = enrollment({"sequence": [criterion(0, min_count=2), criterion(1)], "within": "PT10H"})
    feed(machine, (0, (0,)), (6, (0,)), (11, (1,)))
    assert met_by(machine) is None  # the first of the two matches was 11 h before
    feed(machine, (12, (0,)), (13, (1,)))
    assert met_by(machine) == "e-4"  # the matches of 6 h and 12 h, and 13 h: within 10 h of 6 h


def test_min_count_matches_at_the_nth_matching_event() -> None:
    machine = enrollment({"any_of": [criterion(0, min_count=3), criterion(1)]})
    feed(machine, (1, (0,)), (2, (0,)))
    assert counts(machine) == [(False, 2), (False, 0)] and met_by(machine) is None
    feed(machine, (3, (0,)))
    assert met_by(machine) == "e-2"


def test_a_goal_met_by_any_one_event_is_unchanged_and_counts_its_criteria() -> None:
    machine = enrollment({"any_of": [criterion(0), criterion(1)]})
    feed(machine, (1, (1,)))
    assert met_by(machine) == "e-0"
    assert counts(machine) == [(False, 0), (True, 1)]


def test_a_compound_goal_met_below_the_contact_is_recorded_and_moves_nothing() -> None:
    machine = enrollment({"all_of": [criterion(0), criterion(1)]}, above=False)
    assert machine.view().current_step == "hold"  # g was passed unmet (if_unmet: continue)
    feed(machine, (1, (0,)), (2, (1,)))
    assert met_by(machine) == "e-1"
    assert machine.pending_move is None
    moves = [e.detail["moves"] for e in machine.timeline.entries if e.kind == "goal_met"]
    assert moves == [False]


def test_look_back_events_count_first_in_acceptance_order() -> None:
    looked_back = [
        event(90, T0 - timedelta(hours=3), 0),
        event(91, T0 - timedelta(hours=2), 0),
    ]
    machine = enrollment(
        {"sequence": [criterion(0, lookback="P1D", min_count=2), criterion(1, lookback="P1D")]},
        lookback_events=looked_back,
        enrolled_at=T0,
    )
    assert counts(machine) == [(True, 2), (False, 0)]
    feed(machine, (1, (1,)))
    assert met_by(machine) == "e-0"


def test_progress_carries_over_continue_as_new() -> None:
    goal = {"sequence": [criterion(0), criterion(1, min_count=2)], "within": "P1D"}
    machine = enrollment(goal)
    feed(machine, (1, (0,)), (2, (1,)))
    carried = EnrollmentProgress.model_validate_json(machine.progress().model_dump_json())
    assert [(a.position, a.count) for a in carried.sequences["g"]] == [(1, 1)]
    resumed = enrollment(goal, progress=carried)
    assert counts(resumed) == [(True, 1), (False, 1)]
    resumed.on_event(event(5, T0 + timedelta(hours=3), 1), T0 + timedelta(hours=3))
    assert met_by(resumed) == "e-5"


def test_the_details_line_shows_how_far_a_held_contact_is() -> None:
    automation_steps = {"all_of": [criterion(0), criterion(1), criterion(2, min_count=2)]}
    machine = enrollment({**automation_steps, "if_unmet": {"action": "wait"}}, above=False)
    at = T0 + timedelta(hours=1)
    commands = machine.on_event(event(0, at, 2), at)
    shown = [c.shown for c in commands if isinstance(c, ShowDetails)]
    assert [s.goal_progress for s in shown] == [(1, 4)]


# --- validation ------------------------------------------------------------------------------


C0, C1 = criterion(0), criterion(1)
MANY = [criterion(0, min_count=600), criterion(1, min_count=500)]


@pytest.mark.parametrize(
    ("goal", "loc", "kind"),
    [
        ({"any_of": [C0], "all_of": [C1]}, ("all_of",), "goal_kinds"),
        ({}, ("any_of",), "goal_kind_missing"),
        ({"sequence": []}, ("sequence",), "too_short"),
        ({"all_of": [C0], "within": "P1D"}, ("within",), "within_without_sequence"),
        ({"all_of": [criterion(0, min_count=1)]}, ("all_of", 0, "min_count"), "greater_than_equal"),
        ({"any_of": [criterion(0, min_count=1001)]}, ("any_of", 0, "min_count"), "less_than_equal"),
        ({"sequence": MANY, "within": "P1D"}, ("sequence", 1, "min_count"), "too_many_sequence_matches"),  # noqa: E501
    ],
)  # fmt: skip
def test_invalid_compound_goals_answer_with_the_path_to_change(
    goal: dict[str, Any], loc: tuple[Any, ...], kind: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_automation({"name": "x", "steps": [{"id": "g", "type": "goal", **goal}]})
    errors = raised.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [(("steps", 0, *loc), kind)]


def test_an_any_of_goal_dumps_as_before_compound_goals() -> None:
    automation, _ = parse_automation(
        {"name": "x", "steps": [{"id": "g", "type": "goal", "any_of": [criterion(0)]}]}
    )
    dumped = automation.model_dump(mode="json")["steps"][0]
    assert "all_of" not in dumped and "sequence" not in dumped and "within" not in dumped
    assert "min_count" not in dumped["any_of"][0]


# --- the property: the interpreter agrees with the rule's words ------------------------------


def reference(
    kind: str,
    needed: list[int],
    within_hours: int | None,
    events: list[tuple[int, frozenset[int]]],
) -> int | None:
    """The index of the event that meets the goal, read off R21's words by brute force."""
    counts = [0] * len(needed)
    for k, (_, matches) in enumerate(events):
        for i in matches:
            counts[i] += 1
        if kind == "any_of" and any(counts[i] >= needed[i] for i in matches):
            return k
        if (
            kind == "all_of"
            and matches
            and all(c >= n for c, n in zip(counts, needed, strict=True))
        ):
            return k
        if kind == "sequence" and _sequence_done(needed, within_hours, events[: k + 1]):
            return k
    return None


def _sequence_done(
    needed: list[int], within_hours: int | None, events: list[tuple[int, frozenset[int]]]
) -> bool:
    """Some events, in acceptance order, give criterion 0 its needed matches, then criterion 1
    its own (each accepted after the ones before), ..., all within `within` of the first."""
    roles = [i for i, n in enumerate(needed) for _ in range(n)]
    for chosen in combinations(range(len(events)), len(roles)):
        if not all(role in events[k][1] for k, role in zip(chosen, roles, strict=True)):
            continue
        first, last = events[chosen[0]][0], events[chosen[-1]][0]
        if within_hours is None or last - first <= within_hours:
            return True
    return False


# (kind, each criterion's needed matches, `within` in hours, events as (hours, criteria matched))
Scenario = tuple[str, list[int], int | None, list[tuple[int, frozenset[int]]]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    kind = draw(st.sampled_from(["any_of", "all_of", "sequence"]))
    n = draw(st.integers(1, 3))
    needed = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    within = draw(st.none() | st.integers(1, 4)) if kind == "sequence" else None
    gaps = draw(st.lists(st.integers(0, 3), max_size=10))
    matches = draw(
        st.lists(
            st.frozensets(st.integers(0, n - 1), max_size=n), min_size=len(gaps), max_size=len(gaps)
        )
    )
    hours = [sum(gaps[: k + 1]) for k in range(len(gaps))]
    return kind, needed, within, list(zip(hours, matches, strict=True))


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_the_interpreter_meets_a_goal_where_the_reference_does(
    scenario: Scenario,
) -> None:
    kind, needed, within, events = scenario
    goal: dict[str, Any] = {
        kind: [criterion(i, **({"min_count": n} if n > 1 else {})) for i, n in enumerate(needed)]
    }
    if within is not None:
        goal["within"] = f"PT{within}H"
    machine = enrollment(goal)
    feed(machine, *((float(hours), tuple(sorted(m))) for hours, m in events))
    expected = reference(kind, needed, within, events)
    assert met_by(machine) == (None if expected is None else f"e-{expected}")
