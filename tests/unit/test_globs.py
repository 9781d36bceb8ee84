"""Wildcard patterns (`url`, `body_matches`): linear-time, bounded, and exactly the results of the
`.*` regexes they replace."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from goalflow.core.validation import parse_automation
from workflows.definition import GoalCriterion, Trigger
from workflows.events import ContactEvent
from workflows.globs import MAX_GLOB_LENGTH, MAX_GLOB_WILDCARDS, MAX_MATCHED_TEXT, glob_matches
from workflows.matching import body_matches, criterion_matches, url_matches


def old_glob(pattern: str, text: str, ignore_case: bool) -> bool:
    """The matcher as it was: `*` became `.*` in a regex, matched with `fullmatch`."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), flags)
    return regex.fullmatch(text) is not None


# Few letters, so that random patterns and texts share many; cased letters with tricky
# folds (long s, Kelvin sign, dotless i, dotted I, sharp s, final sigma), a newline, regex
# metacharacters that must stay literal.
ALPHABET = "aAbB*sSſkKKiIıİßσςΣ\n.?+\\[]()^$"
patterns = st.text(alphabet=ALPHABET, max_size=12)
texts = st.text(alphabet=ALPHABET.replace("*", "") + "*", max_size=24)


@settings(max_examples=3000, deadline=None)
@given(pattern=patterns, text=texts, ignore_case=st.booleans())
@example(pattern="*a*a*a*a*b", text="a" * 30, ignore_case=False)
@example(pattern="a*", text="A", ignore_case=True)
@example(pattern="*ab*ba*", text="aba", ignore_case=False)
@example(pattern="**", text="", ignore_case=False)
@example(pattern="a*a", text="a", ignore_case=False)
@example(pattern="ſ*", text="S", ignore_case=True)
def test_results_are_those_of_the_old_regex(pattern: str, text: str, ignore_case: bool) -> None:
    assert glob_matches(pattern, text, ignore_case) == old_glob(pattern, text, ignore_case)


@settings(max_examples=500, deadline=None)
@given(
    parts=st.lists(st.text(alphabet="ab", min_size=1, max_size=3), min_size=1, max_size=5),
    text=st.text(alphabet="ab", max_size=40),
)
def test_results_agree_on_patterns_made_of_short_parts(parts: list[str], text: str) -> None:
    for pattern in ("*".join(parts), "*" + "*".join(parts) + "*", "*".join(parts) + "*"):
        assert url_matches(pattern, text) == old_glob(pattern, text, False)
        assert body_matches(pattern, text.upper()) == old_glob(pattern, text.upper(), True)


def test_the_issue_pattern_on_a_long_run_of_the_same_letter_is_quick() -> None:
    # `*a*a*a*a*b` against 200 x "a" took seconds with the regex (about 10^8 steps of
    # backtracking); the matcher needs five literal searches, microseconds. The bound is a
    # thousandfold above that, for any load.
    started = time.perf_counter()
    assert not url_matches("*a*a*a*a*b", "a" * 200)
    assert not body_matches("*a*a*a*a*b", "A" * 200)
    assert time.perf_counter() - started < 1.0


def test_the_matcher_reads_only_the_first_characters_of_a_text() -> None:
    long = "https://shop.example/" + "x" * MAX_MATCHED_TEXT + "/end"
    assert url_matches("https://shop.example/*", long)
    assert not url_matches("*/end", long)
    assert url_matches("*x", long)


def test_the_worst_pattern_within_the_bounds_on_the_longest_text_is_quick() -> None:
    # The costliest shape: parts that almost match everywhere, case-insensitive.
    part = "a" * (MAX_GLOB_LENGTH // (MAX_GLOB_WILDCARDS + 1) - 1) + "b"
    pattern = "*" + "*".join([part] * (MAX_GLOB_WILDCARDS - 1)) + "*"
    assert len(pattern) <= MAX_GLOB_LENGTH and pattern.count("*") == MAX_GLOB_WILDCARDS
    started = time.perf_counter()
    assert not body_matches(pattern, "a" * MAX_MATCHED_TEXT)
    assert time.perf_counter() - started < 2.0


# --- bounds at validation --------------------------------------------------------------------

_goal = TypeAdapter(GoalCriterion)
_trigger = TypeAdapter(Trigger)


def _definition(criterion: dict[str, Any], where: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "mail", "type": "send_email", "subject": "s", "html": "h"}
    ]
    if where == "goal":
        steps.append({"id": "g", "type": "goal", "any_of": [criterion]})
        return {"name": "a", "steps": steps}
    return {"name": "a", "triggers": [criterion], "steps": steps}


@pytest.mark.parametrize("where", ["goal", "trigger"])
@pytest.mark.parametrize(
    ("criterion", "field"),
    [
        ({"event": "email.clicked", "url": "x" * (MAX_GLOB_LENGTH + 1)}, "url"),
        ({"event": "email.clicked", "url": "*a" * (MAX_GLOB_WILDCARDS + 1)}, "url"),
        ({"event": "sms.received", "body_matches": "y" * (MAX_GLOB_LENGTH + 1)}, "body_matches"),
        ({"event": "sms.received", "body_matches": "*" * (MAX_GLOB_WILDCARDS + 1)}, "body_matches"),
    ],
)
def test_a_pattern_over_the_bounds_is_refused_with_its_path(
    criterion: dict[str, Any], field: str, where: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_automation(_definition(criterion, where))
    locs = [e["loc"] for e in refused.value.errors()]
    expected = ("steps", 1, "any_of", 0, field) if where == "goal" else ("triggers", 0, field)
    assert expected in locs


@pytest.mark.parametrize("where", ["goal", "trigger"])
def test_patterns_at_the_bounds_are_accepted(where: str) -> None:
    at_bound = "*" * MAX_GLOB_WILDCARDS + "x" * (MAX_GLOB_LENGTH - MAX_GLOB_WILDCARDS)
    for criterion in (
        {"event": "email.clicked", "url": at_bound},
        {"event": "sms.received", "body_matches": at_bound},
    ):
        parse_automation(_definition(criterion, where))


def test_criteria_use_the_bounded_matcher() -> None:
    criterion = _goal.validate_python({"event": "email.clicked", "url": "*a*a*a*a*b"})
    event = ContactEvent(id="e", contact_id="c", type="email.clicked", data={"url": "a" * 200})
    started = time.perf_counter()
    assert not criterion_matches(criterion, event, "auto")
    assert time.perf_counter() - started < 1.0
