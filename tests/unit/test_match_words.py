"""Why an event did not match, in words: the first failed filter, and None exactly when matching
says it matches (the words never decide)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from workflows.definition import CustomGoalCriterion, Trigger
from workflows.events import ContactEvent
from workflows.match_words import why_goal_not, why_not
from workflows.matching import criterion_matches

TRIGGER: TypeAdapter[Any] = TypeAdapter(Trigger)


def event(type: str, **data: Any) -> ContactEvent:
    return ContactEvent.model_validate({"id": "e", "contact_id": "c", "type": type, "data": data})


CASES: list[tuple[dict[str, Any], ContactEvent, str | None]] = [
    ({"event": "appointment.status_changed", "status": ["confirmed"]},
     event("appointment.status_changed", status="cancelled"),
     'status "cancelled" is not one of ["confirmed"]'),
    ({"event": "appointment.status_changed", "status": ["confirmed"], "calendar_id": "cal-1"},
     event("appointment.status_changed", status="confirmed", calendar_id="cal-2"),
     'calendar_id "cal-2" is not "cal-1"'),
    ({"event": "contact.tag_added", "tag": "vip"}, event("contact.tag_added", tag="vip-gold"),
     'tag "vip-gold" is not "vip"'),
    ({"event": "contact.tag_added", "tag": "vip"}, event("contact.tag_removed", tag="vip"),
     'type "contact.tag_removed" is not "contact.tag_added"'),
    ({"event": "custom", "name": "buy"}, event("custom", name="browse"),
     'name "browse" is not "buy"'),
    ({"event": "custom", "name": "buy", "where": {"plan": "pro"}}, event("custom", name="buy"),
     'data.plan is missing (wanted "pro")'),
    ({"event": "custom", "where": {"plan": "pro", "seats": 3}},
     event("custom", plan="pro", seats=2), "data.seats 2 is not 3"),
    ({"event": "email.clicked", "url": "https://shop.example/*"},
     event("email.clicked", url="https://blog.example/"),
     'url "https://blog.example/" does not match "https://shop.example/*"'),
    ({"event": "sms.received", "body_matches": "yes*"}, event("sms.received", body="no thanks"),
     'body "no thanks" does not match "yes*"'),
    ({"event": "trigger_link.clicked", "link_id": "offer"},
     event("trigger_link.clicked", link_id="other"), 'link_id "other" is not "offer"'),
    ({"event": "contact.updated", "field": "plan"}, event("contact.updated", changed=["email"]),
     '"plan" is not among the changed fields ["email"]'),
    ({"event": "custom", "name": "buy", "where": {"plan": "pro"}},
     event("custom", name="buy", plan="pro"), None),
    ({"event": "contact.tag_added", "tag": "VIP"}, event("contact.tag_added", tag="vip"), None),
]  # fmt: skip


@pytest.mark.parametrize(("given", "found", "reason"), CASES)
def test_the_first_failed_filter_in_words(
    given: dict[str, Any], found: ContactEvent, reason: str | None
) -> None:
    trigger = TRIGGER.validate_python(given)
    assert why_not(trigger, found, "auto") == reason
    # The words follow matching: None exactly when it matches.
    assert (reason is None) == criterion_matches(trigger, found, "auto")


def test_a_goal_keyed_to_the_context_says_which_key_differs() -> None:
    criterion = CustomGoalCriterion(event="custom", name="paid", match_context=["order"])
    paid = event("custom", name="paid", order="A-2")
    assert why_goal_not(criterion, paid, "auto", {"order": "A-1"}) == (
        'data.order "A-2" is not the enrollment\'s context.order "A-1"'
    )
    assert why_goal_not(criterion, paid, "auto", {"order": "A-2"}) is None
