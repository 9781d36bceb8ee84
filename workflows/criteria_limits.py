"""How much matching a definition may ask for, checked at publish (goalflow/core/validation.py).

Every event a contact receives is matched against the goal criteria of each of its enrollments
inside a workflow task, and against the triggers of every automation in the process that accepts
it (R14). The limits below keep the worst case of that work small (docs/security.md, "Limits",
has the measurements): a definition that passes them costs at most a few milliseconds per event,
whatever the events.

Only definitions published from now on are held to them: an enrollment keeps the definition it
started with, and the matcher takes any definition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from workflows.definition import (
    Automation,
    CustomCriterion,
    EmailCriterion,
    GoalStep,
    SmsCriterion,
)
from workflows.globs import MAX_GLOB_LENGTH, MAX_GLOB_WILDCARDS

Loc = tuple[int | str, ...]

# Goal criteria in all of an automation's goal steps together (a step has at most 50).
MAX_GOAL_CRITERIA = 1000
# Characters of all `url` and `body_matches` patterns of an automation together (goals and
# triggers): a pattern costs up to its length x the text's length to match.
MAX_GLOB_CHARACTERS = 4000
# Matches (each criterion's `min_count`, else 1) all `sequence` goals with `within` of an
# automation need together: each keeps up to one attempt per match (R21).
MAX_WINDOWED_MATCHES = 1000
# Bytes of JSON of all `where` objects of an automation together: comparing an event with them
# costs up to their size.
MAX_WHERE_BYTES = 64 * 1024


def _criteria(automation: Automation) -> Iterator[tuple[Loc, object]]:
    for i, trigger in enumerate(automation.triggers):
        yield ("triggers", i), trigger
    for i, step in enumerate(automation.steps):
        if isinstance(step, GoalStep):
            for j, criterion in enumerate(step.criteria):
                yield ("steps", i, step.kind, j), criterion


def _pattern(criterion: object) -> tuple[str, str] | None:
    if isinstance(criterion, EmailCriterion) and criterion.url is not None:
        return "url", criterion.url
    if isinstance(criterion, SmsCriterion) and criterion.body_matches is not None:
        return "body_matches", criterion.body_matches
    return None


def criteria_errors(automation: Automation) -> list[tuple[Loc, str, str]]:
    """(path, error type, message) for each limit the definition passes, at the first field
    that passes it."""
    errors: list[tuple[Loc, str, str]] = []
    goals = glob_characters = where_bytes = 0
    for loc, criterion in _criteria(automation):
        if loc[0] == "steps":
            goals += 1
            if goals == MAX_GOAL_CRITERIA + 1:
                errors.append(
                    (
                        loc,
                        "too_many_criteria",
                        f"an automation has at most {MAX_GOAL_CRITERIA} goal criteria in all "
                        "its goal steps; this is one more (give a custom criterion a `name` "
                        "and use fewer, or split the automation)",
                    )
                )
        found = _pattern(criterion)
        if found is not None:
            field, pattern = found
            wildcards = pattern.count("*")
            if len(pattern) > MAX_GLOB_LENGTH:
                errors.append(
                    (
                        (*loc, field),
                        "pattern_too_long",
                        f"a pattern has at most {MAX_GLOB_LENGTH} characters; "
                        f"this one has {len(pattern)}",
                    )
                )
            elif wildcards > MAX_GLOB_WILDCARDS:
                errors.append(
                    (
                        (*loc, field),
                        "too_many_wildcards",
                        f"a pattern has at most {MAX_GLOB_WILDCARDS} `*`; this one has {wildcards}",
                    )
                )
            before = glob_characters
            glob_characters += len(pattern)
            if before <= MAX_GLOB_CHARACTERS < glob_characters:
                errors.append(
                    (
                        (*loc, field),
                        "too_many_pattern_characters",
                        f"the url and body_matches patterns of an automation have at most "
                        f"{MAX_GLOB_CHARACTERS} characters together; with this one they "
                        f"have {glob_characters}",
                    )
                )
        if isinstance(criterion, CustomCriterion) and criterion.where:
            before = where_bytes
            where_bytes += len(json.dumps(criterion.where, separators=(",", ":")))
            if before <= MAX_WHERE_BYTES < where_bytes:
                errors.append(
                    (
                        (*loc, "where"),
                        "where_too_large",
                        f"the `where` objects of an automation have at most {MAX_WHERE_BYTES} "
                        f"bytes of JSON together; with this one they have {where_bytes}",
                    )
                )
    return errors + _windowed_sequence_errors(automation)


def _windowed_sequence_errors(automation: Automation) -> list[tuple[Loc, str, str]]:
    """A `sequence` goal with `within` keeps up to one attempt per match it needs (R21,
    workflows/goal_counting.py): the matches all such goals need are bounded together, and
    with them what an enrollment carries."""
    needed = 0
    for i, step in enumerate(automation.steps):
        if not isinstance(step, GoalStep) or step.sequence is None or step.within is None:
            continue
        for j, criterion in enumerate(step.sequence):
            before = needed
            needed += criterion.needed
            if before <= MAX_WINDOWED_MATCHES < needed:
                return [
                    (
                        ("steps", i, "sequence", j, "min_count"),
                        "too_many_sequence_matches",
                        f"the sequence goals with `within` of an automation need at most "
                        f"{MAX_WINDOWED_MATCHES} matches together (each criterion its "
                        f"min_count, else 1); with this one they need {needed}",
                    )
                ]
    return []
