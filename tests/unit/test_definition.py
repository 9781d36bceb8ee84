"""The automation definition and its validation rules (docs/automations.md).

Every refusal is checked at the exact `loc` of the offending field, as the API reports it in a 422.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from temporalio.contrib.pydantic import pydantic_data_converter

from goalflow.core.validation import parse_automation
from workflows.definition import (
    AppointmentCriterion,
    Automation,
    EmailCriterion,
    GoalStep,
    IfUnmetWait,
    OnMetGoto,
    SendEmailStep,
    WaitStep,
)

SEED: dict[str, Any] = {
    "name": "Appointment follow-up",
    "settings": {"allow_reentry": False, "timezone": "UTC"},
    "steps": [
        {
            "id": "welcome",
            "type": "send_email",
            "subject": "Hi {{ contact.first_name }}",
            "html": "<p>Book here: <a href=\"{{ trigger_link('book-call') }}\">book</a></p>",
        },
        {"id": "wait-1", "type": "wait", "duration": "P2D"},
        {"id": "nudge", "type": "send_sms", "body": "Still interested?"},
        {
            "id": "confirmed",
            "type": "goal",
            "name": "Appointment Confirmed Goal",
            "any_of": [{"event": "appointment.status_changed", "status": ["confirmed"]}],
            "on_met": {"action": "goto", "step": "confirm-mail"},
            "if_unmet": {"action": "wait", "timeout": "P14D", "on_timeout": "end"},
            "jump_from": "above",
        },
        {"id": "reminder", "type": "send_email", "subject": "Reminder", "html": "..."},
        {"id": "confirm-mail", "type": "send_email", "subject": "See you soon", "html": "..."},
    ],
}

STEP_TYPES = {
    "send_email",
    "send_sms",
    "wait",
    "add_tag",
    "remove_tag",
    "update_contact",
    "webhook",
    "if_else",
    "goal",
    "end",
    "split",
}

# One of every step type and most options, for the schema and round-trip tests.
FULL: dict[str, Any] = {
    "name": "Everything",
    "description": "one of each",
    "settings": {
        "allow_reentry": True,
        "timezone": "Europe/Paris",
        "holdout": {"percent": 10, "window": "P7D"},
    },
    "steps": [
        {
            "id": "mail",
            "name": "First mail",
            "type": "send_email",
            "subject": "Hi {{ contact.first_name }}",
            "html": "<a href=\"{{ trigger_link('offer') }}\">offer</a>",
            "text": "offer: {{ trigger_link('offer') }}",
            "from": "Shop <shop@example.com>",
        },
        {"id": "sms", "type": "send_sms", "body": "Hello {{ contact.first_name }}"},
        {"id": "pause", "type": "wait", "duration": "PT2S"},
        {"id": "until", "type": "wait", "until": "2030-01-01T09:00:00Z"},
        {"id": "morning", "type": "wait", "until_time": "09:00", "weekdays": ["mon", "fri"]},
        {"id": "tag", "type": "add_tag", "tag": "lead"},
        {"id": "untag", "type": "remove_tag", "tag": "cold"},
        {"id": "update", "type": "update_contact", "fields": {"stage": "warm", "score": 3}},
        {
            "id": "hook",
            "type": "webhook",
            "url": "https://hooks.example.com/in",
            "method": "PUT",
            "headers": {"X-Contact": "{{ contact.id }}"},
            "body": {"contact": "{{ contact.id }}", "n": 1, "list": ["{{ contact.email }}", None]},
        },
        {
            "id": "branch",
            "type": "if_else",
            "if": {
                "all": [
                    {"has_tag": "lead"},
                    {"not": {"lacks_tag": "vip"}},
                    {"any": [{"field": "score", "gte": 3}, {"field": "stage", "in": ["warm"]}]},
                    {"field": "nickname", "equals": None},
                    {"field": "plan", "exists": True},
                ]
            },
            "then": "goal",
            "else": "stop",
        },
        {
            "id": "goal",
            "type": "goal",
            "any_of": [
                {"event": "email.clicked", "email_step": "mail", "url": "https://shop.example/*"},
                {"event": "trigger_link.clicked", "link_id": "offer"},
                {"event": "contact.tag_added", "tag": "buyer"},
                {
                    "event": "appointment.status_changed",
                    "status": ["confirmed", "showed"],
                    "calendar_id": "cal-1",
                },
                {"event": "custom", "name": "order.paid", "where": {"plan": "pro", "qty": 2}},
            ],
            "on_met": {"action": "goto", "step": "mail"},
            "if_unmet": {"action": "wait", "timeout": "P7D", "on_timeout": "continue"},
            "jump_from": "anywhere",
        },
        {
            "id": "ab",
            "type": "split",
            "paths": [
                {"id": "a", "weight": 70, "next": "stop"},
                {"id": "b", "weight": 30, "next": "stop"},
            ],
        },
        {"id": "stop", "type": "end"},
    ],
}


def automation(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "test", **extra, "steps": list(steps)}


def errors_of(data: dict[str, Any]) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as info:
        parse_automation(data)
    return info.value.errors()


def only_error(data: dict[str, Any]) -> ErrorDetails:
    errors = errors_of(data)
    assert len(errors) == 1, errors
    return errors[0]


SMS = {"id": "sms", "type": "send_sms", "body": "hi"}
END = {"id": "end", "type": "end"}


# --- valid definitions ---------------------------------------------------------------------


def test_seed_definition_validates() -> None:
    parsed, warnings = parse_automation(copy.deepcopy(SEED))
    assert [s.type for s in parsed.steps] == [
        "send_email",
        "wait",
        "send_sms",
        "goal",
        "send_email",
        "send_email",
    ]
    goal = parsed.steps[3]
    assert isinstance(goal, GoalStep)
    assert goal.name == "Appointment Confirmed Goal"
    assert goal.on_met == OnMetGoto(action="goto", step="confirm-mail")
    assert goal.if_unmet == IfUnmetWait(action="wait", timeout="P14D", on_timeout="end")
    assert goal.jump_from == "above"
    assert goal.kind == "any_of"
    criterion = goal.criteria[0]
    assert isinstance(criterion, AppointmentCriterion)
    assert criterion.event == "appointment.status_changed"
    assert criterion.status == ["confirmed"]
    assert [step.id for step in parsed.steps].index("confirm-mail") == 5
    # trigger_link('book-call') is not defined anywhere: allowed, with a warning.
    assert warnings == ["steps.0.html: trigger link 'book-call' is not defined yet"]


def test_defaults() -> None:
    parsed, warnings = parse_automation(
        automation({"id": "g", "type": "goal", "any_of": [{"event": "custom"}]})
    )
    goal = parsed.steps[0]
    assert isinstance(goal, GoalStep)
    assert goal.on_met.action == "continue"
    assert goal.if_unmet.action == "continue"
    assert goal.jump_from == "above"
    assert parsed.settings.allow_reentry is False
    assert parsed.settings.timezone == "UTC"
    assert warnings == []


def test_unknown_trigger_link_ids_are_allowed_with_a_warning() -> None:
    parsed, warnings = parse_automation(copy.deepcopy(FULL))
    assert warnings == [
        "steps.0.html: trigger link 'offer' is not defined yet",
        "steps.0.text: trigger link 'offer' is not defined yet",
    ]
    assert parsed.steps[0].id == "mail"


def test_full_definition_validates() -> None:
    parsed, _ = parse_automation(copy.deepcopy(FULL))
    assert {s.type for s in parsed.steps} == STEP_TYPES
    morning = parsed.steps[4]
    assert isinstance(morning, WaitStep)
    assert morning.until_time == "09:00"
    assert morning.weekdays == ["mon", "fri"]
    mail = parsed.steps[0]
    assert isinstance(mail, SendEmailStep)
    assert mail.from_ == "Shop <shop@example.com>"


# --- rule: unknown step type or event ------------------------------------------------------


def test_unknown_step_type() -> None:
    error = only_error(automation(SMS, {"id": "fax", "type": "send_fax", "to": "x"}))
    assert error["loc"] == ("steps", 1, "type")
    assert error["type"] == "union_tag_invalid"
    assert error["ctx"]["tag"] == "send_fax"


@pytest.mark.parametrize("bad_type", [["send_sms"], {"a": 1}, 3, None])
def test_step_type_that_is_not_a_string(bad_type: Any) -> None:
    error = only_error(automation({"id": "x", "type": bad_type, "body": "hi"}))
    assert error["loc"] == ("steps", 0, "type")
    assert error["type"] == "union_tag_invalid"


def test_missing_step_type() -> None:
    error = only_error(automation({"id": "x", "body": "hi"}))
    assert error["loc"] == ("steps", 0, "type")
    assert error["type"] == "union_tag_not_found"


def test_unknown_event_in_goal_criterion() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "email.opened"}, {"event": "email.forwarded"}],
    }
    error = only_error(automation(SMS, goal))
    assert error["loc"] == ("steps", 1, "any_of", 1, "event")
    assert error["type"] == "union_tag_invalid"
    assert error["ctx"]["tag"] == "email.forwarded"


def test_contact_updated_is_not_a_goal_event() -> None:
    # An event type the API accepts, but not a goal criterion (docs/automations.md).
    error = only_error(
        automation({"id": "g", "type": "goal", "any_of": [{"event": "contact.updated"}]})
    )
    assert error["loc"] == ("steps", 0, "any_of", 0, "event")
    assert error["type"] == "union_tag_invalid"


def test_filter_of_another_event_is_refused() -> None:
    # `tag` belongs to tag criteria, not to trigger_link.clicked.
    error = only_error(
        automation(
            {"id": "g", "type": "goal", "any_of": [{"event": "trigger_link.clicked", "tag": "x"}]}
        )
    )
    assert error["loc"] == ("steps", 0, "any_of", 0, "tag")
    assert error["type"] == "extra_forbidden"


def test_bad_appointment_status() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "appointment.status_changed", "status": ["confirmed", "done"]}],
    }
    error = only_error(automation(goal))
    assert error["loc"] == ("steps", 0, "any_of", 0, "status", 1)
    assert error["type"] == "literal_error"


# --- rule: duplicate ids -------------------------------------------------------------------


def test_duplicate_step_ids() -> None:
    error = only_error(
        automation(SMS, {"id": "pause", "type": "wait", "duration": "PT1S"}, dict(SMS))
    )
    assert error["loc"] == ("steps", 2, "id")
    assert error["type"] == "duplicate_step_id"
    assert error["msg"] == "step id 'sms' is already used by step 0"


# --- rule: goto / then / else naming a missing step ----------------------------------------


def test_goto_naming_a_missing_step() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "custom"}],
        "on_met": {"action": "goto", "step": "nowhere"},
    }
    error = only_error(automation(SMS, END, goal))
    assert error["loc"] == ("steps", 2, "on_met", "step")
    assert error["type"] == "unknown_step"
    assert error["msg"] == "no step has id 'nowhere'"


@pytest.mark.parametrize("branch", ["then", "else"])
def test_if_else_naming_a_missing_step(branch: str) -> None:
    targets = {"then": "end", "else": "end", branch: "ghost"}
    step = {"id": "branch", "type": "if_else", "if": {"has_tag": "vip"}, **targets}
    error = only_error(automation(SMS, step, END))
    assert error["loc"] == ("steps", 1, branch)
    assert error["type"] == "unknown_step"
    assert error["msg"] == "no step has id 'ghost'"


def test_several_rule_errors_are_reported_together() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "custom"}],
        "on_met": {"action": "goto", "step": "ghost"},
    }
    errors = errors_of(automation(SMS, dict(SMS), goal))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (("steps", 1, "id"), "duplicate_step_id"),
        (("steps", 2, "on_met", "step"), "unknown_step"),
    ]


# --- rule: a loop with no wait or goal on it -----------------------------------------------


@pytest.mark.parametrize("branch", ["then", "else"])
def test_loop_without_wait_is_refused(branch: str) -> None:
    targets = {"then": "end", "else": "end", branch: "sms"}
    step = {"id": "again", "type": "if_else", "if": {"has_tag": "x"}, **targets}
    error = only_error(automation(SMS, step, END))
    assert error["loc"] == ("steps", 1, branch)
    assert error["type"] == "loop_without_wait"


def test_loop_closed_by_the_next_step_edge_is_reported_at_the_jump() -> None:
    # The search reaches `again` first through `start`'s jump, then follows `again` back to
    # `sms`, whose next-step edge closes the cycle: the error still names the jump back up.
    steps: list[dict[str, Any]] = [
        {"id": "start", "type": "if_else", "if": {"has_tag": "x"}, "then": "again", "else": "end"},
        SMS,
        {"id": "again", "type": "if_else", "if": {"has_tag": "x"}, "then": "sms", "else": "end"},
        END,
    ]
    error = only_error(automation(*steps))
    assert error["loc"] == ("steps", 2, "then")
    assert error["type"] == "loop_without_wait"


def test_if_else_jumping_to_itself_is_refused() -> None:
    step = {"id": "spin", "type": "if_else", "if": {"has_tag": "x"}, "then": "spin", "else": "end"}
    error = only_error(automation(step, END))
    assert error["loc"] == ("steps", 0, "then")
    assert error["type"] == "loop_without_wait"


def test_loop_with_a_wait_is_accepted() -> None:
    step = {"id": "again", "type": "if_else", "if": {"has_tag": "x"}, "then": "sms", "else": "end"}
    wait = {"id": "pause", "type": "wait", "duration": "P1D"}
    parsed, _ = parse_automation(automation(SMS, wait, step, END))
    assert [s.id for s in parsed.steps] == ["sms", "pause", "again", "end"]


def test_loop_with_a_goal_on_it_is_accepted() -> None:
    goal = {"id": "g", "type": "goal", "any_of": [{"event": "custom"}]}
    step = {"id": "again", "type": "if_else", "if": {"has_tag": "x"}, "then": "sms", "else": "end"}
    parsed, _ = parse_automation(automation(SMS, goal, step, END))
    assert len(parsed.steps) == 4


def test_loop_through_a_goal_goto_is_accepted() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "email.opened"}],
        "on_met": {"action": "goto", "step": "sms"},
    }
    parsed, _ = parse_automation(automation(SMS, goal, END))
    assert isinstance(parsed.steps[1], GoalStep)
    assert parsed.steps[1].on_met == OnMetGoto(action="goto", step="sms")


def test_forward_jumps_are_not_loops() -> None:
    step = {"id": "skip", "type": "if_else", "if": {"has_tag": "x"}, "then": "end", "else": "sms"}
    parsed, _ = parse_automation(automation(step, SMS, END))
    assert len(parsed.steps) == 3


# --- rule: empty steps ---------------------------------------------------------------------


def test_empty_steps() -> None:
    error = only_error({"name": "empty", "steps": []})
    assert error["loc"] == ("steps",)
    assert error["type"] == "too_short"


def test_missing_steps() -> None:
    error = only_error({"name": "nothing"})
    assert error["loc"] == ("steps",)
    assert error["type"] == "missing"


# --- rule: bad durations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "reason"),
    [
        ("2 days", "invalid ISO 8601 duration"),
        ("P1M", "years or months"),
        ("P1Y", "years or months"),
        ("P0D", "must be positive"),
        ("PT0S", "must be positive"),
        ("P", "invalid ISO 8601 duration"),
        ("P1DT", "invalid ISO 8601 duration"),
        ("P2D\n", "invalid ISO 8601 duration"),
        ("P3651D", "longer than 10 years"),
        ("P99999999999D", "longer than 10 years"),
    ],
)
def test_bad_wait_duration(duration: str, reason: str) -> None:
    error = only_error(automation(SMS, {"id": "pause", "type": "wait", "duration": duration}))
    assert error["loc"] == ("steps", 1, "duration")
    assert error["type"] == "value_error"
    assert reason in error["msg"]


@pytest.mark.parametrize("timeout", ["P1M", "14 days", "P0D"])
def test_bad_if_unmet_timeout(timeout: str) -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "custom"}],
        "if_unmet": {"action": "wait", "timeout": timeout},
    }
    error = only_error(automation(goal))
    assert error["loc"] == ("steps", 0, "if_unmet", "timeout")
    assert error["type"] == "value_error"


def test_timeout_only_belongs_to_if_unmet_wait() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "custom"}],
        "if_unmet": {"action": "end", "timeout": "P1D"},
    }
    error = only_error(automation(goal))
    assert error["loc"] == ("steps", 0, "if_unmet", "timeout")
    assert error["type"] == "extra_forbidden"


# --- rule: templates that do not compile ---------------------------------------------------


@pytest.mark.parametrize(
    ("step", "loc"),
    [
        (
            {"type": "send_email", "subject": "ok", "html": "<p>Hi {{ contact.first_name"},
            ("html",),
        ),
        ({"type": "send_email", "subject": "Hi {% if %}", "html": "ok"}, ("subject",)),
        ({"type": "send_email", "subject": "ok", "html": "ok", "text": "{{ 1 + }}"}, ("text",)),
        ({"type": "send_sms", "body": "{% for x in y %}"}, ("body",)),
        ({"type": "webhook", "url": "https://h.example", "body": "{{ contact.id"}, ("body",)),
        (
            {"type": "webhook", "url": "https://h.example", "body": {"a": ["ok", "{{ oops"]}},
            ("body", "a", 1),
        ),
        (
            {"type": "webhook", "url": "https://h.example", "headers": {"X-Id": "{{ }}"}},
            ("headers", "X-Id"),
        ),
        ({"type": "send_sms", "body": "{{ contact.name | no_such_filter }}"}, ("body",)),
    ],
)
def test_template_that_does_not_compile(step: dict[str, Any], loc: tuple[Any, ...]) -> None:
    error = only_error(automation({"id": "s", **step}))
    assert error["loc"] == ("steps", 0, *loc)
    assert error["type"] == "template_syntax"
    assert error["msg"].startswith("template does not compile: ")


def test_templates_that_compile_are_accepted() -> None:
    step = {
        "id": "s",
        "type": "send_email",
        "subject": "{% if contact.first_name %}Hi {{ contact.first_name }}{% endif %}",
        "html": "{% for t in contact.tags %}{{ t | upper }}{% endfor %}",
    }
    parsed, warnings = parse_automation(automation(step))
    assert parsed.steps[0].type == "send_email"
    assert warnings == []


# --- unknown fields, ids, email_step, waits, settings --------------------------------------


@pytest.mark.parametrize(
    ("data", "loc"),
    [
        (automation(SMS, owner="me"), ("owner",)),
        (automation({**SMS, "colour": "red"}), ("steps", 0, "colour")),
        (automation(SMS, settings={"timezone": "UTC", "tz": "UTC"}), ("settings", "tz")),
        (
            automation({"id": "g", "type": "goal", "any_of": [{"event": "custom", "bogus": 1}]}),
            ("steps", 0, "any_of", 0, "bogus"),
        ),
        (
            automation(
                {
                    "id": "g",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "on_met": {"action": "continue", "step": "g"},
                }
            ),
            ("steps", 0, "on_met", "step"),
        ),
        (
            automation(
                {
                    "id": "b",
                    "type": "if_else",
                    "if": {"has_tag": "x", "colour": "red"},
                    "then": "b2",
                    "else": "b2",
                },
                {"id": "b2", "type": "end"},
            ),
            ("steps", 0, "if", "colour"),
        ),
    ],
)
def test_unknown_fields_are_refused(data: dict[str, Any], loc: tuple[Any, ...]) -> None:
    error = only_error(data)
    assert error["loc"] == loc
    assert error["type"] == "extra_forbidden"


def test_missing_required_field() -> None:
    error = only_error(automation({"id": "mail", "type": "send_email", "html": "x"}))
    assert error["loc"] == ("steps", 0, "subject")
    assert error["type"] == "missing"


@pytest.mark.parametrize("step_id", ["Welcome", "-start", "_start", "a b", "é", "a" * 65, ""])
def test_bad_step_id(step_id: str) -> None:
    error = only_error(automation({**SMS, "id": step_id}))
    assert error["loc"] == ("steps", 0, "id")
    assert error["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize("step_id", ["a", "0", "wait-1", "a_b-c9", "a" * 64])
def test_good_step_id(step_id: str) -> None:
    parsed, _ = parse_automation(automation({**SMS, "id": step_id}))
    assert parsed.steps[0].id == step_id


def test_goto_with_a_malformed_step_id() -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "custom"}],
        "on_met": {"action": "goto", "step": "Not An Id"},
    }
    error = only_error(automation(goal))
    assert error["loc"] == ("steps", 0, "on_met", "step")
    assert error["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize("target", ["sms", "ghost"])
def test_email_step_must_name_a_send_email_step(target: str) -> None:
    goal = {
        "id": "g",
        "type": "goal",
        "any_of": [{"event": "email.opened"}, {"event": "email.clicked", "email_step": target}],
    }
    error = only_error(automation(SMS, goal))
    assert error["loc"] == ("steps", 1, "any_of", 1, "email_step")
    assert error["type"] == "unknown_email_step"
    assert error["msg"] == f"{target!r} is not a send_email step of this automation"


def test_email_step_naming_a_send_email_step_is_accepted() -> None:
    mail = {"id": "mail", "type": "send_email", "subject": "s", "html": "h"}
    goal = {"id": "g", "type": "goal", "any_of": [{"event": "email.opened", "email_step": "mail"}]}
    parsed, _ = parse_automation(automation(goal, mail))
    parsed_goal = parsed.steps[0]
    assert isinstance(parsed_goal, GoalStep)
    criterion = parsed_goal.criteria[0]
    assert isinstance(criterion, EmailCriterion)
    assert criterion.email_step == "mail"


@pytest.mark.parametrize(
    "fields",
    [
        {"duration": "P1D", "until": "2030-01-01T00:00:00Z"},
        {"duration": "P1D", "until_time": "09:00"},
        {"until": "2030-01-01T00:00:00Z", "until_time": "09:00"},
        {},
    ],
)
def test_wait_needs_exactly_one_of_duration_until_until_time(fields: dict[str, Any]) -> None:
    error = only_error(automation(SMS, {"id": "pause", "type": "wait", **fields}))
    assert error["loc"] == ("steps", 1)
    assert error["type"] == "value_error"
    assert "exactly one of duration, until, until_time" in error["msg"]


def test_weekdays_without_until_time() -> None:
    error = only_error(
        automation({"id": "pause", "type": "wait", "duration": "P1D", "weekdays": ["mon"]})
    )
    assert error["loc"] == ("steps", 0)
    assert "weekdays only applies to until_time" in error["msg"]


def test_bad_weekday() -> None:
    wait = {"id": "pause", "type": "wait", "until_time": "09:00", "weekdays": ["mon", "monday"]}
    error = only_error(automation(wait))
    assert error["loc"] == ("steps", 0, "weekdays", 1)
    assert error["type"] == "literal_error"


def test_until_without_timezone() -> None:
    error = only_error(automation({"id": "pause", "type": "wait", "until": "2030-01-01T09:00:00"}))
    assert error["loc"] == ("steps", 0, "until")
    assert error["type"] == "value_error"
    assert "timezone offset" in error["msg"]


def test_until_with_offset_is_accepted() -> None:
    parsed, _ = parse_automation(
        automation({"id": "pause", "type": "wait", "until": "2030-01-01T09:00:00+02:00"})
    )
    wait = parsed.steps[0]
    assert isinstance(wait, WaitStep)
    assert wait.until is not None
    offset = wait.until.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 7200


@pytest.mark.parametrize("clock", ["9:00", "24:00", "09:60", "0900", "09:00:00", "noon", ""])
def test_bad_until_time(clock: str) -> None:
    error = only_error(automation({"id": "pause", "type": "wait", "until_time": clock}))
    assert error["loc"] == ("steps", 0, "until_time")
    assert error["type"] == "value_error"
    assert '"HH:MM"' in error["msg"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "", "../etc/passwd", "utc+2"])
def test_unknown_timezone_in_settings(zone: str) -> None:
    error = only_error(automation(SMS, settings={"timezone": zone}))
    assert error["loc"] == ("settings", "timezone")
    assert error["type"] == "value_error"
    assert f"unknown timezone {zone!r}" in error["msg"]


# --- JSON Schema and round trips -----------------------------------------------------------


def test_json_schema_lists_every_step_type() -> None:
    schema = Automation.model_json_schema(by_alias=True)
    json.dumps(schema)  # serialisable as is
    steps_items = schema["properties"]["steps"]["items"]
    refs = [option["$ref"].rsplit("/", 1)[-1] for option in steps_items["oneOf"]]
    types = {schema["$defs"][ref]["properties"]["type"]["const"] for ref in refs}
    assert types == STEP_TYPES
    assert set(steps_items["discriminator"]["mapping"]) == STEP_TYPES
    # Aliases, not Python names.
    assert "if" in schema["$defs"]["IfElseStep"]["properties"]
    assert "else" in schema["$defs"]["IfElseStep"]["properties"]
    assert "from" in schema["$defs"]["SendEmailStep"]["properties"]
    assert "in" in schema["$defs"]["FieldCondition"]["properties"]
    assert schema["$defs"]["SendSmsStep"]["additionalProperties"] is False


def test_round_trip_through_dump_by_alias() -> None:
    original, _ = parse_automation(copy.deepcopy(FULL))
    dumped = original.model_dump(by_alias=True, exclude_none=True, mode="json")
    again = Automation.model_validate(dumped)
    assert again == original
    assert again.model_dump(by_alias=True, exclude_none=True, mode="json") == dumped
    # and it still passes every rule
    reparsed, _ = parse_automation(dumped)
    assert reparsed == original


def test_round_trip_through_plain_dump() -> None:
    # A dump with every default written out (null operators of field conditions included).
    original, _ = parse_automation(copy.deepcopy(FULL))
    assert Automation.model_validate(original.model_dump()) == original
    assert Automation.model_validate_json(original.model_dump_json(by_alias=True)) == original


def test_round_trip_through_the_temporal_data_converter() -> None:
    # Workflows receive the definition through Temporal's pydantic converter.
    original, _ = parse_automation(copy.deepcopy(FULL))
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([original])
    [again] = converter.from_payloads(payloads, [Automation])
    assert again == original


def test_seed_round_trip_keeps_the_document() -> None:
    original, _ = parse_automation(copy.deepcopy(SEED))
    dumped = original.model_dump(by_alias=True, exclude_none=True, mode="json")
    # Defaults are written out; everything given is kept.
    assert dumped["steps"][3] == SEED["steps"][3]
    assert dumped["steps"][0] == SEED["steps"][0]
    assert dumped["settings"] == SEED["settings"]
    assert Automation.model_validate(dumped) == original
