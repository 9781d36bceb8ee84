"""if_else conditions on the contact's tags and fields."""

from __future__ import annotations

from typing import Any

from workflows.definition import AllOf, AnyOf, Condition, FieldCondition, HasTag, LacksTag, Not
from workflows.json_values import json_equal
from workflows.messages import ContactSnapshot
from workflows.tags import AnyCase, find_tag, never

_MISSING = object()


def condition_holds(
    condition: Condition, contact: ContactSnapshot, any_case: AnyCase = never
) -> bool:
    """`any_case`: whether tags may differ in case (workflows/tags.py)."""
    match condition:
        case HasTag():
            return find_tag(contact.tags, condition.has_tag, any_case) is not None
        case LacksTag():
            return find_tag(contact.tags, condition.lacks_tag, any_case) is None
        case AllOf():
            return all(condition_holds(c, contact, any_case) for c in condition.all)
        case AnyOf():
            return any(condition_holds(c, contact, any_case) for c in condition.any)
        case Not():
            return not condition_holds(condition.not_, contact, any_case)
        case FieldCondition():
            return _field_holds(condition, contact.fields.get(condition.field, _MISSING))
    return False


def _field_holds(condition: FieldCondition, value: Any) -> bool:
    given = condition.model_fields_set
    if "exists" in given:
        return (value is not _MISSING and value is not None) == condition.exists
    if value is _MISSING:
        return "not_equals" in given
    if "equals" in given:
        return json_equal(value, condition.equals)
    if "not_equals" in given:
        return not json_equal(value, condition.not_equals)
    if "in_" in given:
        return any(json_equal(value, option) for option in condition.in_ or [])
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    for name, test in (
        ("gt", lambda a, b: a > b),
        ("gte", lambda a, b: a >= b),
        ("lt", lambda a, b: a < b),
        ("lte", lambda a, b: a <= b),
    ):
        if name in given:
            return bool(test(value, getattr(condition, name)))
    return False
