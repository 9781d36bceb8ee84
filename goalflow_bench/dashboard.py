"""How fast the dashboard answers for an automation with many enrollments.

    python -m goalflow_bench.dashboard [--enrollments 10000] [--repeat 10]

Starts a benchmark stack (embedded Temporal on SQLite, worker, API), publishes an automation with
a handful of real enrollments, then adds `--enrollments` stand-ins: workflows of the enrollment
type carrying the same search attributes (automation, step, goals met, version, steps reached),
started on a task queue no worker polls, a fifth of them terminated so they count as ended and a
fifth having met the goal. The dashboard reads only visibility, where a stand-in looks like an
enrollment; a stand-in costs one start (no worker, no emails), so the run measures the dashboard
rather than the enrolling (10,000 take about 7 minutes on a loaded 2-core machine). Then it times
the dashboard's pages over HTTP and prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from goalflow.service.visibility import ENROLLMENT_TYPES, enrollment_query
from goalflow_bench.main import quiet_logs
from goalflow_bench.report import note
from goalflow_bench.stack import StackOptions, open_stack
from workflows.search_attributes import (
    AUTOMATION_ID,
    CONTACT_ID,
    GOALS_MET,
    REACHED,
    STEP,
    VERSION,
)

DEFINITION: dict[str, Any] = {
    "name": "Dashboard benchmark",
    "steps": [
        {"id": "welcome", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>"},
        {"id": "pause", "type": "wait", "duration": "P1D"},
        {"id": "nudge", "type": "send_sms", "body": "Still there?"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "P14D"},
        },
        {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>Thanks</p>"},
    ],
}
STAND_IN_STEPS = ("pause", "nudge", "bought")


async def add_stand_ins(client: Client, automation_id: str, count: int, concurrency: int) -> None:
    """`count` enrollment-shaped visibility rows: a fifth met the goal, a fifth ended."""
    queue = f"dashboard-stand-ins-{uuid.uuid4().hex[:8]}"  # polled by nobody
    gate = asyncio.Semaphore(concurrency)

    async def start(i: int) -> None:
        met = ["bought"] if i % 5 == 0 else []
        step = STAND_IN_STEPS[i % len(STAND_IN_STEPS)]
        steps = [s["id"] for s in DEFINITION["steps"]]
        reached = steps[: steps.index(step) + 1]
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(AUTOMATION_ID, automation_id),
                SearchAttributePair(CONTACT_ID, f"stand-in-{i}"),
                SearchAttributePair(STEP, step),
                SearchAttributePair(GOALS_MET, met),
                SearchAttributePair(VERSION, 1),
                SearchAttributePair(REACHED, reached),
            ]
        )
        async with gate:
            handle = await client.start_workflow(
                "EnrollmentWorkflowV2",
                id=f"enr:{automation_id}:stand-in-{i}:1",
                task_queue=queue,
                search_attributes=attributes,
                memo={"version": 1, "status": "active"},
            )
            if i % 5 == 1:
                await handle.terminate("a stand-in that ended")

    started = time.monotonic()
    await asyncio.gather(*(start(i) for i in range(count)))
    note(f"{count} stand-ins in {time.monotonic() - started:.1f} s")


async def wait_for_visibility(client: Client, automation_id: str, expected: int) -> None:
    query = f"{ENROLLMENT_TYPES} AND GoalflowAutomationId = '{automation_id}'"
    deadline = time.monotonic() + 120
    while (await client.count_workflows(query)).count < expected:
        if time.monotonic() > deadline:
            raise SystemExit("visibility did not catch up within 120 s")
        await asyncio.sleep(0.5)


async def time_one_count(client: Client, automation_id: str, repeat: int) -> dict[str, float]:
    """The cost of one of the page's count queries (enrollments at a step) on its own."""
    query = enrollment_query(automation_id) + " AND ExecutionStatus = 'Running'"
    query += " AND GoalflowStep = 'pause'"
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        await client.count_workflows(query)
        seconds.append(time.perf_counter() - started)
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


async def run(enrollments: int, repeat: int, concurrency: int) -> dict[str, Any]:
    async with open_stack(StackOptions()) as stack:
        automation_id = f"dash-bench-{uuid.uuid4().hex[:6]}"
        answer = await stack.http.put(f"/v1/automations/{automation_id}", json=DEFINITION)
        answer.raise_for_status()
        for i in range(5):
            contact = {"id": f"real-{i}", "email": f"real-{i}@example.com"}
            answer = await stack.http.post(
                f"/v1/automations/{automation_id}/enrollments", json={"contact": contact}
            )
            answer.raise_for_status()
        await add_stand_ins(stack.client, automation_id, enrollments, concurrency)
        await wait_for_visibility(stack.client, automation_id, enrollments + 5)
        pages = {
            "automation page": f"/ui/automations/{automation_id}",
            "automation counts (refresh)": f"/ui/automations/{automation_id}/counts.json",
            "automations list": "/ui",
            "enrollments page": f"/ui/enrollments?automation_id={automation_id}",
        }
        timings: dict[str, dict[str, float]] = {}
        for name, path in pages.items():
            seconds = []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = await stack.http.get(path)
                seconds.append(time.perf_counter() - started)
                answer.raise_for_status()
            timings[name] = {
                "median_ms": round(statistics.median(seconds) * 1000, 1),
                "max_ms": round(max(seconds) * 1000, 1),
            }
        one = await time_one_count(stack.client, automation_id, repeat)
        timings["one count query, alone"] = one
        counts = (await stack.http.get(pages["automation counts (refresh)"])).json()["counts"]
        return {
            "enrollments": enrollments + 5,
            "repeat": repeat,
            "funnel": {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("funnel:")},
            "timings": timings,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrollments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    quiet_logs()  # stdout carries the JSON alone; warnings and above go to stderr
    result = asyncio.run(run(args.enrollments, args.repeat, args.concurrency))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
