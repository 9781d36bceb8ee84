"""Case (docs/automations.md, "Case"): appointment statuses ignore case in criteria and events,
unknown statuses are refused naming the known ones; tags ignore case, keep the spelling first
given, and a contact never holds two spellings of one tag."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_triggers import eventually_enrolled, publish, send
from tests.support.helpers import new_id
from tests.support.messaging import until
from tests.support.stack import Stack
from workflows.definition import TagCriterion
from workflows.events import ContactEvent
from workflows.matching import criterion_matches
from workflows.tags import add_tags, find_tag, never, remove_tags, same_tag, tag_diff

# --- the pure functions ----------------------------------------------------------------------


def test_tags_ignore_case_and_keep_the_first_spelling() -> None:
    tags = ["Lead-ES"]
    assert add_tags(tags, ["lead-es", "VIP", "vip"]) == ["VIP"]
    assert tags == ["Lead-ES", "VIP"]
    assert remove_tags(tags, ["LEAD-ES", "lead-es"]) == ["Lead-ES"]
    assert tags == ["VIP"]
    assert tag_diff(["Lead-ES", "old"], ["lead-es", "New"]) == (["New"], ["old"])
    assert find_tag(["Lead-ES"], "LEAD-es") == "Lead-ES"
    assert same_tag("Lead-ES", "lead-es") and not same_tag("Lead-ES", "lead-fr")


def test_without_the_patch_tags_compare_exactly_and_it_is_asked_only_when_case_decides() -> None:
    """What a workflow whose history predates the change gets: the old, exact comparison; and
    `any_case` (the workflow's `workflow.patched` call) is asked only where the two ways of
    comparing disagree, so histories that never met such a pair are left without a marker."""
    asked: list[bool] = []

    def old() -> bool:
        asked.append(False)
        return never()

    tags = ["Lead-ES"]
    assert add_tags(tags, ["other", "Lead-ES"], old) == ["other"]
    assert asked == []
    assert add_tags(tags, ["lead-es"], old) == ["lead-es"]
    assert tags == ["Lead-ES", "other", "lead-es"]
    assert asked == [False]
    assert remove_tags(tags, ["OTHER"], old) == []
    criterion = TagCriterion(event="contact.tag_added", tag="vip")
    event = ContactEvent(id="e", contact_id="c", type="contact.tag_added", data={"tag": "VIP"})
    assert not criterion_matches(criterion, event, "a", old)
    assert criterion_matches(criterion, event, "a")


# --- statuses --------------------------------------------------------------------------------

HELD_FOR_CONFIRMATION = {
    "name": "confirmation",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "P1D"},
        {
            "id": "confirmed",
            "type": "goal",
            "any_of": [{"event": "appointment.status_changed", "status": ["Confirmed"]}],
            "if_unmet": {"action": "wait", "timeout": "P14D"},
        },
        {"id": "done", "type": "add_tag", "tag": "confirmed"},
    ],
}


async def test_a_status_in_any_case_meets_a_criterion_in_any_case(stack: Stack) -> None:
    automation = await publish(stack.http, HELD_FOR_CONFIRMATION)
    stored = (await stack.http.get(f"/v1/automations/{automation}")).json()
    assert "Confirmed" not in str(stored) and "confirmed" in str(stored)
    contact = new_id()
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
    )
    assert answer.status_code == 201, answer.text
    await send(stack.http, contact, "appointment.status_changed", status="Confirmed")
    enrollment_id = answer.json()["enrollment_id"]
    view = await until(stack, enrollment_id, lambda v: v["status"] == "completed")
    goals = view["goals"]
    assert [g["step_id"] for g in goals if g["met"]] == ["confirmed"]


@pytest.mark.parametrize("status", ["booked", "", 3, None])
async def test_an_unknown_status_is_refused_naming_the_known_ones(
    stack: Stack, status: Any
) -> None:
    event = {
        "contact_id": new_id(),
        "type": "appointment.status_changed",
        "data": {"status": status},
    }
    answer = await stack.http.post("/v1/events", json=event)
    assert answer.status_code == 422, answer.text
    assert "new, confirmed, cancelled, showed, noshow, invalid" in answer.text
    answer = await stack.http.post(
        "/v1/events/batch",
        json={"events": [{**event, "data": {"status": "SHOWED"}}, event]},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1
    [rejected] = answer.json()["rejected"]
    assert rejected["index"] == 1 and "noshow" in rejected["reason"]


# --- tags ------------------------------------------------------------------------------------


def _on_tag(tag: str) -> dict[str, Any]:
    return {
        "name": "tagged",
        "triggers": [{"id": "tagged", "event": "contact.tag_added", "tag": tag}],
        "steps": [
            {
                "id": "check",
                "type": "if_else",
                "if": {"has_tag": "LEAD-es"},
                "then": "vip",
                "else": "stop",
            },
            {"id": "vip", "type": "add_tag", "tag": "lead-ES"},
            {"id": "stop", "type": "end"},
        ],
    }


async def _tags(stack: Stack, contact: str) -> list[str]:
    answer = await stack.http.get(f"/v1/contacts/{contact}")
    assert answer.status_code == 200, answer.text
    tags: list[str] = answer.json()["tags"]
    return tags


async def test_tags_ignore_case_in_triggers_conditions_and_the_tag_set(stack: Stack) -> None:
    automation = await publish(stack.http, _on_tag("lead-es"))
    contact = new_id()
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"tags": ["Lead-ES"]})
    assert answer.status_code == 201, answer.text
    enrolled = await eventually_enrolled(stack.http, automation, contact)
    view = await until(stack, enrolled["enrollment_id"], lambda v: v["status"] == "completed")
    check = next(
        e for e in view["timeline"] if e.get("step_id") == "check" and e["kind"] == "step_completed"
    )
    assert check["detail"]["branch"] == "then"
    # The add_tag step wrote `lead-ES`: the contact keeps `Lead-ES`, once.
    assert await _tags(stack, contact) == ["Lead-ES"]
    answer = await stack.http.post(f"/v1/contacts/{contact}/tags", json={"add": ["LEAD-ES"]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["added"] == []
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"tags": ["lead-es", "New"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["tags"]
    assert await _tags(stack, contact) == ["Lead-ES", "New"]
    answer = await stack.http.post(f"/v1/contacts/{contact}/tags", json={"remove": ["lead-es"]})
    assert answer.json()["removed"] == ["Lead-ES"]
    assert await _tags(stack, contact) == ["New"]
