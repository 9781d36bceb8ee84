"""The migration drill: 500 running enrollments moved to a new version while the `goalflow
worker` process doing it is SIGKILLed halfway; a new worker finishes the job and every
enrollment is moved exactly once (one `migrated` entry each)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_bulk import api_on, finished, worker_process
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.migration_job import running_on_version

ENROLLMENTS = int(os.environ.get("GOALFLOW_MIGRATION_DRILL_ENROLLMENTS", "500"))

V1: dict[str, Any] = {
    "name": "drill",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P7D"},
        {"id": "old", "type": "add_tag", "tag": "old"},
    ],
}
V2: dict[str, Any] = {
    "name": "drill, fixed",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P7D"},
        {"id": "new", "type": "add_tag", "tag": "new"},
    ],
}


@pytest.mark.timeout(120 + ENROLLMENTS // 2)
async def test_migration_survives_a_killed_worker(stack: Stack, tmp_path: Path) -> None:
    env, automation = stack.env, new_id("drill")
    assert (await stack.http.put(f"/v1/automations/{automation}", json=V1)).status_code == 201
    task_queue = f"drill-{uuid.uuid4()}"
    log = tmp_path / "worker.log"
    run = uuid.uuid4().hex[:8]
    contacts = [{"id": f"m{run}-{i}"} for i in range(ENROLLMENTS)]

    async with api_on(env, task_queue) as http:
        with worker_process(env, task_queue, log):
            answer = await http.post(
                f"/v1/automations/{automation}/enrollments/bulk", json={"contacts": contacts}
            )
            assert answer.status_code == 202, answer.text
            job = await finished(http, answer.json()["job_id"], within=ENROLLMENTS / 4)
            assert job["created"] == ENROLLMENTS, job
            assert (await http.put(f"/v1/automations/{automation}", json=V2)).status_code == 201
            query = running_on_version(automation, 1)
            await assert_eventually(
                lambda: env.client.count_workflows(query), lambda c: c.count == ENROLLMENTS
            )
            answer = await http.post(
                f"/v1/automations/{automation}/migrations",
                json={"from_version": 1, "dry_run": False},
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["total"] == ENROLLMENTS
            migration_id = answer.json()["migration_id"]

            async def progress() -> dict[str, Any]:
                answer = await http.get(f"/v1/migrations/{migration_id}")
                if answer.status_code == 503:  # the worker is busy or starting
                    return {"status": "running", "done": 0}
                assert answer.status_code == 200, answer.text
                body: dict[str, Any] = answer.json()
                return body

            halfway = await assert_eventually(
                progress, lambda m: m["done"] >= ENROLLMENTS // 5, within=ENROLLMENTS / 4
            )
        # SIGKILLed mid-job (the context exit); a new worker takes over.
        assert halfway["done"] < ENROLLMENTS, "killed too late to prove anything"
        with worker_process(env, task_queue, log):

            async def done() -> dict[str, Any]:
                answer = await http.get(f"/v1/migrations/{migration_id}")
                body: dict[str, Any] = (
                    answer.json() if answer.status_code == 200 else {"status": "running"}
                )
                return body

            final = await assert_eventually(
                done, lambda m: m["status"] != "running", within=ENROLLMENTS / 2
            )
            assert final["status"] == "completed", final
            assert (final["done"], final["moved"], final["skipped"]) == (
                ENROLLMENTS,
                ENROLLMENTS,
                [],
            )
            for contact in contacts:
                answer = await http.get(f"/v1/enrollments/enr:{automation}:{contact['id']}:1")
                view = answer.json()
                assert view["version"] == 2, view
                assert [e["kind"] for e in view["timeline"]].count("migrated") == 1, view
