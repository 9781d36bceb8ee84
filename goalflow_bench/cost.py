"""`goalflow bench cost`: the Temporal work of one reference enrollment, to the action.

Runs the reference work and the floor unit by unit (as `throughput` does, at low concurrency,
but each event sent once the unit's timer runs, so that the shape counted is the same whatever
the load), then reads every history they made, all runs, and counts Temporal Cloud's billable
actions (goalflow_bench.actions) and the history events. Queries leave no history: they are
counted as the stack's client sends them. The automation and catalog workflows that every
enrollment shares are read before and after, and what they gained is shared out per enrollment.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from goalflow_bench import actions as act
from goalflow_bench import reference as ref
from goalflow_bench.experiment_cost import experiment_costs
from goalflow_bench.floor import FloorWorkflow
from goalflow_bench.report import Progress, Report, note
from goalflow_bench.runs import BenchOptions
from goalflow_bench.stack import Stack
from workflows.budget import UPDATE_GRANT_SEND
from workflows.messages import (
    CATALOG_WORKFLOW_ID,
    automation_workflow_id,
    catalog_workflow_id,
    contact_workflow_id,
)

ACTIONS_TARGET = 10
EVENTS_TARGET = 36
BUDGET_EXTRA_TARGET = 2  # actions per send under a message budget, beyond the same send without
# A budget no reference unit comes near: every send asks for its slot and is granted at once.
ROOMY_BUDGET = {"email": {"max": 1000, "per": "P1D"}}

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}
# Seconds measured with nothing happening, for the catalog's periodic queries (none).
IDLE_SECONDS = 10.0


async def runs_of(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """Every run of a workflow id, first to last: from the latest run back along
    `continued_execution_run_id` (continue-as-new, retries)."""
    found: list[list[HistoryEvent]] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        events = list((await handle.fetch_history()).events)
        found.append(events)
        previous = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return found[::-1]
        run_id = previous


async def settled(
    client: Client, workflow_id: str, within: float = 30.0
) -> list[list[HistoryEvent]]:
    """The runs of a workflow once it has nothing left to do for now: closed, or its last event
    a completed workflow task, twice in a row (the contact workflow keeps running)."""
    deadline = time.monotonic() + within
    last_length = -1
    while True:
        runs = await runs_of(client, workflow_id)
        tail = runs[-1][-1]
        length = sum(len(r) for r in runs)
        quiet = tail.event_type in _CLOSED or (
            tail.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            and length == last_length
        )
        if quiet or time.monotonic() > deadline:
            return runs
        last_length = length
        await asyncio.sleep(0.3)


@dataclass
class Tally:
    """Actions and history events over a set of units."""

    units: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    events: dict[str, list[int]] = field(default_factory=dict)  # per workflow kind, per unit
    tasks: int = 0

    def add(self, kind: str, runs: list[list[HistoryEvent]]) -> None:
        for events in runs:
            self.actions.update(act.count_actions(events))
            self.tasks += sum(
                1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            )
        self.events.setdefault(kind, []).append(sum(len(r) for r in runs))

    def per_unit(
        self, shared_actions: Counter[str] | None = None, shared_events: int = 0
    ) -> dict[str, Any]:
        """Averages per unit; `shared_*`: what workflows common to all units gained."""
        n = max(1, self.units)
        actions = self.actions + (shared_actions or Counter())
        by_category = {c: round(actions[c] / n, 2) for c in act.CATEGORIES if actions[c]}
        totals = [sum(per_kind[i] for per_kind in self.events.values()) for i in range(n)]
        by_workflow = {kind: round(sum(v) / n, 2) for kind, v in self.events.items()}
        if shared_events:
            by_workflow["shared (automation, catalog)"] = round(shared_events / n, 2)
        return {
            "actions": round(sum(actions.values()) / n, 2),
            "actions_by_category": by_category,
            "history_events": round((sum(totals) + shared_events) / n, 2),
            "history_events_range": f"{min(totals)}–{max(totals)}" if totals else None,
            "history_events_by_workflow": by_workflow,
            "workflow_tasks": round(self.tasks / n, 2),
        }


# The floor's timer, here: long enough that the signal, sent once the timer runs, always wins
# the race however loaded the machine. Its length changes no count: started, a timer, a signal.
FLOOR_WAIT_SECONDS = 60.0


async def timer_running(client: Client, workflow_id: str, within: float = 60.0) -> None:
    """Wait until the workflow's history shows a started timer: its first workflow task has
    run, so that an event sent now races a running timer whatever the load (sent earlier, it
    would reach the first task and no timer would start: another shape, other counts). Reads
    the history, as the count does: no query, no action."""
    deadline = time.monotonic() + within
    handle = client.get_workflow_handle(workflow_id)
    while True:
        history = await handle.fetch_history()
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events):
            return
        if time.monotonic() > deadline:
            raise ref.BenchError(f"{workflow_id}: no timer started within {within:g} s")
        await asyncio.sleep(0.05)


async def _reference_unit(stack: Stack, contact_id: str) -> str:
    enrollment_id = await ref.enroll(stack.http, contact_id)
    await timer_running(stack.client, enrollment_id)
    clicked = await ref.click(stack.http, contact_id)
    if clicked.status_code != 202:
        raise ref.BenchError(f"POST /v1/events: {clicked.status_code} {clicked.text[:200]}")
    view = await stack.client.get_workflow_handle(enrollment_id).result()
    if not (isinstance(view, dict) and view.get("status") == "completed"):
        raise ref.BenchError(f"enrollment {enrollment_id} ended {view!r:.200}")
    return enrollment_id


def _is_grant(event: HistoryEvent) -> bool:
    if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        return False
    accepted = event.workflow_execution_update_accepted_event_attributes
    return bool(accepted.accepted_request.input.name == UPDATE_GRANT_SEND)


async def _budgeted_units(stack: Stack, count: int) -> dict[str, Any]:
    """Reference units with a message budget set (each send asks its contact for a slot), per
    unit; the policy is removed afterwards. A policy reaches the worker within about a second: a
    first unit is run (and left out) until its contact's history shows a grant."""
    answer = await stack.http.put("/v1/policies/messaging", json=ROOMY_BUDGET)
    ref.check(answer, "PUT /v1/policies/messaging")
    try:
        for _ in range(20):
            contact_id = ref.new_contact_ids(1, "bw")[0]
            await _reference_unit(stack, contact_id)
            runs = await settled(stack.client, contact_workflow_id(contact_id))
            if any(_is_grant(e) for run in runs for e in run):
                break
            await asyncio.sleep(0.5)
        else:
            raise ref.BenchError("the message budget never reached the worker's sends")
        tally = Tally(units=count)
        contact_ids = ref.new_contact_ids(count, "budget")
        enrollments = {c: await _reference_unit(stack, c) for c in contact_ids}
        for contact_id, enrollment_id in enrollments.items():
            tally.add("contact", await settled(stack.client, contact_workflow_id(contact_id)))
            tally.add("enrollment", await settled(stack.client, enrollment_id))
        return tally.per_unit()
    finally:
        ref.check(await stack.http.put("/v1/policies/messaging", json={}), "PUT policy {}")


async def floor_unit(client: Client, task_queue: str, workflow_id: str) -> None:
    """One floor unit: started, signalled once its timer runs, its result awaited."""
    handle = await client.start_workflow(
        FloorWorkflow.run, FLOOR_WAIT_SECONDS, id=workflow_id, task_queue=task_queue
    )
    await timer_running(client, workflow_id)
    await handle.signal(FloorWorkflow.click)
    await handle.result()


async def _shared_lengths(client: Client, catalog_id: str) -> dict[str, int]:
    ids = (automation_workflow_id(ref.AUTOMATION_ID), catalog_id)
    return {wid: sum(len(r) for r in await runs_of(client, wid)) for wid in ids}


async def _shared_growth(client: Client, before: dict[str, int]) -> tuple[Counter[str], int]:
    """Actions and events the shared workflows gained since `before`."""
    actions: Counter[str] = Counter()
    events = 0
    for wid, length in before.items():
        flat = [e for run in await runs_of(client, wid) for e in run]
        grown = flat[length:]
        actions.update(act.count_actions(grown))
        events += len(grown)
    return actions, events


def sample(runs: list[list[HistoryEvent]]) -> str:
    """One unit's history as event names, runs separated by `|`."""
    return " | ".join(" ".join(act.event_name(e) for e in events) for events in runs)


async def cost(stack: Stack, options: BenchOptions) -> Report:
    count = options.contacts or 20
    concurrency = options.concurrency or 4
    report = Report(
        "cost",
        {
            "enrollments": count,
            "floor_units": count,
            "concurrency": concurrency,
            "work": "enroll → email → wait PT1S → goal (trigger link click) → email",
            "floor": "bare workflow: start, a timer raced with one signal, complete",
            "click": "once the enrollment's wait (the floor's timer) is running, as its history "
            "shows",
            "rules": "Temporal Cloud's published actions, https://docs.temporal.io/cloud/actions",
            "queries": "counted by an interceptor on the stack's Temporal client (API + bench); "
            "the catalog's trigger-set queries per second, apart",
        },
    )
    await ref.publish(stack.http)
    # One unit first, left out: what the first enrollment of a process pays once.
    await _reference_unit(stack, ref.new_contact_ids(1, "cw")[0])

    catalog_id = catalog_workflow_id(stack.settings.task_queue)
    shared_before = await _shared_lengths(stack.client, catalog_id)
    queries_before = Counter(stack.queries)
    measured_from = time.monotonic()
    contact_ids = ref.new_contact_ids(count, "cost")
    enrollments: dict[str, str] = {}
    progress = Progress("cost: reference units", count)

    async def reference_unit(contact_id: str) -> None:
        enrollments[contact_id] = await _reference_unit(stack, contact_id)
        progress.tick()

    await ref.bounded(contact_ids, concurrency, reference_unit)
    progress.finish()
    measured_seconds = time.monotonic() - measured_from
    queries = Counter(stack.queries)
    queries.subtract(queries_before)
    queries = +queries
    # The catalog's trigger set, queried by the API's watch when the catalog changes (and by
    # a worker's copy on use): a cost per process and change, not per enrollment
    # (goalflow/core/trigger_cache.py).
    periodic = {k: v for k, v in queries.items() if k.endswith(f" on {CATALOG_WORKFLOW_ID}")}
    for key in periodic:
        del queries[key]

    floor_ids = [f"bench-cost-floor-{c}" for c in ref.new_contact_ids(count, "f")]
    progress = Progress("cost: floor units", count)

    async def one_floor_unit(workflow_id: str) -> None:
        await floor_unit(stack.client, stack.floor_task_queue, workflow_id)
        progress.tick()

    await ref.bounded(floor_ids, concurrency, one_floor_unit)
    progress.finish()

    note("cost: reading histories")
    goalflow = Tally(units=count)
    samples: dict[str, str] = {}
    for contact_id in contact_ids:
        contact_runs = await settled(stack.client, contact_workflow_id(contact_id))
        enrollment_runs = await settled(stack.client, enrollments[contact_id])
        goalflow.add("contact", contact_runs)
        goalflow.add("enrollment", enrollment_runs)
        if not samples:
            samples = {"contact": sample(contact_runs), "enrollment": sample(enrollment_runs)}
    shared_actions, shared_events = await _shared_growth(stack.client, shared_before)
    floor = Tally(units=count)
    for workflow_id in floor_ids:
        floor_runs = await settled(stack.client, workflow_id)
        floor.add("floor", floor_runs)
        if "floor" not in samples:
            samples["floor"] = sample(floor_runs)

    # Idle: nothing sent, nothing published; the API watches the catalog, the worker's copies
    # are only refreshed on use (goalflow/core/trigger_cache.py).
    note(f"cost: catalog queries over {IDLE_SECONDS:g} s idle")
    await asyncio.sleep(1.0)  # the units' last refreshes, on use, finish
    idle_before = Counter(stack.queries)
    await asyncio.sleep(IDLE_SECONDS)
    idle = Counter(stack.queries)
    idle.subtract(idle_before)
    idle_catalog = sum(v for k, v in idle.items() if k.endswith(f" on {CATALOG_WORKFLOW_ID}"))

    note("cost: a split and a holdout, next to what they replace")
    experiments = await experiment_costs(stack, runs_of)
    note("cost: reference units with a message budget set")
    budgeted = await _budgeted_units(stack, max(2, count // 4))

    shared_actions[act.QUERIES] += sum(queries.values())
    per_enrollment = goalflow.per_unit(shared_actions, shared_events)
    per_floor = floor.per_unit()
    report.figures = {
        "per_enrollment": per_enrollment,
        "floor": per_floor,
        "queries_per_enrollment": {k: round(v / count, 2) for k, v in queries.items()},
        "periodic_queries_per_s": {k: round(v / measured_seconds, 2) for k, v in periodic.items()},
        "idle_catalog_queries": {"seconds": IDLE_SECONDS, "queries": idle_catalog},
        "sample_history": samples,
        "experiments": experiments,
        "with_message_budget": budgeted,
    }
    actions = per_enrollment["actions"]
    events = per_enrollment["history_events"]
    report.target(
        "actions per reference enrollment",
        f"≤ {ACTIONS_TARGET} (floor {per_floor['actions']:g})",
        actions,
        "",
        actions <= ACTIONS_TARGET,
    )
    report.target(
        "history events per reference enrollment",
        f"≤ {EVENTS_TARGET} (floor {per_floor['history_events']:g})",
        events,
        "",
        events <= EVENTS_TARGET,
    )
    report.target(
        f"catalog queries over {IDLE_SECONDS:g} s of an idle system",
        "0 (no periodic query)",
        idle_catalog,
        "",
        idle_catalog == 0,
    )
    split, branch = experiments["split"]["total"], experiments["if_else"]["total"]
    report.target(
        "actions of an enrollment down a split's path",
        f"≤ the if/else it replaces ({branch})",
        split,
        "",
        split <= branch,
    )
    held, bare = experiments["held_out"]["total"], experiments["bare_wait"]["total"]
    report.target(
        "actions of a held-out enrollment",
        f"≤ a bare wait's ({bare})",
        held,
        "",
        held <= bare,
    )
    extra = budgeted["actions"] - per_enrollment["actions"]
    report.target(
        "extra actions per send with a message budget set (2 sends per unit)",
        f"≤ {BUDGET_EXTRA_TARGET} (none without a policy: {per_enrollment['actions']:g})",
        round(extra / 2, 2),
        "",
        extra / 2 <= BUDGET_EXTRA_TARGET,
    )
    if shared_events:
        report.notes.append(
            f"the automation and catalog workflows gained {shared_events} events during the run"
        )
    return report
