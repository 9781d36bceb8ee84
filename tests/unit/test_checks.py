"""The checks of a valid definition (goalflow/core/checks.py): for each code, a definition that
triggers it (with the `loc` of the field to change) and one that does not."""

from __future__ import annotations

from typing import Any

import pytest

from goalflow.core.checks import check_automation
from goalflow.core.validation import parse_automation

MAIL = {
    "id": "mail",
    "type": "send_email",
    "subject": "Hi",
    "html": '<a href="https://x.test/book?a=1">book</a>',
}
WAIT = {"id": "pause", "type": "wait", "duration": "P1D"}
TAG = {"id": "tag", "type": "add_tag", "tag": "t"}
END = {"id": "stop", "type": "end"}
BUY = [{"event": "custom", "name": "buy"}]
BRANCH_TO_END = {
    "id": "branch",
    "type": "if_else",
    "if": {"has_tag": "a"},
    "then": "stop",
    "else": "stop",
}


def goal(**fields: Any) -> dict[str, Any]:
    return {"id": "goal", "type": "goal", "any_of": BUY, **fields}


def problems(
    *steps: dict[str, Any], links: set[str] | None = None, **extra: Any
) -> list[tuple[str, list[Any]]]:
    automation, _ = parse_automation({"name": "checked", "steps": list(steps), **extra})
    return [(p.code, p.loc) for p in check_automation(automation, links)]


def test_a_clean_definition_has_no_problems() -> None:
    assert problems(MAIL, WAIT, goal(if_unmet={"action": "wait", "timeout": "P2D"}), TAG) == []


@pytest.mark.parametrize(
    ("unreachable", "steps"),
    [
        (2, (MAIL, END, TAG)),  # after an end
        (1, (BRANCH_TO_END, TAG, END)),  # after a branch, named by nothing
        (1, (goal(on_met={"action": "end"}, if_unmet={"action": "end"}), TAG)),  # always ends
        (1, (END, goal())),  # a goal after an end, no step above that can hold a contact
    ],
)
def test_unreachable_step(unreachable: int, steps: tuple[dict[str, Any], ...]) -> None:
    assert problems(*steps) == [("unreachable_step", ["steps", unreachable])]


def test_reachable_by_a_jump_an_early_goal_or_anywhere() -> None:
    # Named by a branch.
    branch = {
        "id": "branch",
        "type": "if_else",
        "if": {"has_tag": "a"},
        "then": "tag",
        "else": "stop",
    }
    assert problems(branch, END, TAG) == []
    # Named by a goal's on_met.
    jumps = goal(on_met={"action": "goto", "step": "tag"}, if_unmet={"action": "end"})
    assert problems(WAIT, jumps, TAG) == []
    assert problems(jumps, TAG, END, {**TAG, "id": "never"}) == [("unreachable_step", ["steps", 3])]
    # A goal below an end, met early by a contact waiting above it (R3).
    assert problems(WAIT, END, goal()) == []
    # jump_from anywhere: always reachable.
    assert problems(END, goal(jump_from="anywhere")) == []


def test_wait_forever() -> None:
    assert problems(goal(if_unmet={"action": "wait"})) == [
        ("wait_forever", ["steps", 0, "if_unmet", "timeout"])
    ]
    assert problems(goal(if_unmet={"action": "wait", "timeout": "P14D"})) == []


def test_goal_before_its_email() -> None:
    opened = [{"event": "email.opened", "email_step": "mail"}]
    assert problems(WAIT, goal(any_of=opened), MAIL) == [
        ("goal_before_its_email", ["steps", 1, "any_of", 0, "email_step"])
    ]
    assert problems(MAIL, goal(any_of=opened)) == []
    assert problems(WAIT, goal(any_of=opened, jump_from="anywhere"), MAIL) == []


def test_link_not_in_email() -> None:
    def clicked(url: str) -> list[dict[str, Any]]:
        return [{"event": "email.clicked", "email_step": "mail", "url": url}]

    assert problems(MAIL, goal(any_of=clicked("https://x.test/other"))) == [
        ("link_not_in_email", ["steps", 1, "any_of", 0, "url"])
    ]
    assert problems(MAIL, goal(any_of=clicked("https://x.test/book*"))) == []
    assert problems(MAIL, goal(any_of=clicked("https://x.test/book?a=1"))) == []
    # A trigger on a click is checked the same way.
    trigger = {"event": "email.clicked", "email_step": "mail", "url": "https://nowhere.test/"}
    assert problems(MAIL, triggers=[trigger]) == [("link_not_in_email", ["triggers", 0, "url"])]
    # A link written as a template could be anything: no warning.
    templated = {**MAIL, "html": "<a href=\"{{ trigger_link('book') }}\">book</a>"}
    assert problems(templated, goal(any_of=clicked("https://x.test/other"))) == []


def test_unknown_trigger_link() -> None:
    mail = {**MAIL, "html": "<a href=\"{{ trigger_link('book-call') }}\">book</a>"}
    link_goal = goal(any_of=[{"event": "trigger_link.clicked", "link_id": "book-call"}])
    assert problems(mail, link_goal, links=set()) == [
        ("unknown_trigger_link", ["steps", 0, "html"]),
        ("unknown_trigger_link", ["steps", 1, "any_of", 0, "link_id"]),
    ]
    assert problems(mail, link_goal, links={"book-call"}) == []
    trigger = {"event": "trigger_link.clicked", "link_id": "nope"}
    assert problems(MAIL, triggers=[trigger], links=set()) == [
        ("unknown_trigger_link", ["triggers", 0, "link_id"])
    ]


def test_every_path_of_a_split_is_reachable_and_what_follows_the_split_is_not() -> None:
    split = {
        "id": "ab",
        "type": "split",
        "paths": [
            {"id": "a", "weight": 50, "next": "mail"},
            {"id": "b", "weight": 50, "next": "tag"},
        ],
    }
    # The split always jumps: the step right after it is reached only because a path names it.
    done = {"id": "done", "type": "end"}
    assert problems(split, MAIL, END, TAG, done) == []
    assert problems(split, WAIT, MAIL, END, TAG, done) == [("unreachable_step", ["steps", 1])]
