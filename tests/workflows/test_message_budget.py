"""R20 message budget on the time-skipping server: caps across automations, deferral until a
slot frees, skip, transactional sends, quiet hours (overnight, in the contact's time zone), a
goal met during either wait, the ledger across the contact's continue-as-new, and a race for
the last slot.

The send activities are fakes under their real names, but they ask the real budget
(goalflow/core/send_budget.py) exactly as the real ones do, before sending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from goalflow.core.send_budget import MessageBudget
from tests.support.helpers import WorkflowDriver, assert_eventually, kinds, new_id, running_engine
from workflows.automation import CatalogWorkflow
from workflows.budget import MessagingPolicy
from workflows.messages import (
    SEND_EMAIL,
    SEND_SMS,
    CatalogState,
    DeliveryResult,
    EmailRequest,
    EnrollmentView,
    SmsRequest,
    catalog_workflow_id,
    contact_workflow_id,
)

BUY = {"event": "custom", "name": "buy"}


class Outbox:
    """Fakes of the send activities that ask the message budget first, as the real ones do;
    they keep (automation, step) of what was sent, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.budget: MessageBudget | None = None

    async def _send(self, request: EmailRequest | SmsRequest, channel: Any) -> DeliveryResult:
        assert self.budget is not None
        held = await self.budget.ask(request.context, channel)
        if held is not None:
            return held
        self.sent.append((request.context.automation_id, request.context.step_id))
        await self.budget.sent(request.context, channel)
        return DeliveryResult(message_id=request.context.key)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, request: EmailRequest) -> DeliveryResult:
        return await self._send(request, "email")

    @activity.defn(name=SEND_SMS)
    async def send_sms(self, request: SmsRequest) -> DeliveryResult:
        return await self._send(request, "sms")


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment, outbox: Outbox) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env, activities=[outbox.send_sms, outbox.send_email]) as engine:
        outbox.budget = MessageBudget(engine.client, engine.task_queue)
        yield engine


async def set_policy(engine: WorkflowDriver, outbox: Outbox, policy: dict[str, Any]) -> None:
    """As PUT /v1/policies/messaging does: the catalog's update, then this process's copies."""
    await engine.client.execute_update_with_start_workflow(
        CatalogWorkflow.set_messaging_policy,
        MessagingPolicy.model_validate(policy),
        start_workflow_operation=WithStartWorkflowOperation(
            CatalogWorkflow.run,
            CatalogState(),
            id=catalog_workflow_id(engine.task_queue),
            task_queue=engine.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        ),
    )
    assert outbox.budget is not None
    outbox.budget.cache.invalidate()


def mail(step_id: str = "mail") -> dict[str, Any]:
    return {"id": step_id, "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"}


def automation(*steps: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "budget", "settings": settings, "steps": list(steps or [mail()])}


def waiting_for(kind: str) -> Any:
    return lambda view: view.waiting is not None and view.waiting.kind == kind


async def ended(engine: WorkflowDriver, enrollment_id: str) -> EnrollmentView:
    """Wait for an enrollment that needs no timer to end, without letting the time-skipping
    server skip time meanwhile (as `engine.result` does): no slot frees behind the test's back."""
    return await engine.until(enrollment_id, lambda view: view.status != "active")


def completed(view: EnrollmentView, step_id: str) -> Any:
    return next(e for e in view.timeline if e.kind == "step_completed" and e.step_id == step_id)


async def test_the_cap_holds_across_automations_and_the_last_waits_for_a_slot(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    await set_policy(engine, outbox, {"email": {"max": 2, "per": "P1D"}})
    contact = new_id()
    first = await engine.enroll(automation(), contact, automation_id="a1")
    await ended(engine, first.enrollment_id)
    second = await engine.enroll(automation(), contact, automation_id="a2")
    done = await ended(engine, second.enrollment_id)
    granted_at = completed(done, "mail").at
    third = await engine.enroll(automation(), contact, automation_id="a3")
    view = await engine.until(third.enrollment_id, waiting_for("budget"))
    assert outbox.sent == [("a1", "mail"), ("a2", "mail")]
    first_view = await engine.view(first.enrollment_id)
    slot_frees = completed(first_view, "mail").at + timedelta(days=1)
    assert view.waiting is not None and view.waiting.until is not None
    assert abs(view.waiting.until - slot_frees) < timedelta(seconds=5)
    assert view.waiting.until < granted_at + timedelta(days=1)
    waiting = next(e for e in view.timeline if e.kind == "waiting")
    assert waiting.detail == {"budget": True, "until": view.waiting.until.isoformat()}
    # The Temporal UI's details line says it too.
    handle = engine.client.get_workflow_handle(third.enrollment_id)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert f"message budget: a slot frees {view.waiting.until.isoformat()}" in (
        metadata.current_details
    )

    final = await engine.result(third.enrollment_id)
    assert outbox.sent[-1] == ("a3", "mail") and len(outbox.sent) == 3
    assert completed(final, "mail").at >= view.waiting.until
    assert "message_id" in completed(final, "mail").detail


async def test_skip_when_capped_is_not_sent(engine: WorkflowDriver, outbox: Outbox) -> None:
    await set_policy(engine, outbox, {"sms": {"max": 1, "per": "PT12H"}})
    contact = new_id()
    text = {"id": "text", "type": "send_sms", "body": "hi"}
    phone = {"phone": "+14155550100"}
    first = await engine.enroll(automation(text), contact, automation_id="a1", contact=phone)
    await ended(engine, first.enrollment_id)
    second = await engine.enroll(
        automation(text, when_capped="skip"), contact, automation_id="a2", contact=phone
    )
    final = await ended(engine, second.enrollment_id)
    assert outbox.sent == [("a1", "text")]
    assert completed(final, "text").detail == {"skipped": "budget"}
    assert final.status == "completed"


async def test_twenty_automations_race_for_one_slot(engine: WorkflowDriver, outbox: Outbox) -> None:
    await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}})
    contact = new_id()
    enrolled = await asyncio.gather(
        *(
            engine.enroll(automation(when_capped="skip"), contact, automation_id=f"a{n}")
            for n in range(20)
        )
    )
    finals = [await ended(engine, e.enrollment_id) for e in enrolled]
    assert len(outbox.sent) == 1
    skipped = [f for f in finals if completed(f, "mail").detail == {"skipped": "budget"}]
    assert len(skipped) == 19


async def test_transactional_ignores_caps_and_quiet_hours_but_counts(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:00"), "end": "23:59"}
    if quiet["start"] >= "23:00":
        quiet["end"] = (now - timedelta(hours=2)).strftime("%H:00")
    await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}})
    contact = new_id()
    receipts = await engine.enroll(
        automation(mail("one"), mail("two"), priority="transactional"), contact, automation_id="t"
    )
    await ended(engine, receipts.enrollment_id)
    assert outbox.sent == [("t", "one"), ("t", "two")]
    normal = await engine.enroll(automation(), contact, automation_id="n")
    await engine.until(normal.enrollment_id, waiting_for("budget"))
    # Quiet hours now too: transactional still goes.
    await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}, "quiet_hours": quiet})
    again = await engine.enroll(
        automation(mail("three"), priority="transactional"), new_id(), automation_id="t"
    )
    await ended(engine, again.enrollment_id)
    assert outbox.sent[-1] == ("t", "three")


async def test_quiet_hours_overnight_in_the_contacts_time_zone(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    kathmandu = ZoneInfo("Asia/Kathmandu")  # UTC+5:45 all year
    local = (await ts_env.get_current_time()).astimezone(kathmandu)
    # From an hour ago to two hours ago, local: 23 hours that span midnight.
    start = (local - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    end = (local - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    quiet = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
    await set_policy(engine, outbox, {"quiet_hours": quiet})
    enrolled = await engine.enroll(
        automation(timezone="UTC"),
        new_id(),
        contact={"fields": {"timezone": "Asia/Kathmandu"}},
    )
    view = await engine.until(enrolled.enrollment_id, waiting_for("quiet_hours"))
    assert view.waiting is not None and view.waiting.until == end + timedelta(days=1)
    assert outbox.sent == []
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == [("auto", "mail")]
    assert completed(final, "mail").at >= end + timedelta(days=1)


@pytest.mark.parametrize("wait", ["budget", "quiet_hours"])
async def test_a_goal_met_during_the_wait_moves_the_contact_and_nothing_is_sent(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment, wait: str
) -> None:
    contact = new_id()
    if wait == "budget":
        await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}})
        first = await engine.enroll(automation(), contact, automation_id="a1")
        await ended(engine, first.enrollment_id)
    else:
        now = (await ts_env.get_current_time()).astimezone(UTC)
        start, end = now - timedelta(hours=1), now - timedelta(hours=2)
        quiet = {"start": start.strftime("%H:00"), "end": end.strftime("%H:00")}
        await set_policy(engine, outbox, {"quiet_hours": quiet})
    sent_before = list(outbox.sent)
    enrolled = await engine.enroll(
        automation(
            mail("pitch"),
            {"id": "g", "type": "goal", "any_of": [BUY]},
            {"id": "after", "type": "add_tag", "tag": "bought"},
        ),
        contact,
        automation_id="a2",
    )
    await engine.until(enrolled.enrollment_id, waiting_for(wait))
    await engine.send(contact, "custom", {"name": "buy"})
    final = await ended(engine, enrolled.enrollment_id)
    assert outbox.sent == sent_before
    assert ("moved", "g") in kinds(final)
    assert completed(final, "pitch").detail == {"skipped": "moved", "cut_short": True}
    assert (await engine.contact(contact)).tags == ["bought"]


async def test_the_ledger_survives_the_contacts_continue_as_new(
    engine: WorkflowDriver, outbox: Outbox
) -> None:
    await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}})
    contact = new_id()
    first = await engine.enroll(
        automation(), contact, automation_id="a1", continue_as_new_after_ops=2
    )
    await ended(engine, first.enrollment_id)
    handle = engine.client.get_workflow_handle(contact_workflow_id(contact))
    first_run = (await handle.describe()).run_id
    for n in range(4):
        await engine.send(contact, "custom", {"name": f"noise-{n}"})
    second = await engine.enroll(automation(), contact, automation_id="a2")
    await engine.until(second.enrollment_id, waiting_for("budget"))
    assert (await handle.describe()).run_id != first_run
    assert outbox.sent == [("a1", "mail")]


async def test_a_budget_wait_survives_the_enrollments_continue_as_new(
    engine: WorkflowDriver, outbox: Outbox
) -> None:
    await set_policy(engine, outbox, {"email": {"max": 1, "per": "P1D"}})
    contact = new_id()
    first = await engine.enroll(automation(), contact, automation_id="a1")
    await ended(engine, first.enrollment_id)
    enrolled = await engine.enroll(
        automation(), contact, automation_id="a2", enrollment_continue_as_new_after=3
    )
    before = await engine.until(enrolled.enrollment_id, waiting_for("budget"))
    handle = engine.client.get_workflow_handle(enrolled.enrollment_id)
    first_run = (await handle.describe()).run_id
    for n in range(10):
        await engine.send(contact, "custom", {"name": f"noise-{n}"})
    await assert_eventually(handle.describe, lambda d: d.run_id != first_run)
    view = await engine.until(enrolled.enrollment_id, waiting_for("budget"))
    assert view.waiting == before.waiting
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == [("a1", "mail"), ("a2", "mail")]
    assert [k for k, s in kinds(final) if s == "mail"].count("waiting") == 1
