"""Goal matching (the criteria of docs/automations.md): which criteria an event meets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from workflows.definition import EMAIL_EVENTS, Automation, GoalCriterion
from workflows.events import ContactEvent
from workflows.matching import criterion_matches, goals_met_by, url_matches

AID = "auto-1"
OTHER_AID = "auto-2"

_criterion = TypeAdapter(GoalCriterion)


def event(type_: str, **data: Any) -> ContactEvent:
    return ContactEvent(id="evt-1", contact_id="c-1", type=type_, data=data)


def matches(criterion: dict[str, Any], ev: ContactEvent, automation_id: str = AID) -> bool:
    return criterion_matches(_criterion.validate_python(criterion), ev, automation_id)


# --- email events ----------------------------------------------------------------------------

# (criterion filters, event data, automation id the matcher runs for, expected)
EMAIL_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, bool]] = [
    ("no filter", {}, {}, AID, True),
    ("no filter, any data", {}, {"email_step": "x", "automation_id": OTHER_AID}, AID, True),
    (
        "step matches",
        {"email_step": "mail"},
        {"email_step": "mail", "automation_id": AID},
        AID,
        True,
    ),
    (
        "step of another automation",
        {"email_step": "mail"},
        {"email_step": "mail", "automation_id": OTHER_AID},
        AID,
        False,
    ),
    ("step without automation id", {"email_step": "mail"}, {"email_step": "mail"}, AID, False),
    (
        "other step",
        {"email_step": "mail"},
        {"email_step": "mail-2", "automation_id": AID},
        AID,
        False,
    ),
    ("step filter, no step in data", {"email_step": "mail"}, {"automation_id": AID}, AID, False),
    (
        "url exact",
        {"url": "https://shop.example/p/1"},
        {"url": "https://shop.example/p/1"},
        AID,
        True,
    ),
    (
        "url differs",
        {"url": "https://shop.example/p/1"},
        {"url": "https://shop.example/p/2"},
        AID,
        False,
    ),
    (
        "url glob",
        {"url": "https://shop.example/*"},
        {"url": "https://shop.example/p/1?utm=x"},
        AID,
        True,
    ),
    (
        "url glob matches empty run",
        {"url": "https://shop.example/*"},
        {"url": "https://shop.example/"},
        AID,
        True,
    ),
    (
        "url glob is anchored",
        {"url": "https://shop.example/*"},
        {"url": "https://evil.example/?r=https://shop.example/"},
        AID,
        False,
    ),
    (
        "url glob needs the prefix",
        {"url": "https://shop.example/*"},
        {"url": "https://shop.example"},
        AID,
        False,
    ),
    ("url filter, no url", {"url": "*"}, {}, AID, False),
    ("url filter, url not a string", {"url": "*"}, {"url": 5}, AID, False),
    (
        "step and url both match",
        {"email_step": "mail", "url": "*/buy"},
        {"email_step": "mail", "automation_id": AID, "url": "https://s.example/buy"},
        AID,
        True,
    ),
    (
        "step matches, url does not",
        {"email_step": "mail", "url": "*/buy"},
        {"email_step": "mail", "automation_id": AID, "url": "https://s.example/sell"},
        AID,
        False,
    ),
]


@pytest.mark.parametrize("event_type", EMAIL_EVENTS)
@pytest.mark.parametrize(
    ("filters", "data", "automation_id", "expected"),
    [case[1:] for case in EMAIL_CASES],
    ids=[case[0] for case in EMAIL_CASES],
)
def test_email_criteria(
    event_type: str,
    filters: dict[str, Any],
    data: dict[str, Any],
    automation_id: str,
    expected: bool,
) -> None:
    criterion = {"event": event_type, **filters}
    assert matches(criterion, event(event_type, **data), automation_id) is expected


def test_every_email_event_is_a_criterion() -> None:
    assert EMAIL_EVENTS == (
        "email.delivered",
        "email.opened",
        "email.clicked",
        "email.replied",
        "email.unsubscribed",
        "email.bounced",
        "email.complained",
    )


@pytest.mark.parametrize("criterion_type", EMAIL_EVENTS)
@pytest.mark.parametrize("event_type", EMAIL_EVENTS)
def test_email_event_type_must_be_the_same(criterion_type: str, event_type: str) -> None:
    data = {"email_step": "mail", "automation_id": AID}
    got = matches({"event": criterion_type, "email_step": "mail"}, event(event_type, **data))
    assert got is (criterion_type == event_type)


# --- url glob --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "url", "expected"),
    [
        ("https://a.example/x", "https://a.example/x", True),
        ("*", "", True),
        ("*", "anything at all", True),
        ("https://a.example/*", "https://a.example/deep/path?q=1#f", True),
        ("https://*.example/x", "https://shop.example/x", True),
        ("https://*.example/x", "https://shop.example/y", False),
        ("*/x/*", "https://a.example/x/", True),
        ("*/x/*", "https://a.example/y/", False),
        # `?` is a literal question mark, not "any character"
        ("https://a.example/p?id=1", "https://a.example/p?id=1", True),
        ("https://a.example/p?id=1", "https://a.example/pXid=1", False),
        ("https://a.example/p?*", "https://a.example/p?x=2", True),
        ("https://a.example/p?*", "https://a.example/pa", False),
        # regex metacharacters are literal
        ("https://a.example/*", "https://aXexample/z", False),
        ("https://a.example/[x]+", "https://a.example/[x]+", True),
        ("https://a.example/[x]+", "https://a.example/xx", False),
        ("https://a.example/(a|b)", "https://a.example/a", False),
        # whole-string match
        ("https://a.example/x", "https://a.example/x/y", False),
        ("https://a.example/x", "prefix https://a.example/x", False),
        ("*", "line\nbreak", True),
    ],
)
def test_url_matches(pattern: str, url: str, expected: bool) -> None:
    assert url_matches(pattern, url) is expected


# --- the other criteria ----------------------------------------------------------------------

OTHER_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any], bool]] = [
    # trigger links
    ("link: no filter", {"event": "trigger_link.clicked"}, "trigger_link.clicked", {}, True),
    (
        "link: same id",
        {"event": "trigger_link.clicked", "link_id": "book-call"},
        "trigger_link.clicked",
        {"link_id": "book-call"},
        True,
    ),
    (
        "link: other id",
        {"event": "trigger_link.clicked", "link_id": "book-call"},
        "trigger_link.clicked",
        {"link_id": "pricing"},
        False,
    ),
    (
        "link: no id in data",
        {"event": "trigger_link.clicked", "link_id": "book-call"},
        "trigger_link.clicked",
        {},
        False,
    ),
    (
        "link: email click is not a link click",
        {"event": "trigger_link.clicked"},
        "email.clicked",
        {"link_id": "book-call"},
        False,
    ),
    # tags
    (
        "tag added: no filter",
        {"event": "contact.tag_added"},
        "contact.tag_added",
        {"tag": "a"},
        True,
    ),
    (
        "tag added: same tag",
        {"event": "contact.tag_added", "tag": "vip"},
        "contact.tag_added",
        {"tag": "vip"},
        True,
    ),
    (
        "tag added: same tag in another case",
        {"event": "contact.tag_added", "tag": "vip"},
        "contact.tag_added",
        {"tag": "VIP"},
        True,
    ),
    (
        "tag added: other tag",
        {"event": "contact.tag_added", "tag": "vip"},
        "contact.tag_added",
        {"tag": "vip-2"},
        False,
    ),
    (
        "tag added: no tag in data",
        {"event": "contact.tag_added", "tag": "vip"},
        "contact.tag_added",
        {},
        False,
    ),
    (
        "tag added: a removal is not an addition",
        {"event": "contact.tag_added", "tag": "vip"},
        "contact.tag_removed",
        {"tag": "vip"},
        False,
    ),
    (
        "tag removed: same tag",
        {"event": "contact.tag_removed", "tag": "vip"},
        "contact.tag_removed",
        {"tag": "vip"},
        True,
    ),
    (
        "tag removed: other tag",
        {"event": "contact.tag_removed", "tag": "vip"},
        "contact.tag_removed",
        {"tag": "lead"},
        False,
    ),
    (
        "tag removed: an addition is not a removal",
        {"event": "contact.tag_removed"},
        "contact.tag_added",
        {"tag": "vip"},
        False,
    ),
    # appointments
    (
        "appointment: no filter",
        {"event": "appointment.status_changed"},
        "appointment.status_changed",
        {"status": "new"},
        True,
    ),
    (
        "appointment: status in list",
        {"event": "appointment.status_changed", "status": ["confirmed", "showed"]},
        "appointment.status_changed",
        {"status": "showed", "appointment_id": "ap-1"},
        True,
    ),
    (
        "appointment: status not in list",
        {"event": "appointment.status_changed", "status": ["confirmed", "showed"]},
        "appointment.status_changed",
        {"status": "cancelled"},
        False,
    ),
    (
        "appointment: no status in data",
        {"event": "appointment.status_changed", "status": ["confirmed"]},
        "appointment.status_changed",
        {"calendar_id": "cal-1"},
        False,
    ),
    (
        "appointment: same calendar",
        {"event": "appointment.status_changed", "calendar_id": "cal-1"},
        "appointment.status_changed",
        {"status": "noshow", "calendar_id": "cal-1"},
        True,
    ),
    (
        "appointment: other calendar",
        {"event": "appointment.status_changed", "calendar_id": "cal-1"},
        "appointment.status_changed",
        {"status": "noshow", "calendar_id": "cal-2"},
        False,
    ),
    (
        "appointment: status and calendar match",
        {"event": "appointment.status_changed", "status": ["confirmed"], "calendar_id": "cal-1"},
        "appointment.status_changed",
        {"status": "confirmed", "calendar_id": "cal-1"},
        True,
    ),
    (
        "appointment: status matches, calendar does not",
        {"event": "appointment.status_changed", "status": ["confirmed"], "calendar_id": "cal-1"},
        "appointment.status_changed",
        {"status": "confirmed", "calendar_id": "cal-9"},
        False,
    ),
    (
        "appointment: calendar matches, status does not",
        {"event": "appointment.status_changed", "status": ["confirmed"], "calendar_id": "cal-1"},
        "appointment.status_changed",
        {"status": "invalid", "calendar_id": "cal-1"},
        False,
    ),
    # custom events
    ("custom: no filter", {"event": "custom"}, "custom", {"name": "anything"}, True),
    ("custom: same name", {"event": "custom", "name": "paid"}, "custom", {"name": "paid"}, True),
    (
        "custom: other name",
        {"event": "custom", "name": "paid"},
        "custom",
        {"name": "refund"},
        False,
    ),
    ("custom: no name in data", {"event": "custom", "name": "paid"}, "custom", {}, False),
    (
        "custom: where all equal",
        {"event": "custom", "name": "paid", "where": {"plan": "pro", "qty": 2}},
        "custom",
        {"name": "paid", "plan": "pro", "qty": 2, "extra": "ignored"},
        True,
    ),
    (
        "custom: where one differs",
        {"event": "custom", "name": "paid", "where": {"plan": "pro", "qty": 2}},
        "custom",
        {"name": "paid", "plan": "pro", "qty": 3},
        False,
    ),
    (
        "custom: where key missing",
        {"event": "custom", "where": {"plan": "pro"}},
        "custom",
        {"name": "paid"},
        False,
    ),
    (
        "custom: where null, key missing",
        {"event": "custom", "where": {"coupon": None}},
        "custom",
        {"name": "paid"},
        False,
    ),
    (
        "custom: where null, value null",
        {"event": "custom", "where": {"coupon": None}},
        "custom",
        {"name": "paid", "coupon": None},
        True,
    ),
    (
        "custom: where nested object",
        {"event": "custom", "where": {"cart": {"items": [1, 2]}}},
        "custom",
        {"cart": {"items": [1, 2]}},
        True,
    ),
    (
        "custom: 1 equals 1.0",
        {"event": "custom", "where": {"qty": 1}},
        "custom",
        {"qty": 1.0},
        True,
    ),
    (
        "custom: true is not 1",
        {"event": "custom", "where": {"qty": 1}},
        "custom",
        {"qty": True},
        False,
    ),
    (
        "custom: false is not 0",
        {"event": "custom", "where": {"flag": False}},
        "custom",
        {"flag": 0},
        False,
    ),
    (
        "custom: where without name",
        {"event": "custom", "where": {"plan": "pro"}},
        "custom",
        {"name": "anything", "plan": "pro"},
        True,
    ),
    (
        "custom: contact.updated is not custom",
        {"event": "custom"},
        "contact.updated",
        {"name": "x"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("criterion", "event_type", "data", "expected"),
    [case[1:] for case in OTHER_CASES],
    ids=[case[0] for case in OTHER_CASES],
)
def test_other_criteria(
    criterion: dict[str, Any], event_type: str, data: dict[str, Any], expected: bool
) -> None:
    assert matches(criterion, event(event_type, **data)) is expected


# --- several goals (R8 support) --------------------------------------------------------------


def _automation() -> Automation:
    return Automation.model_validate(
        {
            "name": "goals",
            "steps": [
                {"id": "mail", "type": "send_email", "subject": "s", "html": "h"},
                {
                    "id": "g-vip",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "vip"}],
                },
                {"id": "pause", "type": "wait", "duration": "P1D"},
                {
                    "id": "g-any",
                    "type": "goal",
                    "any_of": [
                        {"event": "email.opened", "email_step": "mail"},
                        {"event": "contact.tag_added"},
                    ],
                },
                {
                    "id": "g-lead",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "lead"}],
                },
                {
                    "id": "g-vip-again",
                    "type": "goal",
                    "any_of": [
                        {"event": "custom", "name": "x"},
                        {"event": "contact.tag_added", "tag": "vip"},
                    ],
                },
                {"id": "end", "type": "end"},
            ],
        }
    )


def test_one_event_meets_several_goals() -> None:
    positions = goals_met_by(_automation(), event("contact.tag_added", tag="vip"), AID)
    assert positions == [1, 3, 5]


def test_goals_met_by_other_events() -> None:
    auto = _automation()
    assert goals_met_by(auto, event("contact.tag_added", tag="lead"), AID) == [3, 4]
    opened = event("email.opened", email_step="mail", automation_id=AID)
    assert goals_met_by(auto, opened, AID) == [3]
    # the same open, from the same step id of another automation
    assert goals_met_by(auto, opened, OTHER_AID) == []
    assert goals_met_by(auto, event("custom", name="x"), AID) == [5]
    assert goals_met_by(auto, event("contact.tag_removed", tag="vip"), AID) == []
    assert goals_met_by(auto, event("email.clicked", email_step="mail"), AID) == []
