"""Goals keyed to the record that enrolled the contact (`match_context`): the matching table,
validation, the workflow on the time-skipping server, and the API on a real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, assert_eventually, new_id, running_engine
from tests.support.stack import Stack, own_stack
from workflows.events import ContactEvent
from workflows.matching import context_matches, goals_met_by

# A trigger on every new appointment: a catalog of its own.
stack = own_stack("keyed-goals")

CONFIRMED = {
    "event": "appointment.status_changed",
    "status": ["confirmed"],
    "match_context": ["appointment_id"],
}


def confirmation_flow(**criterion: Any) -> dict[str, Any]:
    return {
        "name": "Appointment follow-up",
        "steps": [
            {
                "id": "confirmed",
                "type": "goal",
                "name": "Appointment Confirmed Goal",
                "any_of": [{**CONFIRMED, **criterion}],
                "if_unmet": {"action": "wait", "timeout": "P14D"},
                "on_met": {"action": "end"},
            }
        ],
    }


# --- the matching table --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "data", "context", "matches"),
    [
        (["appointment_id"], {"appointment_id": "a1"}, {"appointment_id": "a1"}, True),
        (["appointment_id"], {"appointment_id": "a2"}, {"appointment_id": "a1"}, False),
        (["appointment_id"], {}, {"appointment_id": "a1"}, False),
        (["appointment_id"], {"appointment_id": "a1"}, {}, False),
        (["appointment_id"], {}, {}, False),
        (["appointment_id"], {"appointment_id": None}, {"appointment_id": None}, False),
        (["order", "shop"], {"order": 7, "shop": "eu"}, {"order": 7, "shop": "eu"}, True),
        (["order", "shop"], {"order": 7, "shop": "us"}, {"order": 7, "shop": "eu"}, False),
        (["order", "shop"], {"order": 7}, {"order": 7, "shop": "eu"}, False),
        (["order"], {"order": 7}, {"order": 7.0}, True),  # JSON numbers
        (["order"], {"order": 1}, {"order": True}, False),  # true is not 1
        (["order"], {"order": "7"}, {"order": 7}, False),
        (["order"], {"order": {"id": 1}}, {"order": {"id": 1}}, True),
        (None, {}, {}, True),  # no keys: nothing to compare
    ],
)
def test_context_matches(
    keys: list[str] | None, data: dict[str, Any], context: dict[str, Any], matches: bool
) -> None:
    assert context_matches(keys, data, context) is matches


def event(data: dict[str, Any]) -> ContactEvent:
    return ContactEvent.model_validate(
        {"id": new_id("e"), "contact_id": "c", "type": "appointment.status_changed", "data": data}
    )


def test_the_other_filters_still_apply() -> None:
    automation, _ = parse_automation(confirmation_flow())
    mine = {"appointment_id": "a1"}
    assert goals_met_by(automation, event({**mine, "status": "confirmed"}), "x", mine) == [0]
    assert goals_met_by(automation, event({**mine, "status": "cancelled"}), "x", mine) == []
    assert goals_met_by(automation, event({"status": "confirmed"}), "x", mine) == []
    assert goals_met_by(automation, event({**mine, "status": "confirmed"}), "x") == []


def locs(definition: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        parse_automation(definition)
    return [tuple(e["loc"]) for e in caught.value.errors()]


def test_bad_match_context_is_refused_with_its_path() -> None:
    assert ("steps", 0, "any_of", 0, "match_context") in locs(confirmation_flow(match_context=[]))
    assert ("steps", 0, "any_of", 0, "match_context", 0) in locs(
        confirmation_flow(match_context=[7])
    )
    assert ("steps", 0, "any_of", 0, "match_context", 0) in locs(
        confirmation_flow(match_context=[""])
    )


def test_triggers_take_no_match_context() -> None:
    definition = {**confirmation_flow(), "triggers": [CONFIRMED]}
    assert any(loc[:2] == ("triggers", 0) and "match_context" in loc for loc in locs(definition))


# --- the workflow --------------------------------------------------------------------------------


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env) as engine:
        yield engine


async def test_two_appointments_each_goal_met_by_its_own(engine: WorkflowDriver) -> None:
    """One contact, two appointments, each in its own automation: a confirmation reaches both
    enrollments and meets only the one keyed to it."""
    contact = new_id()
    first = await engine.enroll(
        confirmation_flow(), contact, automation_id="a-1", context={"appointment_id": "apt-1"}
    )
    second = await engine.enroll(
        confirmation_flow(), contact, automation_id="a-2", context={"appointment_id": "apt-2"}
    )
    for enrolled in (first, second):
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    await engine.send(contact, "appointment.status_changed", {"status": "confirmed"}, id="no-key")
    await engine.send(
        contact,
        "appointment.status_changed",
        {"status": "confirmed", "appointment_id": "apt-2"},
        id="apt-2-confirmed",
    )
    # Waited for by query, not engine.result: awaiting a result lets the time-skipping server
    # skip ahead once nothing runs, which (in the moment after the second ends) is 14 days on
    # to the first's timeout, and this test needs no time to pass.
    done = await engine.until(second.enrollment_id, lambda v: v.status != "active")
    assert done.outcome == "goal_met"
    assert done.goals[0].event_id == "apt-2-confirmed"
    view = await engine.view(first.enrollment_id)
    assert view.status == "active" and not view.goals[0].met
    assert [e for e in view.timeline if e.kind == "goal_met"] == []

    await engine.send(
        contact,
        "appointment.status_changed",
        {"status": "confirmed", "appointment_id": "apt-1"},
        id="apt-1-confirmed",
    )
    done = await engine.until(first.enrollment_id, lambda v: v.status != "active")
    assert done.outcome == "goal_met"
    assert done.goals[0].event_id == "apt-1-confirmed"


async def test_an_enrollment_without_the_key_never_meets_a_keyed_goal(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    enrolled = await engine.enroll(confirmation_flow(), contact, context={"order_id": "o-1"})
    await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
    await engine.send(
        contact, "appointment.status_changed", {"status": "confirmed", "appointment_id": "apt-1"}
    )
    final = await engine.result(enrolled.enrollment_id)  # the 14-day hold times out
    assert final.outcome == "goal_unmet"
    assert not final.goals[0].met


# --- over HTTP -----------------------------------------------------------------------------------


async def send(stack: Stack, contact_id: str, data: dict[str, Any]) -> str:
    answer = await stack.http.post(
        "/v1/events",
        json={"contact_id": contact_id, "type": "appointment.status_changed", "data": data},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_id"])


async def view(stack: Stack, enrollment_id: str) -> dict[str, Any] | None:
    answer = await stack.http.get(f"/v1/enrollments/{enrollment_id}")
    if answer.status_code == 404:
        return None
    result: dict[str, Any] = answer.json()
    return result


async def test_triggered_enrollments_are_keyed_to_their_appointment(stack: Stack) -> None:
    """The seed's example, exact: a contact books two appointments; each booking enrolls (with
    the booking's data as context), and each confirmation ends only its own follow-up."""
    definition = {
        **confirmation_flow(),
        "settings": {"allow_reentry": True},
        "triggers": [{"id": "booked", "event": "appointment.status_changed", "status": ["new"]}],
    }
    automation_id = new_id("a")
    published = await stack.http.put(f"/v1/automations/{automation_id}", json=definition)
    assert published.status_code == 201, published.text
    # allow_reentry lets the second booking enroll once the first follow-up has ended.
    contact = new_id()
    await send(stack, contact, {"status": "new", "appointment_id": "apt-1"})
    first = f"enr:{automation_id}:{contact}:1"
    entered = await assert_eventually(lambda: view(stack, first), lambda v: v is not None)
    assert entered is not None and entered["context"]["appointment_id"] == "apt-1"
    await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-2"})
    confirmed = await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-1"})
    done = await assert_eventually(
        lambda: view(stack, first), lambda v: v is not None and v["status"] == "completed"
    )
    assert done is not None and done["goals"][0]["event_id"] == confirmed
    # The second booking: a new enrollment, keyed to apt-2; apt-1's news does not end it.
    await send(stack, contact, {"status": "new", "appointment_id": "apt-2"})
    second = f"enr:{automation_id}:{contact}:2"
    entered = await assert_eventually(lambda: view(stack, second), lambda v: v is not None)
    assert entered is not None and entered["context"]["appointment_id"] == "apt-2"
    await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-1"})
    confirmed = await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-2"})
    done = await assert_eventually(
        lambda: view(stack, second), lambda v: v is not None and v["status"] == "completed"
    )
    assert done is not None and done["goals"][0]["event_id"] == confirmed


async def test_api_enrollment_context_keys_the_goal(stack: Stack) -> None:
    automation_id = new_id("a")
    published = await stack.http.put(f"/v1/automations/{automation_id}", json=confirmation_flow())
    assert published.status_code == 201, published.text
    contact = new_id()
    answer = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments",
        json={"contact": {"id": contact}, "context": {"appointment_id": "apt-9"}},
    )
    assert answer.status_code == 201, answer.text
    enrollment_id = answer.json()["enrollment_id"]
    await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-8"})
    await send(stack, contact, {"status": "confirmed"})
    met = await send(stack, contact, {"status": "confirmed", "appointment_id": "apt-9"})
    done = await assert_eventually(
        lambda: view(stack, enrollment_id), lambda v: v is not None and v["status"] == "completed"
    )
    assert done is not None
    assert done["goals"][0]["event_id"] == met
    assert [e["detail"]["event_id"] for e in done["timeline"] if e["kind"] == "goal_met"] == [met]


async def test_bad_match_context_is_422_with_its_path(stack: Stack) -> None:
    answer = await stack.http.put(
        f"/v1/automations/{new_id('a')}", json=confirmation_flow(match_context="appointment_id")
    )
    assert answer.status_code == 422
    locs = [error["loc"] for error in answer.json()["detail"]]
    assert ["body", "steps", 0, "any_of", 0, "match_context"] in locs
