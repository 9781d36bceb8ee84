"""Goal matching: which criteria an event meets. Pure functions, table-tested."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from workflows.definition import (
    AppointmentCriterion,
    Automation,
    ContactCreatedCriterion,
    ContactUpdatedCriterion,
    CustomCriterion,
    EmailCriterion,
    GoalCriterion,
    OrderCriterion,
    PaymentCriterion,
    SmsCriterion,
    TagCriterion,
    TriggerLinkCriterion,
)
from workflows.durations import parse_duration
from workflows.events import ContactEvent
from workflows.globs import glob_matches
from workflows.goal_index import goal_index
from workflows.json_values import json_equal
from workflows.tags import AnyCase, always, same_tag


def url_matches(pattern: str, url: str) -> bool:
    """`*` matches any run of characters (including none); everything else is literal. Only
    the first `MAX_MATCHED_TEXT` characters of `url` count (workflows/globs.py)."""
    return glob_matches(pattern, url)


def body_matches(pattern: str, body: str) -> bool:
    """As `url_matches`, ignoring case: `yes*` matches "Yes please" and "YES"."""
    return glob_matches(pattern, body, ignore_case=True)


# The filters a goal criterion and a trigger share.
EventFilter = (
    EmailCriterion
    | TriggerLinkCriterion
    | TagCriterion
    | AppointmentCriterion
    | CustomCriterion
    | SmsCriterion
    | PaymentCriterion
    | OrderCriterion
    | ContactCreatedCriterion
    | ContactUpdatedCriterion
)


def criterion_matches(
    criterion: EventFilter, event: ContactEvent, automation_id: str, any_case: AnyCase = always
) -> bool:
    """`any_case`: whether tags may differ in case (workflows/tags.py)."""
    if criterion.event != event.type:
        return False
    data = event.data
    match criterion:
        case EmailCriterion():
            if criterion.email_step is not None and (
                data.get("email_step") != criterion.email_step
                or data.get("automation_id") != automation_id
            ):
                return False
            if criterion.url is not None:
                url = data.get("url")
                return isinstance(url, str) and url_matches(criterion.url, url)
            return True
        case TriggerLinkCriterion():
            return criterion.link_id is None or data.get("link_id") == criterion.link_id
        case TagCriterion():
            return criterion.tag is None or same_tag(data.get("tag"), criterion.tag, any_case)
        case AppointmentCriterion():
            if criterion.status is not None and data.get("status") not in criterion.status:
                return False
            return criterion.calendar_id is None or data.get("calendar_id") == criterion.calendar_id
        case SmsCriterion():
            if criterion.body_matches is None:
                return True
            body = data.get("body")
            return isinstance(body, str) and body_matches(criterion.body_matches, body)
        case CustomCriterion():
            if criterion.name is not None and data.get("name") != criterion.name:
                return False
            return all(
                key in data and json_equal(data[key], value)
                for key, value in criterion.where.items()
            )
        case PaymentCriterion() | OrderCriterion():
            return money_matches(criterion, data)
        case ContactCreatedCriterion():
            return True
        case ContactUpdatedCriterion():
            changed = data.get("changed")
            return criterion.field is None or (
                isinstance(changed, list) and criterion.field in changed
            )
    return False


def money_matches(criterion: PaymentCriterion | OrderCriterion, data: dict[str, Any]) -> bool:
    """`product`: among the event's `products`; `amount_at_least`: the event's `amount` (minor
    units) is at least that; `currency`: the event's, any case."""
    if criterion.product is not None:
        products = data.get("products")
        if not isinstance(products, list) or criterion.product not in products:
            return False
    if criterion.amount_at_least is not None:
        amount = data.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            return False
        if amount < criterion.amount_at_least:
            return False
    if isinstance(criterion, PaymentCriterion) and criterion.currency is not None:
        currency = data.get("currency")
        return isinstance(currency, str) and currency.lower() == criterion.currency.lower()
    return True


def context_matches(keys: list[str] | None, data: dict[str, Any], context: dict[str, Any]) -> bool:
    """`match_context`: for every key, the event's `data[key]` equals the enrollment's
    `context[key]` (JSON equality); a key missing or null on either side never matches."""
    if not keys:
        return True
    return all(
        data.get(key) is not None
        and context.get(key) is not None
        and json_equal(data[key], context[key])
        for key in keys
    )


def goal_criterion_matches(
    criterion: GoalCriterion,
    event: ContactEvent,
    automation_id: str,
    context: dict[str, Any],
    age: timedelta | None = None,
    any_case: AnyCase = always,
) -> bool:
    """`age`: for an event accepted before the enrollment, how long before; only a criterion
    whose `lookback` reaches that far back may match it (R15)."""
    if age is not None and (criterion.lookback is None or parse_duration(criterion.lookback) < age):
        return False
    return criterion_matches(criterion, event, automation_id, any_case) and context_matches(
        criterion.match_context, event.data, context
    )


def criteria_met_by(
    automation: Automation,
    event: ContactEvent,
    automation_id: str,
    context: dict[str, Any] | None = None,
    age: timedelta | None = None,
    any_case: AnyCase = always,
) -> dict[int, set[int]]:
    """The criteria `event` matches, by position of their goal step (in document order): the
    indices of each step's criteria (workflows/goal_counting.py counts them toward the goal).
    `context` is the enrollment's, for criteria keyed to it (`match_context`); `age` as for
    `goal_criterion_matches`. Only the criteria that can meet the event are tried
    (workflows/goal_index.py)."""
    context = context or {}
    data = event.data
    found: dict[int, set[int]] = {}
    # `match_context` keys already compared for this event: criteria share them, and a value
    # may be large (the context holds up to 16 KiB).
    keys_equal: dict[str, bool] = {}
    for position, index, criterion, lookback in goal_index(automation).candidates(event):
        if age is not None and (lookback is None or lookback < age):
            continue
        if not criterion_matches(criterion, event, automation_id, any_case):
            continue
        keys = criterion.match_context
        if keys and not all(_key_equal(key, data, context, keys_equal) for key in keys):
            continue
        found.setdefault(position, set()).add(index)
    return dict(sorted(found.items()))


def goals_met_by(
    automation: Automation,
    event: ContactEvent,
    automation_id: str,
    context: dict[str, Any] | None = None,
    age: timedelta | None = None,
    any_case: AnyCase = always,
) -> list[int]:
    """Positions of the goal steps with a criterion `event` matches, in document order (an
    `any_of` goal without `min_count` is met by it)."""
    return list(criteria_met_by(automation, event, automation_id, context, age, any_case))


def _key_equal(
    key: str, data: dict[str, Any], context: dict[str, Any], known: dict[str, bool]
) -> bool:
    """One key of `context_matches`, remembered in `known`."""
    found = known.get(key)
    if found is None:
        found = known[key] = context_matches([key], data, context)
    return found


def triggers_met_by(
    automation: Automation, event: ContactEvent, automation_id: str, any_case: AnyCase = always
) -> list[str]:
    """Ids of the triggers of `automation` that `event` matches, in document order."""
    return [
        automation.trigger_id(i)
        for i, trigger in enumerate(automation.triggers)
        if criterion_matches(trigger, event, automation_id, any_case)
    ]
