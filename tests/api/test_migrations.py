"""Moving running enrollments to a new version (R19) through the API and the migration job: the
dry-run plan from visibility, bad input, a job with its progress, an enrollment that ended before
its turn, and a worker stopped mid-job whose successor finishes the job, each enrollment moved
once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.migrations import MigrationActivities
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from tests.support.api_helpers import enrolled
from tests.support.helpers import WorkflowDriver, assert_eventually, new_id
from tests.support.stack import Stack
from worker import build_worker
from workflows.migration import MoveRequest, MoveResult, full_step_map
from workflows.migration_job import (
    MOVE_ENROLLMENTS,
    MigrationJobInput,
    MigrationJobWorkflow,
    MigrationView,
    MoveBatch,
    MovedBatch,
    migration_workflow_id,
    running_on_version,
)

V1: dict[str, Any] = {
    "name": "nurture",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "old", "type": "add_tag", "tag": "old"},
    ],
}
V2: dict[str, Any] = {
    "name": "nurture, fixed",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "new", "type": "add_tag", "tag": "new"},
    ],
}


async def publish(http: httpx.AsyncClient, automation_id: str, definition: dict[str, Any]) -> None:
    answer = await http.put(f"/v1/automations/{automation_id}", json=definition)
    assert answer.status_code == 201, answer.text


async def plan(http: httpx.AsyncClient, automation_id: str, **body: Any) -> httpx.Response:
    return await http.post(f"/v1/automations/{automation_id}/migrations", json=body)


async def test_dry_run_plan_then_a_job_with_progress(stack: Stack) -> None:
    http, automation = stack.http, new_id("mig")
    await publish(http, automation, V1)
    ids = [await enrolled(http, automation, new_id()) for _ in range(3)]
    await publish(http, automation, V2)

    async def dry_run() -> dict[str, Any]:
        answer = await plan(http, automation, from_version=1)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    shown = await assert_eventually(dry_run, lambda p: p["total"] == 3)
    assert shown == {
        "from_version": 1,
        "to_version": 2,
        "total": 3,
        "moves": [{"from_step": "w", "to_step": "w", "enrollments": 3}],
        "unmapped": [{"from_step": "old", "enrollments": 0}],
    }
    started = await plan(http, automation, from_version=1, dry_run=False)
    assert started.status_code == 202, started.text
    migration_id = started.json()["migration_id"]

    async def progress() -> dict[str, Any]:
        answer = await http.get(f"/v1/migrations/{migration_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    done = await assert_eventually(progress, lambda m: m["status"] != "running", within=60)
    assert (done["status"], done["total"], done["done"], done["moved"]) == ("completed", 3, 3, 3)
    assert (done["stayed"], done["ended"], done["skipped"]) == (0, 0, [])
    for enrollment_id in ids:
        view = (await http.get(f"/v1/enrollments/{enrollment_id}")).json()
        assert view["version"] == 2
        assert [e["kind"] for e in view["timeline"]].count("migrated") == 1
    # Per-step counts follow the move.
    steps = await assert_eventually(
        lambda: http.get(f"/v1/automations/{automation}/steps", params={"version": 2}),
        lambda a: a.status_code == 200 and a.json()["steps"][0]["here"] == 3,
    )
    assert steps.json()["steps"][0]["step_id"] == "w"


async def test_bad_migrations_are_refused(stack: Stack) -> None:
    http, automation = stack.http, new_id("mig")
    await publish(http, automation, V1)
    await publish(http, automation, V2)
    same = await plan(http, automation, from_version=2)
    assert same.status_code == 422
    assert same.json()["detail"][0]["loc"] == ["body", "from_version"]
    same = await plan(http, automation, from_version=1, to_version=1)
    assert same.status_code == 422
    assert same.json()["detail"][0]["loc"] == ["body", "to_version"]
    missing = await plan(http, automation, from_version=1, step_map={"w": "nowhere"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "step_map", "w"]
    missing = await plan(http, automation, from_version=1, step_map={"nothing": "w"})
    assert missing.json()["detail"][0]["loc"] == ["body", "step_map", "nothing"]
    # Nobody runs on version 1: the plan says so, and a job is refused.
    empty = await plan(http, automation, from_version=1)
    assert (empty.status_code, empty.json()["total"]) == (200, 0)
    nobody = await plan(http, automation, from_version=1, dry_run=False)
    assert nobody.status_code == 422, nobody.text
    assert nobody.json()["detail"][0]["loc"] == ["body", "from_version"]
    assert "no running enrollments" in nobody.json()["detail"][0]["msg"]
    assert (await plan(http, automation, from_version=7)).status_code == 404
    assert (await plan(http, new_id("none"), from_version=1)).status_code == 404
    assert (await http.get(f"/v1/migrations/{uuid.uuid4().hex}")).status_code == 404
    assert (await http.get("/v1/migrations/not-an-id")).status_code == 404


def move_request(migration_id: str) -> MoveRequest:
    old, _ = parse_automation(V1)
    new, _ = parse_automation(V2)
    return MoveRequest(
        migration_id=migration_id,
        from_version=1,
        to_version=2,
        automation=new,
        step_map=full_step_map(old, new, {}),
    )


async def test_an_enrollment_ended_before_its_turn_is_skipped(dev_env: WorkflowEnvironment) -> None:
    queue = f"test-{uuid.uuid4()}"
    engine = WorkflowDriver(dev_env, queue, search_attributes=True)
    ends = {"name": "ends", "steps": [{"id": "t", "type": "add_tag", "tag": "x"}]}
    async with (
        httpx.AsyncClient() as http,
        build_worker(dev_env.client, Settings(), http, task_queue=queue),
    ):
        ended = await engine.enroll(ends, new_id())
        waiting = await engine.enroll(V1, new_id())
        await engine.result(ended.enrollment_id)
        await engine.until(waiting.enrollment_id, lambda v: v.waiting is not None)
        batch = MoveBatch(
            enrollment_ids=[ended.enrollment_id, waiting.enrollment_id], move=move_request("m")
        )
        moves = MigrationActivities(dev_env.client)
        results = [
            item.result
            for item in (await ActivityEnvironment().run(moves.move_enrollments, batch)).results
        ]
        assert results == [
            MoveResult(outcome="skipped", reason="ended"),
            MoveResult(outcome="moved", from_step="w", to_step="w"),
        ]
        # Asked again (a batch retried after a crash): the same answers, nothing moved twice.
        again = [
            item.result
            for item in (await ActivityEnvironment().run(moves.move_enrollments, batch)).results
        ]
        assert again == results
        view = await engine.view(waiting.enrollment_id)
        assert [e.kind for e in view.timeline].count("migrated") == 1


class StallsMidJob:
    """The batch activity of a worker that dies mid-job: after `batches` batches, the next one
    sends its moves, then never answers (as if the worker had been killed before reporting)."""

    def __init__(self, client: Client, batches: int) -> None:
        self.real = MigrationActivities(client)
        self.left = batches
        self.stalled = asyncio.Event()

    @activity.defn(name=MOVE_ENROLLMENTS)
    async def move_enrollments(self, batch: MoveBatch) -> MovedBatch:
        moved = await self.real.move_enrollments(batch)
        if self.left == 0:
            self.stalled.set()
            await asyncio.Event().wait()
        self.left -= 1
        return moved


@pytest.mark.timeout(240)
async def test_worker_stopped_mid_job_resumes_and_moves_each_once(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue, automation = dev_env.client, f"test-{uuid.uuid4()}", new_id("mig")
    engine = WorkflowDriver(dev_env, queue, search_attributes=True)
    count = 40
    stalls = StallsMidJob(client, batches=2)
    async with httpx.AsyncClient() as http:
        worker = build_worker(
            client, Settings(), http, task_queue=queue, activities=[stalls.move_enrollments]
        )
        async with worker:
            ids = [
                (await engine.enroll(V1, new_id(), automation_id=automation)).enrollment_id
                for _ in range(count)
            ]
            query = running_on_version(automation, 1)
            await assert_eventually(
                lambda: client.count_workflows(query), lambda c: c.count == count
            )
            job = MigrationJobInput(
                automation_id=automation,
                move=move_request(uuid.uuid4().hex),
                batch_size=4,
                concurrency=1,
                page_size=8,
                continue_as_new_after_pages=1,
                heartbeat_timeout_seconds=2,
            )
            handle = await client.start_workflow(
                MigrationJobWorkflow.run,
                job,
                id=migration_workflow_id(job.move.migration_id),
                task_queue=queue,
            )
            await asyncio.wait_for(stalls.stalled.wait(), 60)
        # The worker is gone mid-job, its third batch moved but not reported; another takes over.
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with build_worker(client, Settings(), http, task_queue=queue):
            final: MigrationView = await client.get_workflow_handle(
                handle.id, result_type=MigrationView
            ).result()
            assert (final.status, final.done, final.moved, final.skipped) == (
                "completed",
                count,
                count,
                [],
            )
            for enrollment_id in ids:
                view = await engine.view(enrollment_id)
                assert view.version == 2
                assert [e.kind for e in view.timeline].count("migrated") == 1
