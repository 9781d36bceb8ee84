"""A large automation: criteria per automation are capped at publish, and the work an event costs
an enrollment is that of the criteria that can meet it, not of every criterion."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import workflows.matching as matching
from goalflow.core.validation import parse_automation
from workflows.criteria_limits import MAX_GLOB_CHARACTERS, MAX_GOAL_CRITERIA, MAX_WHERE_BYTES
from workflows.events import ContactEvent
from workflows.matching import goals_met_by


def large(goal_steps: int, per_step: int, criterion: Any = None) -> dict[str, Any]:
    """The automation of the report: goal steps of `custom` criteria, each with its own name."""
    steps: list[dict[str, Any]] = [{"id": "hold", "type": "wait", "duration": "P1D"}]
    for i in range(goal_steps):
        any_of = [
            criterion(i, j) if criterion else {"event": "custom", "name": f"n{i}-{j}"}
            for j in range(per_step)
        ]
        steps.append({"id": f"g{i}", "type": "goal", "any_of": any_of})
    return {"name": "large", "steps": steps}


def test_the_reported_automation_is_refused_at_the_first_criterion_past_the_cap() -> None:
    with pytest.raises(ValidationError) as refused:
        parse_automation(large(499, 20))
    errors = refused.value.errors()
    assert [e["type"] for e in errors] == ["too_many_criteria"]
    # criterion number MAX_GOAL_CRITERIA + 1: goal step 50 (after the wait step), criterion 0
    assert errors[0]["loc"] == ("steps", MAX_GOAL_CRITERIA // 20 + 1, "any_of", 0)


def test_an_automation_at_the_cap_is_accepted() -> None:
    parse_automation(large(MAX_GOAL_CRITERIA // 20, 20))


def test_patterns_and_where_objects_are_capped_together() -> None:
    url = "https://shop.example/" + "x" * 979  # 1,000 characters
    count = MAX_GLOB_CHARACTERS // len(url)
    parse_automation(large(1, count, lambda i, j: {"event": "email.clicked", "url": url}))
    with pytest.raises(ValidationError) as refused:
        parse_automation(large(1, count + 1, lambda i, j: {"event": "email.clicked", "url": url}))
    assert [e["loc"] for e in refused.value.errors()] == [("steps", 1, "any_of", count, "url")]

    value = "v" * 990
    count = MAX_WHERE_BYTES // len(f'{{"k":"{value}"}}')
    where = {"event": "custom", "where": {"k": value}}
    parse_automation(large(1, min(count, 50), lambda i, j: where))
    with pytest.raises(ValidationError) as refused:
        parse_automation(large(2, 50, lambda i, j: where))
    assert [e["type"] for e in refused.value.errors()] == ["where_too_large"]


def test_an_event_costs_the_criteria_that_can_meet_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reported automation, as an enrollment already running may hold it (the matcher takes
    # any definition): 9,980 criteria. Each event used to be tried against all of them.
    automation, _ = parse_automation(large(MAX_GOAL_CRITERIA // 20, 20))
    automation = automation.model_copy(
        update={"steps": parse_automation(large(40, 20))[0].steps * 12}
    )
    tried = 0
    real = matching.criterion_matches

    def counting(*args: Any) -> bool:
        nonlocal tried
        tried += 1
        return real(*args)

    monkeypatch.setattr(matching, "criterion_matches", counting)
    for n in range(50):
        name = f"n{n % 40}-{n % 20}" if n % 2 else f"nobody-{n}"
        event = ContactEvent(id=f"e{n}", contact_id="c", type="custom", data={"name": name})
        goals_met_by(automation, event, "large")
        goals_met_by(automation, event.model_copy(update={"type": "email.opened"}), "large")
    # 25 named events, each met by the 12 copies of its criterion; nothing else is tried.
    assert tried == 25 * 12
