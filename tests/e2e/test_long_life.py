"""Long life: workflows that hear many events keep working past continue-as-new, within
Temporal's history limits.

- an enrollment held at a goal hears 300 events that do not meet it, then the one that does,
  while its contact continues as new every 50 operations and the enrollment every 100 events;
- a contact hears 2,100 events, more than Temporal lets one run take (2,000 updates), and
  continues as new on Temporal's own suggestion.

Ids remembered before continue-as-new are still recognised as duplicates after.

History figures (events per run, growth per event) are printed for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, assert_eventually, new_id, running_engine
from workflows.messages import SIGNAL_EVENT, EnrollmentView, contact_workflow_id

# Temporal's defaults (server 1.2x/1.3x): a run fails past 51,200 history events or 50 MB
# (warnings from 10,240 events / 10 MB), takes at most 10,000 signals and 2,000 updates.
HISTORY_EVENTS_LIMIT = 51_200
HISTORY_EVENTS_WARNING = 10_240
SIGNALS_LIMIT = 10_000
UPDATES_LIMIT = 2_000

HELD_AT_GOAL = {
    "name": "long life",
    "steps": [
        {
            "id": "finish",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "finish"}],
            "if_unmet": {"action": "wait"},
            "on_met": {"action": "end"},
        }
    ],
}


@dataclass
class Run:
    run_id: str
    events: int
    bytes: int
    signals: int
    updates: int
    events_heard: int  # signals carrying a contact event (not, say, report_end_by_signal)


async def runs(client: Client, workflow_id: str) -> list[Run]:
    """Every run of a workflow, oldest first, following the continue-as-new chain back from the
    latest (no visibility involved)."""
    found: list[Run] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        first = history.events[0].workflow_execution_started_event_attributes
        kinds = [e.event_type for e in history.events]
        found.append(
            Run(
                run_id=first.original_execution_run_id,
                events=len(history.events),
                bytes=sum(e.ByteSize() for e in history.events),
                signals=kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
                updates=kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
                events_heard=sum(
                    1
                    for e in history.events
                    if e.workflow_execution_signaled_event_attributes.signal_name == SIGNAL_EVENT
                ),
            )
        )
        if not first.continued_execution_run_id:
            return found[::-1]
        run_id = first.continued_execution_run_id


async def send_many(
    engine: WorkflowDriver, contact: str, ids: list[str], in_flight: int = 8
) -> int:
    """Send custom "noise" events with these ids, `in_flight` at a time; the duplicates counted."""
    limit = asyncio.Semaphore(in_flight)

    async def one(event_id: str) -> bool:
        async with limit:
            receipt = await engine.send(contact, "custom", {"name": "noise"}, id=event_id)
        return receipt.duplicate

    return sum(await asyncio.gather(*(one(i) for i in ids)))


def per_event(runs_: list[Run], events: int) -> float:
    return sum(r.events for r in runs_) / events


async def test_enrollment_held_at_a_goal_through_300_events(dev_env: WorkflowEnvironment) -> None:
    """Both workflows continue as new along the way: the contact every 50 operations (with a
    backlog of events still to forward, which goes with it), the enrollment every 100 events."""
    async with running_engine(dev_env) as engine:
        contact = new_id("held")
        enrolled = await engine.enroll(
            HELD_AT_GOAL,
            contact,
            continue_as_new_after_ops=50,
            enrollment_continue_as_new_after=100,
        )
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        ids = [f"noise-{i}" for i in range(300)]
        assert await send_many(engine, contact, ids) == 0
        # Ids accepted by earlier runs are still known as duplicates.
        assert await send_many(engine, contact, ids[:20] + ids[150:170]) == 40
        await assert_eventually(
            lambda: engine.contact(contact), lambda v: v.events_seen == 300, within=90
        )
        still = await engine.view(enrolled.enrollment_id)
        assert still.status == "active" and still.waiting is not None
        finish = await engine.send(contact, "custom", {"name": "finish"})
        final: EnrollmentView = await engine.result(enrolled.enrollment_id)
        contact_runs = await runs(engine.client, contact_workflow_id(contact))
        enrollment_runs = await runs(engine.client, enrolled.enrollment_id)

    assert final.status == "completed" and final.outcome == "goal_met"
    assert final.goals[0].event_id == finish.event_id
    # The timeline carried across the runs: entered once, waiting once, then the goal.
    assert [(e.kind, e.step_id) for e in final.timeline] == [
        ("entered", None),
        ("waiting", "finish"),
        ("goal_met", "finish"),
        ("step_completed", "finish"),
        ("ended", None),
    ]
    # Every event reached the enrollment once, across both workflows' runs.
    assert sum(r.events_heard for r in enrollment_runs) == 301
    # Every 100 events: 3 runs, or 4 if the third continued as new before the last event came.
    assert len(enrollment_runs) >= 3, [r.events for r in enrollment_runs]
    # 342 operations, continue-as-new due every 50: a backlog does not hold it off.
    assert len(contact_runs) >= 6, [r.events for r in contact_runs]
    check_limits(contact_runs + enrollment_runs)
    print(
        f"\nenrollment held at a goal through 300 events (+40 duplicates, +1 that meets it): "
        f"contact {len(contact_runs)} runs of {[r.events for r in contact_runs]} history events, "
        f"{per_event(contact_runs, 341):.1f} per event; enrollment {len(enrollment_runs)} runs "
        f"of {[r.events for r in enrollment_runs]}, {per_event(enrollment_runs, 301):.1f} "
        f"history events per event heard"
    )


async def test_contact_with_2100_events_continues_as_new_when_temporal_suggests(
    dev_env: WorkflowEnvironment,
) -> None:
    """More updates than one run may take (2,000): the contact continues as new on Temporal's
    own suggestion, nothing is refused, ids from the first run are still duplicates after."""
    async with running_engine(dev_env) as engine:
        contact = new_id("busy")
        ids = [f"e-{i}" for i in range(2100)]
        assert await send_many(engine, contact, ids) == 0
        repeated = ids[:50] + ids[1000:1050]
        assert await send_many(engine, contact, repeated) == len(repeated)
        await assert_eventually(
            lambda: engine.contact(contact), lambda v: v.events_seen == 2100, within=60
        )
        contact_runs = await runs(engine.client, contact_workflow_id(contact))
        description = await engine.client.get_workflow_handle(
            contact_workflow_id(contact)
        ).describe()

    assert description.status == WorkflowExecutionStatus.RUNNING
    assert len(contact_runs) >= 2, [r.events for r in contact_runs]
    assert sum(r.updates for r in contact_runs) == 2100 + len(repeated)
    check_limits(contact_runs)
    print(
        f"\ncontact with 2,100 events (+{len(repeated)} duplicates), continue-as-new on "
        f"Temporal's suggestion: {len(contact_runs)} runs, updates per run "
        f"{[r.updates for r in contact_runs]}, history events per run "
        f"{[r.events for r in contact_runs]}, largest "
        f"{max(r.bytes for r in contact_runs) // 1024} KiB"
    )


def check_limits(all_runs: list[Run]) -> None:
    for run in all_runs:
        assert run.events < HISTORY_EVENTS_WARNING, run
        assert run.updates < UPDATES_LIMIT and run.signals < SIGNALS_LIMIT, run
