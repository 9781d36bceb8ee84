"""Automations as the service layer keeps them: versions published into an entity workflow per
automation, pause and resume, and the catalog that lists them (and trigger links).

`AutomationOperations` holds what every operation needs (the Temporal client, the task queue,
this process's trigger set); `GoalflowService` (`goalflow/service/contacts.py`) adds contacts,
enrollments and events on top.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from goalflow.core.slow_worker import raise_if_worker_too_slow
from goalflow.core.trigger_cache import TriggerCache
from goalflow.service.errors import NotFound, TooLarge, is_missing, missing_as_not_found
from goalflow.service.visibility import StepCounts, step_counts
from workflows.automation import AutomationWorkflow, CatalogWorkflow
from workflows.budget import MessagingPolicy
from workflows.definition import Automation
from workflows.limits import VERSIONS_TOO_LARGE
from workflows.messages import (
    UNKNOWN_VERSION,
    AutomationLifecycle,
    AutomationState,
    AutomationStatus,
    AutomationVersion,
    CatalogEntry,
    CatalogState,
    CatalogView,
    PublishRequest,
    PublishResult,
    StateRequest,
    TriggerCount,
    TriggerLink,
    VersionRequest,
    automation_workflow_id,
    catalog_workflow_id,
)


def _automation_not_found(automation_id: str) -> str:
    return f"automation {automation_id!r} not found"


# Seconds a request waits for a contact's workflow to answer before it is refused with 503
# (GOALFLOW_ANSWER_WAIT_SECONDS).
DEFAULT_ANSWER_WAIT = 30.0


class AutomationOperations:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        search_attributes: bool = True,
        triggers: TriggerCache | None = None,
        report_outcomes: bool = False,
        answer_wait: float = DEFAULT_ANSWER_WAIT,
    ) -> None:
        self.client = client
        # Seconds a contact's update may take before the request answers 503 (NotAnswered).
        self.answer_wait = answer_wait
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
        with missing_as_not_found(
            _automation_not_found(automation_id), also=(WorkflowUpdateFailedError,)
        ):
            status: AutomationStatus = await handle.execute_update(
                AutomationWorkflow.set_state, StateRequest(state=state)
            )
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
        with missing_as_not_found(_automation_not_found(automation_id)):
            counts: dict[str, TriggerCount] = await handle.query(AutomationWorkflow.trigger_counts)
        return counts

    async def automation(self, automation_id: str, version: int | None = None) -> AutomationVersion:
        handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
        try:
            with missing_as_not_found(_automation_not_found(automation_id)):
                found: AutomationVersion = await handle.query(
                    AutomationWorkflow.get, VersionRequest(version=version)
                )
        except WorkflowQueryFailedError as err:
            raise_if_worker_too_slow(err)
            if UNKNOWN_VERSION in str(err) or "no version" in str(err):
                raise NotFound(str(err)) from err
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
            if is_missing(err):
                return CatalogView(automations=[], trigger_links=[])
            raise
        return view

    async def put_trigger_link(self, link: TriggerLink) -> TriggerLink:
        saved: TriggerLink = await self.client.execute_update_with_start_workflow(
            CatalogWorkflow.put_trigger_link, link, start_workflow_operation=self._catalog_start()
        )
        return saved

    async def messaging_policy(self) -> MessagingPolicy:
        handle = self.client.get_workflow_handle(catalog_workflow_id(self.task_queue))
        try:
            policy: MessagingPolicy = await handle.query(CatalogWorkflow.messaging_policy)
        except RPCError as err:
            if is_missing(err):
                return MessagingPolicy()
            raise
        return policy

    async def set_messaging_policy(self, policy: MessagingPolicy) -> MessagingPolicy:
        saved: MessagingPolicy = await self.client.execute_update_with_start_workflow(
            CatalogWorkflow.set_messaging_policy,
            policy,
            start_workflow_operation=self._catalog_start(),
        )
        self.triggers.invalidate()  # every copy in this process, at once
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
