"""`goals_met_by` tries only the criteria an event can meet (workflows/goal_index.py) and finds
exactly the goals that trying every criterion found."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.definition import Automation, GoalStep
from workflows.events import ContactEvent
from workflows.matching import goal_criterion_matches, goals_met_by

AID = "auto-1"
NAMES = ["a", "b", 1, None]
VALUES = st.sampled_from(["x", "y", 1, 1.0, True, None, [1], {"k": "x"}])


def scanning(
    automation: Automation,
    event: ContactEvent,
    context: dict[str, Any],
    age: timedelta | None,
) -> list[int]:
    """`goals_met_by` as it was: every criterion of every goal step, in document order."""
    return [
        i
        for i, step in enumerate(automation.steps)
        if isinstance(step, GoalStep)
        and any(goal_criterion_matches(c, event, AID, context, age) for c in step.criteria)
    ]


@st.composite
def criteria(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["custom", "custom", "tag", "email", "sms"]))
    criterion: dict[str, Any]
    if kind == "custom":
        criterion = {"event": "custom"}
        name = draw(st.sampled_from(["a", "b", None]))
        if name is not None:
            criterion["name"] = name
        where = draw(st.dictionaries(st.sampled_from(["k", "plan"]), VALUES, max_size=2))
        if where:
            criterion["where"] = where
    elif kind == "tag":
        criterion = {"event": draw(st.sampled_from(["contact.tag_added", "contact.tag_removed"]))}
        if draw(st.booleans()):
            criterion["tag"] = draw(st.sampled_from(["vip", "new"]))
    elif kind == "email":
        criterion = {"event": "email.clicked"}
        if draw(st.booleans()):
            criterion["url"] = draw(st.sampled_from(["*", "https://x/*", "*a*b"]))
    else:
        criterion = {"event": "sms.received"}
        if draw(st.booleans()):
            criterion["body_matches"] = draw(st.sampled_from(["yes*", "*no*"]))
    if draw(st.booleans()):
        criterion["match_context"] = draw(
            st.lists(st.sampled_from(["order", "k"]), min_size=1, max_size=2)
        )
    if draw(st.booleans()):
        criterion["lookback"] = draw(st.sampled_from(["PT1H", "P1D"]))
    return criterion


@st.composite
def automations(draw: st.DrawFn) -> Automation:
    goals = draw(st.lists(st.lists(criteria(), min_size=1, max_size=4), min_size=1, max_size=5))
    steps: list[dict[str, Any]] = [{"id": "w", "type": "wait", "duration": "P1D"}]
    steps += [{"id": f"g{i}", "type": "goal", "any_of": any_of} for i, any_of in enumerate(goals)]
    return Automation.model_validate({"name": "a", "steps": steps})


@st.composite
def events(draw: st.DrawFn) -> ContactEvent:
    type_ = draw(
        st.sampled_from(
            [
                "custom",
                "custom",
                "contact.tag_added",
                "email.clicked",
                "sms.received",
                "email.opened",
            ]
        )
    )
    data: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(["k", "plan", "order"]), VALUES, max_size=3)
    )
    name = draw(st.sampled_from(NAMES))
    if name is not None:
        data["name"] = name
    if draw(st.booleans()):
        data["tag"] = draw(st.sampled_from(["vip", "new"]))
    if draw(st.booleans()):
        data["url"] = draw(st.sampled_from(["https://x/ab", "ab", "b"]))
    if draw(st.booleans()):
        data["body"] = draw(st.sampled_from(["Yes", "no way", "NO"]))
    return ContactEvent(id="e", contact_id="c", type=type_, data=data)


@settings(max_examples=500, deadline=None)
@given(
    automation=automations(),
    event=events(),
    context=st.dictionaries(st.sampled_from(["order", "k"]), VALUES, max_size=2),
    age=st.sampled_from([None, timedelta(minutes=5), timedelta(hours=5), timedelta(days=2)]),
)
def test_the_goals_met_are_those_every_criterion_finds(
    automation: Automation, event: ContactEvent, context: dict[str, Any], age: timedelta | None
) -> None:
    assert goals_met_by(automation, event, AID, context, age) == scanning(
        automation, event, context, age
    )
