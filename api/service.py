"""What the API asks of Temporal: one place for workflow ids, update-with-start and errors.

Routes stay thin; this class is also what the CLI and benchmarks drive.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import metrics
from api.errors import Conflict, NotFound, TooLarge
from api.schemas import StepCounts
from api.visibility import step_counts
from goalflow.triggers import TriggerCache
from workflows.automation import AutomationWorkflow, CatalogWorkflow
from workflows.contact import ContactWorkflowV2, contact_start
from workflows.definition import Automation
from workflows.events import ContactEvent
from workflows.limits import PROFILE_TOO_LARGE, TOO_MANY_ENROLLMENTS, VERSIONS_TOO_LARGE
from workflows.messages import (
    REENTRY_REFUSED,
    UNKNOWN_VERSION,
    AutomationLifecycle,
    AutomationState,
    AutomationStatus,
    AutomationVersion,
    CatalogEntry,
    CatalogState,
    CatalogView,
    ContactProfile,
    ContactView,
    EnrollmentView,
    EnrollRequest,
    EnrollResult,
    EventBatch,
    EventBatchReceipt,
    EventReceipt,
    ProfileSave,
    ProfileSaved,
    PublishRequest,
    PublishResult,
    StateRequest,
    TagChange,
    TagChangeResult,
    TriggerCount,
    TriggerLink,
    VersionRequest,
    automation_workflow_id,
    catalog_workflow_id,
    contact_workflow_id,
)

T = TypeVar("T")

# The events of one contact go to its workflow in updates of at most this many bytes of JSON
# (Temporal refuses payloads over 2 MB; one event's data is capped at 1 MiB, so an event that
# large travels alone).
EVENT_BATCH_BYTES = 512 * 1024


def _is_not_found(err: BaseException) -> bool:
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND


def contact_event(
    contact_id: str,
    type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> ContactEvent:
    """The event as the contact workflow takes it; an event without an id gets a fresh one."""
    return ContactEvent.model_validate(
        {
            "id": event_id or uuid.uuid4().hex,
            "contact_id": contact_id,
            "type": type,
            "occurred_at": occurred_at,
            "data": data,
        }
    )


def refused_as_too_large(err: WorkflowUpdateFailedError, loc: list[str]) -> None:
    """A contact's refusal of a change past its bounds (workflows/limits.py) is the caller's
    to fix: a 422 at `loc` saying how large the profile would be."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == PROFILE_TOO_LARGE:
        raise TooLarge(loc, cause.message) from err


def chunked(
    sized: Iterable[tuple[T, int]], max_bytes: int, max_items: int | None = None
) -> list[list[T]]:
    """Items (each with its size in bytes) in order, cut into lists of at most `max_bytes` (an
    item larger than that goes alone) and at most `max_items` items."""
    chunks: list[list[T]] = []
    size = 0
    for item, item_bytes in sized:
        current = chunks[-1] if chunks else None
        if (
            current is None
            or size + item_bytes > max_bytes
            or (max_items is not None and len(current) >= max_items)
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_bytes
    return chunks


def event_chunks(
    events: list[ContactEvent], max_bytes: int = EVENT_BATCH_BYTES
) -> list[list[ContactEvent]]:
    return chunked(((e, len(e.model_dump_json())) for e in events), max_bytes)


class Goalflow:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        search_attributes: bool = True,
        triggers: TriggerCache | None = None,
        report_outcomes: bool = False,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.search_attributes = search_attributes
        # GOALFLOW_REPORTING_WEBHOOK_URL is set: enrollments report their outcomes.
        self.report_outcomes = report_outcomes
        # The trigger set this process matches accepted events against (R14).
        self.triggers = triggers or TriggerCache(
            client, task_queue, search_attributes=search_attributes, report_outcomes=report_outcomes
        )
        # Per automation, the newest (revision, version) this process registered in the catalog.
        self._registered: dict[str, tuple[int, int]] = {}

    # --- automations ------------------------------------------------------------------------

    async def publish(
        self, automation_id: str, definition: Automation, *, activate: bool = True
    ) -> PublishResult:
        """A new version; `activate` (the default) makes the automation active, else a new
        automation starts paused and an existing one keeps its state."""
        try:
            result: PublishResult = await self.client.execute_update_with_start_workflow(
                AutomationWorkflow.publish,
                PublishRequest(
                    automation_id=automation_id, definition=definition, activate=activate
                ),
                start_workflow_operation=WithStartWorkflowOperation(
                    AutomationWorkflow.run,
                    AutomationState(automation_id=automation_id),
                    id=automation_workflow_id(automation_id),
                    task_queue=self.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    static_summary=f"automation {automation_id}",
                ),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == VERSIONS_TOO_LARGE:
                raise TooLarge(["body"], cause.message) from err
            raise
        # Registered on every publish (idempotent), so a crash between the two calls heals
        # on the next PUT.
        # Not created: the definition equals the latest version.
        await self._register(
            automation_id, definition, result.version, result.state, result.revision
        )
        return result

    async def set_state(self, automation_id: str, state: AutomationLifecycle) -> AutomationStatus:
        """Pause or resume (R17); effective for events accepted after this returns, in every
        process within the trigger set's refresh interval."""
        handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
        try:
            status: AutomationStatus = await handle.execute_update(
                AutomationWorkflow.set_state, StateRequest(state=state)
            )
        except RPCError as err:
            if _is_not_found(err):
                raise NotFound(f"automation {automation_id!r} not found") from err
            raise
        except WorkflowUpdateFailedError as err:
            raise NotFound(f"automation {automation_id!r} not found") from err
        latest = await self.automation(automation_id)
        await self._register(
            automation_id, latest.definition, latest.version, status.state, status.revision
        )
        return status

    async def _register(
        self,
        automation_id: str,
        definition: Automation,
        version: int,
        state: AutomationLifecycle,
        revision: int,
    ) -> None:
        await self.client.execute_update_with_start_workflow(
            CatalogWorkflow.register,
            CatalogEntry(
                automation_id=automation_id,
                name=definition.name,
                latest_version=version,
                updated_at=datetime.now(UTC),
                state=state,
                revision=revision,
                triggers=definition.triggers,
            ),
            start_workflow_operation=self._catalog_start(),
        )
        self._registered[automation_id] = max(
            self._registered.get(automation_id, (0, 0)), (revision, version)
        )
        self.triggers.invalidate()

    async def steps(self, automation_id: str, version: int | None = None) -> StepCounts:
        """Per step of a version (default: the latest), `here`/`reached`/`met` from visibility
        (eventually consistent; enrollments started before goalflow recorded their version and
        reached steps are not counted)."""
        found = await self.automation(automation_id, version)
        counts = await step_counts(self.client, automation_id, found.version, found.definition)
        return StepCounts(automation_id=automation_id, version=found.version, steps=counts)

    async def trigger_counts(self, automation_id: str) -> dict[str, TriggerCount]:
        handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
        try:
            counts: dict[str, TriggerCount] = await handle.query(AutomationWorkflow.trigger_counts)
        except RPCError as err:
            if _is_not_found(err):
                raise NotFound(f"automation {automation_id!r} not found") from err
            raise
        return counts

    async def automation(self, automation_id: str, version: int | None = None) -> AutomationVersion:
        handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
        try:
            found: AutomationVersion = await handle.query(
                AutomationWorkflow.get, VersionRequest(version=version)
            )
        except WorkflowQueryFailedError as err:
            if UNKNOWN_VERSION in str(err) or "no version" in str(err):
                raise NotFound(str(err)) from err
            raise
        except RPCError as err:
            if _is_not_found(err):
                raise NotFound(f"automation {automation_id!r} not found") from err
            raise
        return found

    async def _enrollable(self, automation_id: str, version: int | None) -> AutomationVersion:
        """The version to enroll into without a query per enrollment: "latest" and the state from
        this process's copy of the catalog (the trigger set, refreshed at most a second apart:
        a publish, pause or resume reaches every process within that, this one at once), the
        definition of a version once (versions are immutable). The query when the copy does
        not know the automation, or is older than what this process registered."""
        cache = await self.triggers.current()
        entry = cache.entries.get(automation_id)
        registered = self._registered.get(automation_id, (0, 0))
        if entry is None or (entry.revision, entry.latest_version) < registered:
            return await self.automation(automation_id, version)
        wanted = entry.latest_version if version is None else version
        if not 1 <= wanted <= entry.latest_version:
            return await self.automation(automation_id, version)  # NotFound, as it says
        found = cache.versions.get((automation_id, wanted))
        if found is None:
            found = await self.automation(automation_id, wanted)
            cache.versions[(automation_id, wanted)] = found
        return found.model_copy(update={"state": entry.state})

    async def catalog(self) -> CatalogView:
        handle = self.client.get_workflow_handle(catalog_workflow_id(self.task_queue))
        try:
            view: CatalogView = await handle.query(CatalogWorkflow.view)
        except RPCError as err:
            if _is_not_found(err):
                return CatalogView(automations=[], trigger_links=[])
            raise
        return view

    async def put_trigger_link(self, link: TriggerLink) -> TriggerLink:
        saved: TriggerLink = await self.client.execute_update_with_start_workflow(
            CatalogWorkflow.put_trigger_link, link, start_workflow_operation=self._catalog_start()
        )
        return saved

    def _catalog_start(self) -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(
            CatalogWorkflow.run,
            CatalogState(),
            id=catalog_workflow_id(self.task_queue),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="goalflow catalog: automations and trigger links",
        )

    # --- contacts, enrollments, events ------------------------------------------------------

    async def enroll(
        self,
        automation_id: str,
        contact: ContactProfile,
        version: int | None = None,
        context: dict[str, Any] | None = None,
    ) -> EnrollResult:
        found = await self._enrollable(automation_id, version)
        if found.state == "paused":
            metrics.ENROLLMENTS.labels(result="refused").inc()
            raise Conflict(
                f"automation {automation_id!r} is paused: it enrolls nobody until it is resumed "
                f"(POST /v1/automations/{automation_id}/resume)"
            )
        try:
            result: EnrollResult = await self.client.execute_update_with_start_workflow(
                ContactWorkflowV2.enroll,
                EnrollRequest(
                    automation_id=automation_id,
                    version=found.version,
                    automation=found.definition,
                    contact=contact,
                    search_attributes=self.search_attributes,
                    context=context or {},
                    report_outcomes=self.report_outcomes,
                ),
                start_workflow_operation=contact_start(contact.id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == REENTRY_REFUSED:
                metrics.ENROLLMENTS.labels(result="refused").inc()
                raise Conflict(
                    f"{cause.message}: publish a version with settings.allow_reentry true to "
                    "let contacts enter again"
                ) from err
            if isinstance(cause, ApplicationError) and cause.type == TOO_MANY_ENROLLMENTS:
                metrics.ENROLLMENTS.labels(result="refused").inc()
                raise Conflict(cause.message) from err
            refused_as_too_large(err, ["body", "contact"])
            raise
        metrics.ENROLLMENTS.labels(result="created" if result.created else "existing").inc()
        return result

    async def send_event(
        self,
        contact_id: str,
        type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> EventReceipt:
        event = contact_event(contact_id, type, data, event_id=event_id, occurred_at=occurred_at)
        await self._attach_triggers([event])
        receipt: EventReceipt = await self.client.execute_update_with_start_workflow(
            ContactWorkflowV2.accept_event,
            event,
            start_workflow_operation=contact_start(contact_id, self.task_queue),
        )
        metrics.EVENTS.labels(result="duplicate" if receipt.duplicate else "accepted").inc()
        return receipt

    async def send_events(self, contact_id: str, events: list[ContactEvent]) -> list[EventReceipt]:
        """Events of one contact, in order, in as few updates as fit (`EVENT_BATCH_BYTES`).
        An error stops at the update that failed and is raised: earlier updates may have been
        accepted, so callers report the whole list as not accepted (a retry with the same ids
        applies each event once)."""
        receipts: list[EventReceipt] = []
        await self._attach_triggers(events)
        for chunk in event_chunks(events):
            answer: EventBatchReceipt = await self.client.execute_update_with_start_workflow(
                ContactWorkflowV2.accept_events,
                EventBatch(events=chunk),
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
            for receipt in answer.receipts:
                metrics.EVENTS.labels(result="duplicate" if receipt.duplicate else "accepted").inc()
            receipts += answer.receipts
        return receipts

    async def change_tags(
        self, contact_id: str, add: list[str], remove: list[str], change_id: str | None = None
    ) -> TagChangeResult:
        cache = await self.triggers.current()
        try:
            result: TagChangeResult = await self.client.execute_update_with_start_workflow(
                ContactWorkflowV2.change_tags,
                TagChange(
                    id=change_id or uuid.uuid4().hex,
                    add=add,
                    remove=remove,
                    triggers=cache.candidates(["contact.tag_added", "contact.tag_removed"]),
                ),
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            refused_as_too_large(err, ["body", "add"])
            raise
        return result

    async def save_profile(self, contact_id: str, save: ProfileSave) -> ProfileSaved:
        """`PUT /v1/contacts/{id}`: `contact.created` on the first save, else `contact.updated`
        when something changed; triggers on those and on the tag events fire (R14)."""
        cache = await self.triggers.current()
        save.triggers = cache.candidates(
            ["contact.created", "contact.updated", "contact.tag_added", "contact.tag_removed"]
        )
        try:
            result: ProfileSaved = await self.client.execute_update_with_start_workflow(
                ContactWorkflowV2.save_profile,
                save,
                start_workflow_operation=contact_start(contact_id, self.task_queue),
            )
        except WorkflowUpdateFailedError as err:
            refused_as_too_large(
                err, ["body", "tags" if save.tags and not save.fields else "fields"]
            )
            raise
        return result

    async def _attach_triggers(self, events: list[ContactEvent]) -> None:
        """R14: the triggers each event matches travel with it in the update that accepts it;
        the contact workflow enrolls right after accepting it, in acceptance order."""
        cache = await self.triggers.current()
        if cache.empty:
            return
        for event in events:
            event.triggers = cache.match(event)

    async def contact(self, contact_id: str) -> ContactView:
        handle = self.client.get_workflow_handle(contact_workflow_id(contact_id))
        try:
            view: ContactView = await handle.query(ContactWorkflowV2.view)
        except RPCError as err:
            if _is_not_found(err):
                raise NotFound(f"contact {contact_id!r} not found") from err
            raise
        return view

    async def enrollment(self, enrollment_id: str) -> EnrollmentView:
        handle = self.client.get_workflow_handle(enrollment_id)
        try:
            view: EnrollmentView = await handle.query("view", result_type=EnrollmentView)
        except RPCError as err:
            if _is_not_found(err) or err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise NotFound(f"enrollment {enrollment_id!r} not found") from err
            raise
        except WorkflowQueryFailedError as err:
            raise NotFound(f"{enrollment_id!r} is not an enrollment") from err
        return view

    async def cancel(self, enrollment_id: str) -> EnrollmentView:
        """R11: cancel and wait for the enrollment to settle; its final view."""
        view = await self.enrollment(enrollment_id)
        if view.status != "active":
            return view
        handle = self.client.get_workflow_handle(enrollment_id, result_type=EnrollmentView)
        try:
            await handle.cancel()
        except RPCError as err:
            if not _is_not_found(err):
                raise
        final: EnrollmentView = await handle.result()
        return final
