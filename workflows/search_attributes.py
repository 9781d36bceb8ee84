"""The search attributes the workflows write: the one list that the worker, `goalflow dev`, the
test servers and the visibility queries read. deploy/temporal/setup-namespace.sh repeats it in
shell (a test keeps the two equal); docs/temporal-ui.md says what each holds."""

from __future__ import annotations

import json
from typing import Any

from temporalio.common import SearchAttributeKey

CONTACT_ID = SearchAttributeKey.for_keyword("GoalflowContactId")
AUTOMATION_ID = SearchAttributeKey.for_keyword("GoalflowAutomationId")
STEP = SearchAttributeKey.for_keyword("GoalflowStep")
GOALS_MET = SearchAttributeKey.for_keyword_list("GoalflowGoalsMet")
VERSION = SearchAttributeKey.for_int("GoalflowVersion")
# The steps an enrollment has reached so far: per-step counts come from visibility (count
# queries), at no extra Temporal action (set in the upserts each step already makes).
REACHED = SearchAttributeKey.for_keyword_list("GoalflowReached")

# Temporal refuses (and fails the workflow for) a search attribute value over 2,048 bytes.
KEYWORD_LIST_BYTES = 1_900


def fit_keyword_list(values: list[str], limit: int = KEYWORD_LIST_BYTES) -> list[str]:
    """The leading values whose JSON array stays within `limit` bytes: an automation of
    hundreds of steps shows its first steps in visibility instead of failing its enrollments."""
    size = 2  # the brackets
    kept: list[str] = []
    for value in values:
        size += len(json.dumps(value).encode()) + (1 if kept else 0)
        if size > limit:
            break
        kept.append(value)
    return kept


SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    CONTACT_ID,
    AUTOMATION_ID,
    STEP,
    GOALS_MET,
    VERSION,
    REACHED,
)
