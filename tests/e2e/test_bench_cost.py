"""`goalflow bench cost`: the action counter on hand-built histories, and the command at a tiny
size. The counter follows Temporal Cloud's published rules (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from goalflow_bench.actions import count_actions, event_name
from goalflow_bench.cost import floor_unit
from goalflow_bench.floor import FloorWorkflow
from goalflow_bench.runs import CLICK_DELAY
from tests.support.bench_cli import bench_json

E = EventType


def _history(*specs: tuple[EventType.ValueType, dict[str, Any]]) -> list[HistoryEvent]:
    events = []
    for number, (kind, attributes) in enumerate(specs, start=1):
        events.append(
            HistoryEvent(event_id=number, event_type=kind, event_time=Timestamp(), **attributes)
        )
    return events


def _task(metering: int = 0) -> list[tuple[EventType.ValueType, dict[str, Any]]]:
    completed = WorkflowTaskCompletedEventAttributes()
    completed.metering_metadata.nonfirst_local_activity_execution_attempts = metering
    return [
        (E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, {}),
        (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, {}),
        (
            E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            {"workflow_task_completed_event_attributes": completed},
        ),
    ]


def _upsert(*names: str) -> tuple[EventType.ValueType, dict[str, Any]]:
    fields = {name: Payload(data=b'"x"') for name in names}
    return (
        E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        {
            "upsert_workflow_search_attributes_event_attributes": (
                UpsertWorkflowSearchAttributesEventAttributes(
                    search_attributes=SearchAttributes(indexed_fields=fields)
                )
            )
        },
    )


def _marker(name: str, task: int) -> tuple[EventType.ValueType, dict[str, Any]]:
    return (
        E.EVENT_TYPE_MARKER_RECORDED,
        {
            "marker_recorded_event_attributes": MarkerRecordedEventAttributes(
                marker_name=name, workflow_task_completed_event_id=task
            )
        },
    )


def test_a_parent_history_is_counted_by_the_published_rules() -> None:
    started = WorkflowExecutionStartedEventAttributes()
    events = _history(
        (
            E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            {"workflow_execution_started_event_attributes": started},
        ),  # 1
        *_task(),  # 2-4
        (E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, {}),  # 5: update
        _marker("core_patch", 4),  # 6: a patch marker is no action
        _upsert("TemporalChangeVersion"),  # 7: exempt
        _upsert("TemporalChangeVersion", "GoalflowStep"),  # 8: 1 (sets more than the version)
        _marker("core_local_activity", 4),  # 9 \ two local activities of one task: 1
        _marker("core_local_activity", 4),  # 10 /
        (E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, {}),  # 11: 2
        (E.EVENT_TYPE_TIMER_STARTED, {}),  # 12: 1
        (E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {}),  # paid by the signalled
        (E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, {}),  # 14: 1
        *_task(metering=2),  # 15-17: two local-activity retries: 2
        _marker("core_local_activity", 17),  # 18: a second task's batch: 1
        (E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, {}),  # 19: 1
        (
            E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            {
                "activity_task_started_event_attributes": ActivityTaskStartedEventAttributes(
                    attempt=3
                )
            },
        ),  # 20: 2 retries
        (E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, {}),
    )
    counted = count_actions(events)
    assert counted == {
        "workflow_started": 1,
        "updates": 1,
        "search_attribute_upserts": 1,
        "local_activity_batches": 2 + 2,
        "child_workflow": 2,
        "timers": 1,
        "signals": 1,
        "activity_attempts": 1 + 2,
    }
    assert sum(counted.values()) == 14


def test_a_child_first_run_is_paid_by_its_parent_and_a_continued_run_is_not() -> None:
    parent = WorkflowExecution(workflow_id="contact:c1", run_id="r0")
    first = WorkflowExecutionStartedEventAttributes(parent_workflow_execution=parent)
    continued = WorkflowExecutionStartedEventAttributes(
        parent_workflow_execution=parent, continued_execution_run_id="r1"
    )
    child_first = _history(
        (
            E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            {"workflow_execution_started_event_attributes": first},
        ),
        *_task(),
        _upsert("TemporalChangeVersion"),
    )
    child_continued = _history(
        (
            E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            {"workflow_execution_started_event_attributes": continued},
        ),
        *_task(),
    )
    assert count_actions(child_first) == {}
    assert count_actions(child_continued) == {"workflow_started": 1}


def test_event_names_read_like_the_temporal_ui() -> None:
    event = HistoryEvent(event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert event_name(event) == "WorkflowExecutionUpdateAccepted"


async def test_the_floor_is_signalled_only_once_its_timer_runs(
    dev_env: WorkflowEnvironment,
) -> None:
    """On a loaded machine the floor's first workflow task can come late; a signal sent before
    it reaches that first task, and no timer starts. Here no worker serves the floor at first:
    the unit must hold its signal (well past the throughput's click delay) until the timer runs."""
    task_queue = f"floor-{uuid.uuid4()}"
    workflow_id = f"floor-late-{uuid.uuid4()}"
    unit = asyncio.create_task(floor_unit(dev_env.client, task_queue, workflow_id))
    handle = dev_env.client.get_workflow_handle(workflow_id)
    watched_until = time.monotonic() + 5 * CLICK_DELAY
    seen: list[str] = []
    while time.monotonic() < watched_until and not unit.done():
        try:
            seen = [event_name(e) for e in (await handle.fetch_history()).events]
        except Exception:  # not started yet
            seen = []
        assert "WorkflowExecutionSignaled" not in seen, seen
        await asyncio.sleep(0.05)
    assert not unit.done()
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[FloorWorkflow]):
        await asyncio.wait_for(unit, timeout=60)
    events = list((await handle.fetch_history()).events)
    assert count_actions(events) == {"workflow_started": 1, "timers": 1, "signals": 1}
    assert len(events) == 11


def test_cli_cost_at_a_tiny_size() -> None:
    report = bench_json("goalflow.cli", "bench", "cost", "--json", "--contacts", "2")
    assert report["benchmark"] == "cost"
    floor = report["figures"]["floor"]
    # The floor is fixed by its shape: started, a timer, a signal; 11 events.
    assert floor["actions_by_category"] == {"workflow_started": 1, "timers": 1, "signals": 1}
    assert floor["history_events"] == 11
    per = report["figures"]["per_enrollment"]
    categories = per["actions_by_category"]
    # The contact's start, the child's start (2), the enroll and click updates, an email each.
    assert categories["workflow_started"] == 1
    assert categories["child_workflow"] == 2
    assert categories["updates"] == 2
    assert categories["local_activity_batches"] == 2
    # The click reaches a running wait, whatever the load: the wait's timer, the click's signal.
    assert categories["timers"] == 1
    assert categories["signals"] == 1
    assert per["actions"] == sum(categories.values())
    assert per["history_events_by_workflow"]["contact"] > 0
    assert per["history_events_by_workflow"]["enrollment"] > 0
    assert [t["verdict"] for t in report["targets"]] != []
    assert "WorkflowExecutionStarted" in report["figures"]["sample_history"]["enrollment"]
    # A split costs what the if/else it replaces costs; a held-out enrollment, a bare wait.
    experiments = report["figures"]["experiments"]
    assert experiments["split"] == experiments["if_else"] and experiments["split"]["timers"] == 1
    assert experiments["held_out"] == experiments["bare_wait"] == {"timers": 1, "total": 1}
    verdicts = {t["figure"]: t["verdict"] for t in report["targets"]}
    assert verdicts["actions of an enrollment down a split's path"] == "met"
    assert verdicts["actions of a held-out enrollment"] == "met"
    # With a message budget set, each of the two sends asks its contact for a slot: one update.
    budgeted = report["figures"]["with_message_budget"]["actions_by_category"]
    assert budgeted == {**categories, "updates": categories["updates"] + 2}
    assert verdicts["extra actions per send with a message budget set (2 sends per unit)"] == "met"
    # Idle, the API watches the catalog and the worker's copies are refreshed on use: no
    # catalog query at all (issue 34's "zero periodic queries").
    assert report["figures"]["idle_catalog_queries"]["queries"] == 0
    assert verdicts["catalog queries over 10 s of an idle system"] == "met"
