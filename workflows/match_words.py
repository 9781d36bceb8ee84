"""Why an event did not match a trigger or a goal criterion, in words (explain, docs/api.md).

Pure functions beside workflows/matching.py, which alone decides: `why_not` follows the same
filters in the same order and names the first that failed, or answers None when the event
matches. It never changes what matching decides (tests/test_match_words.py checks that it
answers None exactly when `criterion_matches` is true).
"""

from __future__ import annotations

import json
from typing import Any

from workflows.definition import (
    AppointmentCriterion,
    ContactUpdatedCriterion,
    CustomCriterion,
    EmailCriterion,
    GoalCriterion,
    SmsCriterion,
    TagCriterion,
    TriggerLinkCriterion,
)
from workflows.events import ContactEvent
from workflows.json_values import json_equal
from workflows.matching import (
    EventFilter,
    body_matches,
    context_matches,
    criterion_matches,
)
from workflows.tags import always

# How much of a value a reason quotes.
QUOTED_CHARS = 80


def quoted(value: Any) -> str:
    """A value as JSON, cut to QUOTED_CHARS; a missing value is `missing`."""
    if value is None:
        return "missing"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 1] + "…"


def _why_filter(criterion: EventFilter, event: ContactEvent, automation_id: str) -> str:
    """The first filter of `criterion` that `event` (of its type) fails, in matching's order."""
    data = event.data
    match criterion:
        case EmailCriterion(email_step=step) if step is not None and (
            data.get("email_step") != step
        ):
            return f"email_step {quoted(data.get('email_step'))} is not {quoted(step)}"
        case EmailCriterion(email_step=step) if step is not None and (
            data.get("automation_id") != automation_id
        ):
            return f"the email was sent by automation {quoted(data.get('automation_id'))}"
        case EmailCriterion(url=pattern) if pattern is not None:
            return f"url {quoted(data.get('url'))} does not match {quoted(pattern)}"
        case TriggerLinkCriterion(link_id=link):
            return f"link_id {quoted(data.get('link_id'))} is not {quoted(link)}"
        case TagCriterion(tag=tag):
            return f"tag {quoted(data.get('tag'))} is not {quoted(tag)}"
        case AppointmentCriterion(status=statuses) if statuses is not None and (
            data.get("status") not in statuses
        ):
            return f"status {quoted(data.get('status'))} is not one of {quoted(list(statuses))}"
        case AppointmentCriterion(calendar_id=calendar):
            return f"calendar_id {quoted(data.get('calendar_id'))} is not {quoted(calendar)}"
        case SmsCriterion(body_matches=pattern) if pattern is not None and not (
            isinstance(data.get("body"), str) and body_matches(pattern, data["body"])
        ):
            return f"body {quoted(data.get('body'))} does not match {quoted(pattern)}"
        case CustomCriterion(name=name) if name is not None and data.get("name") != name:
            return f"name {quoted(data.get('name'))} is not {quoted(name)}"
        case CustomCriterion(where=where):
            for key, value in where.items():
                if key not in data:
                    return f"data.{key} is missing (wanted {quoted(value)})"
                if not json_equal(data[key], value):
                    return f"data.{key} {quoted(data[key])} is not {quoted(value)}"
        case ContactUpdatedCriterion(field=field):
            return f"{quoted(field)} is not among the changed fields {quoted(data.get('changed'))}"
    return "it does not match"


def why_not(criterion: EventFilter, event: ContactEvent, automation_id: str) -> str | None:
    """None when `event` matches `criterion` (as workflows/matching.py decides); else the first
    filter that failed, in words: `status "cancelled" is not one of ["confirmed"]`."""
    if criterion_matches(criterion, event, automation_id, always):
        return None
    if criterion.event != event.type:
        return f"type {quoted(event.type)} is not {quoted(criterion.event)}"
    return _why_filter(criterion, event, automation_id)


def why_goal_not(
    criterion: GoalCriterion,
    event: ContactEvent,
    automation_id: str,
    context: dict[str, Any],
) -> str | None:
    """As `why_not`, for a goal criterion met by an event after the enrollment, with its
    `match_context` keys."""
    reason = why_not(criterion, event, automation_id)
    if reason is not None:
        return reason
    keys = criterion.match_context or []
    if context_matches(keys, event.data, context):
        return None
    for key in keys:
        if not context_matches([key], event.data, context):
            return (
                f"data.{key} {quoted(event.data.get(key))} is not the enrollment's "
                f"context.{key} {quoted(context.get(key))}"
            )
    return "it does not match"
