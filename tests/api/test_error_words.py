"""Error messages a person can act on: rules in words, JSON errors by line and column, the step
a 422 is about, the setting that turns a webhook on, how to resume a paused automation. `loc`
paths keep their shape (clients read them)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from api.main import create_app
from api.routes.jobs import IDEMPOTENCY_KEY_PATTERN
from api.schemas import CONTACT_ID_PATTERN, JOB_ID_PATTERN
from goalflow.core.settings import Settings
from goalflow.service.error_words import RULES_IN_WORDS, worded
from tests.support.helpers import new_id
from tests.support.stack import Stack
from workflows.definition import CLOCK_PATTERN, STEP_ID_PATTERN, Automation

ROOT = Path(__file__).resolve().parents[2]
RULE_NUMBER = re.compile(r"\bR\d{1,2}\b")
JSON = {"content-type": "application/json"}


def _patterns(schema: Any) -> set[str]:
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_every_pattern_the_api_checks_has_words() -> None:
    openapi = create_app(Settings()).openapi()
    patterns = _patterns(openapi) | _patterns(Automation.model_json_schema())
    assert patterns, "no pattern found: the walk is broken"
    assert patterns <= set(RULES_IN_WORDS), patterns - set(RULES_IN_WORDS)
    checked_by_hand = {
        STEP_ID_PATTERN,
        CONTACT_ID_PATTERN,
        JOB_ID_PATTERN,
        IDEMPOTENCY_KEY_PATTERN,
        CLOCK_PATTERN,
    }
    assert checked_by_hand <= set(RULES_IN_WORDS), checked_by_hand - set(RULES_IN_WORDS)


def test_a_json_syntax_error_gives_line_and_column() -> None:
    text = '{"name": "x",\n "steps": [\n  {"id": "a" "type": "end"}]}'
    offset = text.index('"type"')
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        assert err.pos == offset
        expected = (err.lineno, err.colno)
    error = {
        "type": "json_invalid",
        "loc": ["body", offset],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": "Expecting ',' delimiter"},
    }
    [answer] = worded([error], text)
    assert answer["loc"] == ["body", offset]
    assert (answer["ctx"]["line"], answer["ctx"]["column"]) == expected == (3, 14)
    assert answer["msg"] == (
        f"JSON decode error: Expecting ',' delimiter at line 3, column 14 (character {offset})"
    )


async def test_422_messages_over_http(stack: Stack) -> None:
    http = stack.http
    broken = await http.put(
        f"/v1/automations/{new_id('a')}",
        content=b'{"name": "x",\n "steps": [\n  {"id": "a" "type": "end"}]}',
        headers=JSON,
    )
    assert broken.status_code == 422, broken.text
    [error] = broken.json()["detail"]
    assert error["loc"] == ["body", 39]
    assert "at line 3, column 14" in error["msg"], error

    bad_id = await http.put("/v1/automations/Not%20An%20Id", json={"name": "x", "steps": []})
    assert bad_id.status_code == 422, bad_id.text
    [error] = bad_id.json()["detail"]
    assert error["loc"] == ["path", "automation_id"]
    assert error["msg"] == (
        "must be lower-case letters, digits, '-' and '_', up to 64 characters, starting with a "
        "letter or digit"
    )
    assert error["ctx"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$"

    contact = await http.post("/v1/events", json={"contact_id": "a b", "type": "custom"})
    assert contact.status_code == 422, contact.text
    [error] = contact.json()["detail"]
    assert error["loc"] == ["body", "contact_id"]
    assert "no spaces, slashes or control characters" in error["msg"], error


async def test_a_422_inside_steps_names_the_step(stack: Stack) -> None:
    definition = {
        "name": "named steps",
        "triggers": [{"id": "signup", "event": "custom", "nope": 1}],
        "steps": [
            {"id": "welcome", "type": "send_email", "html": "<p>hi</p>"},
            {"id": "pause", "type": "wait", "duration": "PT1H"},
            {"id": "later", "type": "wait", "until_time": "25:00"},
            {"id": "branch", "type": "if_else", "if": {"has_tag": "x"}, "then": "welcome",
             "else": "nowhere"},
        ],
    }  # fmt: skip
    answer = await stack.http.put(f"/v1/automations/{new_id('a')}", json=definition)
    assert answer.status_code == 422, answer.text
    errors = {tuple(e["loc"]): e for e in answer.json()["detail"]}
    subject = errors[("body", "steps", 0, "subject")]
    assert subject["msg"] == "step 'welcome' (steps[0]): Field required"
    assert subject["ctx"]["step_id"] == "welcome"
    clock = errors[("body", "steps", 2, "until_time")]
    assert clock["msg"].startswith("step 'later' (steps[2]): "), clock
    trigger = errors[("body", "triggers", 0, "nope")]
    assert trigger["msg"].startswith("trigger 'signup' (triggers[0]): "), trigger
    assert trigger["ctx"]["trigger_id"] == "signup"

    # The rules that span steps are checked once the models hold: named the same way.
    definition["steps"] = [
        {"id": "welcome", "type": "end"},
        *definition["steps"][1:2],
        definition["steps"][3],
    ]
    definition["triggers"] = []
    answer = await stack.http.put(f"/v1/automations/{new_id('a')}", json=definition)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "steps", 2, "else"]
    assert error["msg"] == "step 'branch' (steps[2]): no step has id 'nowhere'"


async def test_a_webhook_that_is_off_says_which_setting_enables_it(stack: Stack) -> None:
    """The session stack sets no provider secret."""
    settings = {
        "sendgrid": "GOALFLOW_SENDGRID_PUBLIC_KEY",
        "mailgun": "GOALFLOW_MAILGUN_SIGNING_KEY",
        "postmark": "GOALFLOW_POSTMARK_WEBHOOK_AUTH",
        "twilio": "GOALFLOW_TWILIO_AUTH_TOKEN",
        "calendly": "GOALFLOW_CALENDLY_SIGNING_KEY",
        "cal_com": "GOALFLOW_CALCOM_SECRET",
        "stripe": "GOALFLOW_STRIPE_WEBHOOK_SECRET",
        "shopify": "GOALFLOW_SHOPIFY_SECRET",
        "highlevel": "GOALFLOW_HIGHLEVEL_PUBLIC_KEY",
    }
    for provider, setting in settings.items():
        answer = await stack.http.post(f"/v1/hooks/{provider}", content=b"{}")
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == (
            f"the {provider} webhook is off: set {setting} to enable it"
        )
    unknown = await stack.http.post("/v1/hooks/paypal", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == (
        "no provider 'paypal': the providers are cal_com, calendly, highlevel, mailgun, "
        "postmark, sendgrid, shopify, stripe, twilio"
    )


async def test_a_paused_automation_says_how_to_resume_it(stack: Stack) -> None:
    http = stack.http
    automation = new_id("a")
    definition = {"name": "paused", "steps": [{"id": "stop", "type": "end"}]}
    published = await http.put(f"/v1/automations/{automation}?activate=false", json=definition)
    assert published.status_code == 201, published.text
    answer = await http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": new_id()}}
    )
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert f"POST /v1/automations/{automation}/resume" in detail, detail
    assert not RULE_NUMBER.search(detail), detail


def _raised_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants in every `raise` of a module, and in module-level constants whose
    name says they are a reason or a message."""
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []
    roots: list[ast.AST] = [node for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.endswith(("_REASON", "_MESSAGE"))
            for t in statement.targets
        ):
            roots.append(statement.value)
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append((node.lineno, node.value))
    return found


def test_no_rule_numbers_in_messages_meant_for_people() -> None:
    """Rule numbers (R1…R17) are for the docs; an error message says what to do instead."""
    offenders = []
    for folder in ("api", "activities", "workflows", "goalflow"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _raised_strings(path):
                if RULE_NUMBER.search(text):
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert not offenders, offenders
