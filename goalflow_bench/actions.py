"""Temporal Cloud's billable actions, counted from workflow histories.

The rules are Temporal Cloud's published ones (https://docs.temporal.io/cloud/actions, cited in
docs/benchmarks.md); each category below says which history events it counts. A pure function
over history events, so that a test can hold it to a hand-built history.

Not in any history, so not counted here: queries (the benchmark counts them where they are
issued), rejected updates (refused by a validator before they reach history), heartbeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

# The categories, in the order reports print them.
WORKFLOW_STARTED = "workflow_started"
CHILD_WORKFLOW = "child_workflow"
TIMERS = "timers"
SIGNALS = "signals"
UPDATES = "updates"
QUERIES = "queries"
LOCAL_ACTIVITY_BATCHES = "local_activity_batches"
SEARCH_ATTRIBUTE_UPSERTS = "search_attribute_upserts"
ACTIVITY_ATTEMPTS = "activity_attempts"
OTHER = "other"
CATEGORIES = (
    WORKFLOW_STARTED,
    CHILD_WORKFLOW,
    TIMERS,
    SIGNALS,
    UPDATES,
    QUERIES,
    LOCAL_ACTIVITY_BATCHES,
    SEARCH_ATTRIBUTE_UPSERTS,
    ACTIVITY_ATTEMPTS,
    OTHER,
)

# The marker the Python SDK (sdk-core) records for each local activity; patches record
# "core_patch" markers, which are not actions.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# Set by `workflow.patched()`; an upsert of it alone is exempt.
CHANGE_VERSION = "TemporalChangeVersion"

_E = EventType


def count_actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Billable actions in one run's history, by category.

    - workflow started: a run's `WorkflowExecutionStarted` (client start, update-with-start,
      continue-as-new), except a child's first run, which its parent pays for (below);
    - child workflow: 2 per `StartChildWorkflowExecutionInitiated` (the recorded intent and the
      start attempt);
    - timers: each `TimerStarted`, the timeouts of `wait_condition` included;
    - signals: each `WorkflowExecutionSignaled`, in the signalled history (a signal sent by a
      workflow is paid there, not at `SignalExternalWorkflowExecutionInitiated`);
    - updates: each `WorkflowExecutionUpdateAccepted`;
    - local-activity batches: 1 per workflow task that recorded local-activity markers, plus
      each non-first attempt the task reports in its metering metadata;
    - search-attribute upserts: each `UpsertWorkflowSearchAttributes` that sets anything besides
      `TemporalChangeVersion` (search attributes given at start are free);
    - activity attempts: each `ActivityTaskScheduled`, plus `attempt - 1` retries on its
      `ActivityTaskStarted`;
    - other: `WorkflowExecutionOptionsUpdated`, Nexus operations scheduled or cancelled.
    """
    counted: Counter[str] = Counter()
    tasks_with_local_activities: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == _E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = event.workflow_execution_started_event_attributes
            child_first_run = (
                started.HasField("parent_workflow_execution")
                and started.parent_workflow_execution.workflow_id != ""
                and not started.continued_execution_run_id
            )
            if not child_first_run:
                counted[WORKFLOW_STARTED] += 1
        elif kind == _E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            counted[CHILD_WORKFLOW] += 2
        elif kind == _E.EVENT_TYPE_TIMER_STARTED:
            counted[TIMERS] += 1
        elif kind == _E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            counted[SIGNALS] += 1
        elif kind == _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            counted[UPDATES] += 1
        elif kind == _E.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                tasks_with_local_activities.add(marker.workflow_task_completed_event_id)
        elif kind == _E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            metering = event.workflow_task_completed_event_attributes.metering_metadata
            counted[LOCAL_ACTIVITY_BATCHES] += metering.nonfirst_local_activity_execution_attempts
        elif kind == _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {CHANGE_VERSION}:
                counted[SEARCH_ATTRIBUTE_UPSERTS] += 1
        elif kind == _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            counted[ACTIVITY_ATTEMPTS] += 1
        elif kind == _E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            counted[ACTIVITY_ATTEMPTS] += max(
                0, event.activity_task_started_event_attributes.attempt - 1
            )
        elif kind in (
            _E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED,
            _E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
            _E.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
        ):
            counted[OTHER] += 1
    counted[LOCAL_ACTIVITY_BATCHES] += len(tasks_with_local_activities)
    return +counted  # drop zero counts


def event_name(event: HistoryEvent) -> str:
    """`WorkflowExecutionStarted` for EVENT_TYPE_WORKFLOW_EXECUTION_STARTED."""
    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))
