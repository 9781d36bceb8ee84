"""R15 look-back: what a contact remembers (bounds in count, age and bytes, across
continue-as-new) and how an enrollment applies the events it looks back on, at the workflow
level on the time-skipping server and over HTTP on a real stack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, assert_eventually, kinds, new_id, running_engine
from tests.support.stack import Stack
from workflows.contact import ContactWorkflowV2
from workflows.event_memory import (
    MEMORY_BYTES,
    MEMORY_EVENTS,
    EventMemory,
    forget,
    longest_lookback,
    recall,
    remember,
)
from workflows.events import ContactEvent
from workflows.messages import EventBatch, contact_workflow_id

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def event(n: int, at: datetime, **data: Any) -> ContactEvent:
    return ContactEvent.model_validate(
        {
            "id": f"e-{n}",
            "contact_id": "c",
            "type": "custom",
            "accepted_at": at,
            "data": {"name": "page_view", "url": "https://example.com/pricing", **data},
        }
    )


def looking_back(lookback: str | None = "PT1H", **criterion: Any) -> dict[str, Any]:
    """Waits a day, then a goal on any custom event (with `lookback`), then holds a day."""
    found = {"event": "custom", **criterion}
    if lookback is not None:
        found["lookback"] = lookback
    return {
        "name": "look back",
        "steps": [
            {"id": "chase", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": [found], "if_unmet": {"action": "end"}},
            {"id": "hold", "type": "wait", "duration": "P1D"},
        ],
    }


# --- the memory ----------------------------------------------------------------------------------


def test_memory_keeps_the_last_thousand_events_in_order() -> None:
    memory = EventMemory()
    for n in range(1_500):
        remember(memory, event(n, T0 + timedelta(seconds=n)), T0 + timedelta(seconds=n))
    assert len(memory.events) == MEMORY_EVENTS == 1_000
    assert [e.id for e in memory.events[:2]] == ["e-500", "e-501"]
    assert memory.events[-1].id == "e-1499"
    assert memory.size == sum(len(e.model_dump_json()) for e in memory.events)


def test_memory_forgets_events_older_than_thirty_days() -> None:
    memory = EventMemory()
    for day in range(40):
        at = T0 + timedelta(days=day)
        remember(memory, event(day, at), at)
    now = T0 + timedelta(days=39)
    assert memory.events[0].accepted_at == now - timedelta(days=30)
    forget(memory, now + timedelta(days=31))
    assert memory.events == [] and memory.size == 0


def test_memory_stays_within_its_byte_budget() -> None:
    memory = EventMemory()
    big = "x" * 4_000
    for n in range(1_000):
        remember(memory, event(n, T0, blob=big), T0)
    assert memory.size <= MEMORY_BYTES
    assert len(memory.model_dump_json()) <= MEMORY_BYTES + 64
    assert memory.events[-1].id == "e-999"  # the newest are the ones kept


def test_recall_returns_nothing_without_a_lookback_criterion() -> None:
    memory = EventMemory()
    remember(memory, event(1, T0), T0)
    without, _ = parse_automation(looking_back(None))
    assert longest_lookback(without) is None
    assert recall(memory, without, T0) == []
    with_it, _ = parse_automation(looking_back("PT30M"))
    assert recall(memory, with_it, T0 + timedelta(minutes=30)) == memory.events
    assert recall(memory, with_it, T0 + timedelta(minutes=31)) == []


@pytest.mark.parametrize(
    ("lookback", "message"),
    [("P31D", "longer than P30D"), ("PT721H", "longer than P30D"), ("1 hour", "ISO 8601")],
)
def test_bad_lookback_is_refused_with_its_path(lookback: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_automation(looking_back(lookback))
    [error] = caught.value.errors()
    assert error["loc"] == ("steps", 1, "any_of", 0, "lookback")
    assert message in error["msg"]


def test_p30d_is_the_longest_lookback() -> None:
    automation, _ = parse_automation(looking_back("P30D"))
    assert longest_lookback(automation) == timedelta(days=30)


def test_triggers_take_no_lookback() -> None:
    definition = {**looking_back(), "triggers": [{"event": "custom", "lookback": "PT1H"}]}
    with pytest.raises(ValidationError) as caught:
        parse_automation(definition)
    assert any(e["loc"][:2] == ("triggers", 0) for e in caught.value.errors())


# --- the workflows -------------------------------------------------------------------------------


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env) as engine:
        yield engine


async def test_an_event_inside_the_lookback_meets_the_goal_before_the_first_step(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "pricing"}, id="before")
    enrolled = await engine.enroll(looking_back("PT1H"), contact)
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].met and final.goals[0].event_id == "before"
    met = next(e for e in final.timeline if e.kind == "goal_met")
    assert met.detail == {
        "event_id": "before",
        "event_type": "custom",
        "moves": True,
        "lookback": True,
    }
    # The contact moved to the goal before the wait: nobody chased them.
    assert ("step_started", "chase") not in kinds(final)
    assert kinds(final)[:3] == [("entered", None), ("goal_met", "g"), ("moved", "g")]


async def test_an_event_outside_the_lookback_is_not_seen(
    engine: WorkflowDriver, ts_env: WorkflowEnvironment
) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "pricing"}, id="too-early")
    await ts_env.sleep(timedelta(hours=2))
    enrolled = await engine.enroll(looking_back("PT1H"), contact)
    final = await engine.result(enrolled.enrollment_id)
    assert not final.goals[0].met
    assert final.outcome == "goal_unmet"


async def test_a_criterion_without_lookback_still_ignores_earlier_events(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "pricing"})
    definition = looking_back(None)
    # Another goal looks back; "g" does not, and must not be met by the earlier event.
    definition["steps"].insert(
        0,
        {
            "id": "other",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "never", "lookback": "PT1H"}],
        },
    )
    enrolled = await engine.enroll(definition, contact)
    final = await engine.result(enrolled.enrollment_id)
    assert [g.met for g in final.goals] == [False, False]


async def test_looked_back_events_apply_oldest_first_before_later_ones(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    for name in ("first", "second"):
        await engine.send(contact, "custom", {"name": name}, id=name)
    enrolled = await engine.enroll(looking_back("PT1H"), contact)
    await engine.until(enrolled.enrollment_id, lambda v: v.current_step == "hold")
    await engine.send(contact, "custom", {"name": "later"}, id="later")
    view = await engine.until(
        enrolled.enrollment_id,
        lambda v: len([e for e in v.timeline if e.kind == "goal_met"]) == 3,
    )
    met = [e.detail for e in view.timeline if e.kind == "goal_met"]
    assert [(d["event_id"], d.get("lookback", False)) for d in met] == [
        ("first", True),
        ("second", True),
        ("later", False),
    ]
    assert view.goals[0].event_id == "first"  # R9


async def test_lookback_with_match_context_uses_the_enrollment_context(
    engine: WorkflowDriver,
) -> None:
    contact = new_id()
    await engine.send(contact, "custom", {"name": "paid", "order_id": "o-1"}, id="paid-o-1")
    await engine.send(contact, "custom", {"name": "paid", "order_id": "o-2"}, id="paid-o-2")
    enrolled = await engine.enroll(
        looking_back("PT1H", match_context=["order_id"]), contact, context={"order_id": "o-2"}
    )
    final = await engine.result(enrolled.enrollment_id)
    assert final.goals[0].event_id == "paid-o-2"


async def test_a_thousand_remembered_events_across_continue_as_new(engine: WorkflowDriver) -> None:
    """1,050 events through a contact that continues as new after its 1,000th: the next run
    starts with the newest 1,000 remembered, within the byte budget, and hands them to an
    enrollment that looks back."""
    contact = new_id()
    for batch in range(21):
        events = [
            ContactEvent.model_validate(
                {
                    "id": f"view-{n:04d}",
                    "contact_id": contact,
                    "type": "custom",
                    "data": {"name": "page_view", "url": f"https://example.com/p/{n}"},
                }
            )
            for n in range(batch * 50, batch * 50 + 50)
        ]
        await engine.client.execute_update_with_start_workflow(
            ContactWorkflowV2.accept_events,
            EventBatch(events=events),
            start_workflow_operation=engine.contact_start(contact, continue_as_new_after_ops=1_000),
        )
    await assert_eventually(lambda: engine.contact(contact), lambda v: v.events_seen == 1_050)
    history = await engine.client.get_workflow_handle(contact_workflow_id(contact)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the contact continued as new"
    carried = started.input.payloads[0].data
    memory = json.loads(carried)["memory"]
    assert len(memory["events"]) == 1_000
    assert memory["events"][0]["id"] == "view-0000"
    assert 0 < memory["size"] <= MEMORY_BYTES
    assert len(json.dumps(memory["events"], separators=(",", ":"))) <= MEMORY_BYTES
    assert len(carried) <= 1024 * 1024  # the whole state handed to the next run: under 1 MiB

    # By now the next run remembers events 50…1049: 0…49 were forgotten.
    enrolled = await engine.enroll(
        looking_back("P30D", where={"url": "https://example.com/p/50"}), contact
    )
    assert (await engine.result(enrolled.enrollment_id)).goals[0].event_id == "view-0050"
    missed = await engine.enroll(
        looking_back("P30D", where={"url": "https://example.com/p/49"}),
        contact,
        automation_id="missed",
    )
    assert not (await engine.result(missed.enrollment_id)).goals[0].met


# --- over HTTP -----------------------------------------------------------------------------------


async def publish(stack: Stack, definition: dict[str, Any]) -> str:
    automation_id = new_id("a")
    answer = await stack.http.put(f"/v1/automations/{automation_id}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation_id


async def enrollment_view(stack: Stack, enrollment_id: str) -> dict[str, Any] | None:
    answer = await stack.http.get(f"/v1/enrollments/{enrollment_id}")
    if answer.status_code == 404:
        return None
    view: dict[str, Any] = answer.json()
    return view


def signed_up(name: str, lookback: str | None) -> dict[str, Any]:
    criterion: dict[str, Any] = {"event": "custom", "name": name}
    if lookback:
        criterion["lookback"] = lookback
    return {
        "name": "welcome",
        "triggers": [{"id": "signup", "event": "custom", "name": name}],
        "steps": [
            {
                "id": "g",
                "type": "goal",
                "any_of": [criterion],
                "on_met": {"action": "end"},
                "if_unmet": {"action": "wait", "timeout": "P1D"},
            }
        ],
    }


async def test_the_triggering_event_counts_only_through_lookback(stack: Stack) -> None:
    name = new_id("signup")
    looking = await publish(stack, signed_up(name, "PT1H"))
    blind = await publish(stack, signed_up(name, None))
    contact = new_id()
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": name}}
    )
    assert answer.status_code == 202, answer.text
    trigger_event = answer.json()["event_id"]
    done = await assert_eventually(
        lambda: enrollment_view(stack, f"enr:{looking}:{contact}:1"),
        lambda v: v is not None and v["status"] == "completed",
    )
    assert done is not None and done["outcome"] == "goal_met"
    assert done["goals"][0]["event_id"] == trigger_event
    held = await assert_eventually(
        lambda: enrollment_view(stack, f"enr:{blind}:{contact}:1"),
        lambda v: v is not None and v["waiting"] is not None,
    )
    assert held is not None and held["goals"][0]["met"] is False
    await stack.http.delete(f"/v1/enrollments/enr:{blind}:{contact}:1")


async def test_an_api_enrollment_looks_back_on_earlier_events(stack: Stack) -> None:
    name = new_id("pricing")
    definition = {
        "name": "don't chase",
        "steps": [
            {"id": "chase", "type": "wait", "duration": "P1D"},
            {
                "id": "g",
                "type": "goal",
                "any_of": [{"event": "custom", "name": name, "lookback": "PT1H"}],
                "on_met": {"action": "end"},
            },
        ],
    }
    automation_id = await publish(stack, definition)
    contact = new_id()
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": name}}
    )
    assert answer.status_code == 202, answer.text
    enrolled = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": contact}}
    )
    assert enrolled.status_code == 201, enrolled.text
    done = await assert_eventually(
        lambda: enrollment_view(stack, enrolled.json()["enrollment_id"]),
        lambda v: v is not None and v["status"] == "completed",
    )
    assert done is not None and done["outcome"] == "goal_met"
    assert [e["step_id"] for e in done["timeline"] if e["kind"] == "step_started"] == []


@pytest.mark.parametrize("lookback", ["P31D", "PT1H30", "yesterday", "P1M"])
async def test_bad_lookback_is_422_with_its_path(stack: Stack, lookback: str) -> None:
    answer = await stack.http.put(f"/v1/automations/{new_id('a')}", json=looking_back(lookback))
    assert answer.status_code == 422, answer.text
    locs = [error["loc"] for error in answer.json()["detail"]]
    assert ["body", "steps", 1, "any_of", 0, "lookback"] in locs
