"""The payment, subscription and order events' filters (docs/automations.md): `product` among
the event's products, `amount_at_least` in minor units, `currency` in any case."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from workflows.definition import GoalCriterion, Trigger
from workflows.events import ContactEvent
from workflows.matching import criterion_matches

_criterion = TypeAdapter(GoalCriterion)
_trigger = TypeAdapter(Trigger)

PAID = {"products": ["prod_A", "prod_B"], "amount": 2000, "currency": "usd"}

# (criterion, event type, event data, expected)
CASES: list[tuple[dict[str, Any], str, dict[str, Any], bool]] = [
    ({"event": "payment.succeeded"}, "payment.succeeded", {}, True),
    ({"event": "payment.succeeded"}, "payment.refunded", PAID, False),
    ({"event": "payment.succeeded", "product": "prod_B"}, "payment.succeeded", PAID, True),
    ({"event": "payment.succeeded", "product": "prod_C"}, "payment.succeeded", PAID, False),
    ({"event": "payment.succeeded", "product": "prod_A"}, "payment.succeeded", {}, False),
    ({"event": "payment.refunded", "amount_at_least": 2000}, "payment.refunded", PAID, True),
    ({"event": "payment.refunded", "amount_at_least": 2001}, "payment.refunded", PAID, False),
    (
        {"event": "payment.refunded", "amount_at_least": 1},
        "payment.refunded",
        {"amount": "5"},
        False,
    ),
    (
        {"event": "payment.refunded", "amount_at_least": 1},
        "payment.refunded",
        {"amount": True},
        False,
    ),
    ({"event": "subscription.started", "currency": "USD"}, "subscription.started", PAID, True),
    ({"event": "subscription.cancelled", "currency": "eur"}, "subscription.cancelled", PAID, False),
    (
        {"event": "order.placed", "product": "632910392"},
        "order.placed",
        {"products": ["632910392"]},
        True,
    ),
    (
        {"event": "order.fulfilled", "amount_at_least": 100},
        "order.fulfilled",
        {"amount": 99},
        False,
    ),
    ({"event": "order.cancelled"}, "order.cancelled", {}, True),
]


@pytest.mark.parametrize(("criterion", "type_", "data", "expected"), CASES)
def test_money_filters(
    criterion: dict[str, Any], type_: str, data: dict[str, Any], expected: bool
) -> None:
    event = ContactEvent(id="evt-1", contact_id="c-1", type=type_, data=data)
    assert criterion_matches(_criterion.validate_python(criterion), event, "a-1") is expected
    as_trigger = _trigger.validate_python({**criterion, "id": "t"})
    assert criterion_matches(as_trigger, event, "a-1") is expected


@pytest.mark.parametrize(
    "criterion",
    [
        {"event": "order.placed", "currency": "usd"},  # orders have no currency filter
        {"event": "payment.succeeded", "amount_at_least": -1},
        {"event": "payment.succeeded", "currency": "dollars"},
        {"event": "payment.succeeded", "product": ""},
    ],
)
def test_bad_filters_are_refused(criterion: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _criterion.validate_python(criterion)
