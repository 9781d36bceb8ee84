"""Bulk jobs: `Idempotency-Key` (the same key and body answer the same job, another body under the
same key is a 422) and `POST /v1/jobs/{job_id}/cancel` (stops between batches, reports what was
done)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from goalflow.service.bulk import BulkJobs
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# Ends at once and allows re-entry: a job run twice would count every row twice.
INSTANT = {
    "name": "bulk, instant",
    "settings": {"allow_reentry": True},
    "steps": [{"id": "done", "type": "end"}],
}
WAITING = {"name": "bulk, waiting", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}


async def publish(stack: Stack, definition: dict[str, Any]) -> str:
    automation = new_id("bulk")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation


async def job(stack: Stack, job_id: str) -> dict[str, Any]:
    answer = await stack.http.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def finished(stack: Stack, job_id: str) -> dict[str, Any]:
    # As long as test_bulk.py allows: a loaded machine enrolls a few rows a second.
    return await assert_eventually(
        lambda: job(stack, job_id),
        lambda j: j["status"] not in ("running", "cancelling"),
        within=60,
    )


def contacts(n: int) -> list[dict[str, Any]]:
    return [{"id": new_id()} for _ in range(n)]


async def test_the_same_key_and_body_answer_the_same_job_which_runs_once(stack: Stack) -> None:
    automation = await publish(stack, INSTANT)
    body = {"contacts": contacts(30)}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"/v1/automations/{automation}/enrollments/bulk"
    first = await stack.http.post(url, json=body, headers=key)
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    done = await finished(stack, job_id)
    assert (done["status"], done["created"], done["existing"]) == ("completed", 30, 0)
    # Repeated after the job ended, and again at once, several at a time: the same job.
    repeats = await asyncio.gather(
        *(stack.http.post(url, json=body, headers=key) for _ in range(3))
    )
    assert [(r.status_code, r.json()["job_id"]) for r in repeats] == [(202, job_id)] * 3
    assert (await job(stack, job_id))["created"] == 30  # not run again
    # Without a key, or with another key, the same body is a new job.
    other = await stack.http.post(url, json=body, headers={"Idempotency-Key": "another-key"})
    unkeyed = await stack.http.post(url, json=body)
    assert len({job_id, other.json()["job_id"], unkeyed.json()["job_id"]}) == 3


async def test_concurrent_first_requests_under_one_key_start_one_job(stack: Stack) -> None:
    automation = await publish(stack, INSTANT)
    body = {"contacts": contacts(20)}
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    url = f"/v1/automations/{automation}/enrollments/bulk"
    answers = await asyncio.gather(
        *(stack.http.post(url, json=body, headers=key) for _ in range(4))
    )
    assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
    [job_id] = {a.json()["job_id"] for a in answers}
    done = await finished(stack, job_id)
    assert (done["status"], done["created"], done["existing"]) == ("completed", 20, 0)


async def test_the_same_key_with_another_request_is_422(stack: Stack) -> None:
    automation = await publish(stack, INSTANT)
    elsewhere = await publish(stack, INSTANT)
    rows = contacts(5)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await stack.http.post(
        f"/v1/automations/{automation}/enrollments/bulk", json={"contacts": rows}, headers=key
    )
    assert first.status_code == 202, first.text
    others = [
        (automation, {"contacts": rows[:4]}),
        (automation, {"contacts": [*rows[:4], {**rows[4], "first_name": "Changed"}]}),
        (automation, {"contacts": rows, "version": 1}),
        (elsewhere, {"contacts": rows}),
    ]
    for target, body in others:
        answer = await stack.http.post(
            f"/v1/automations/{target}/enrollments/bulk", json=body, headers=key
        )
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["detail"]
        assert error["loc"] == ["header", "Idempotency-Key"]
        assert "different request" in error["msg"]
    # Keys are header values: printable ASCII, 255 characters at most.
    for bad in ("x" * 256, "with space"):
        answer = await stack.http.post(
            f"/v1/automations/{automation}/enrollments/bulk",
            json={"contacts": rows},
            headers={"Idempotency-Key": bad},
        )
        assert answer.status_code == 422, answer.text


async def test_cancel_stops_between_batches_and_reports_what_was_done(stack: Stack) -> None:
    automation = await publish(stack, WAITING)
    jobs = BulkJobs(GoalflowService(stack.env.client, stack.settings.task_queue), concurrency=1)
    rows = contacts(400)
    # One batch of 5 at a time: 80 batches, far more than run before the cancel lands.
    job_id = await jobs.submit(automation, [*rows, {"id": ""}], batch_size=5, parallel_batches=1)
    await assert_eventually(lambda: job(stack, job_id), lambda j: j["created"] >= 5, within=60)
    answer = await stack.http.post(f"/v1/jobs/{job_id}/cancel")
    assert answer.status_code == 200, answer.text
    stopped = answer.json()
    assert stopped["status"] == "cancelled"
    # What was done is counted: whole batches, every one of them created; the invalid row too.
    created = stopped["created"]
    assert 5 <= created < 400 and created % 5 == 0, stopped
    assert (stopped["done"], stopped["existing"]) == (created + 1, 0)
    assert [r["index"] for r in stopped["rejected"]] == [400]
    # Nothing ran after: the next row's contact was never enrolled, and the job stays as it is.
    after = await stack.http.get(f"/v1/contacts/{rows[created]['id']}")
    assert after.status_code == 404 or after.json()["active_enrollments"] == [], after.text
    assert await job(stack, job_id) == stopped
    # Cancelling again answers the same; an unknown job is 404.
    again = await stack.http.post(f"/v1/jobs/{job_id}/cancel")
    assert (again.status_code, again.json()) == (200, stopped)
    assert (await stack.http.post(f"/v1/jobs/{uuid.uuid4().hex}/cancel")).status_code == 404
    assert (await stack.http.post("/v1/jobs/not-a-job/cancel")).status_code == 404


async def test_cancelling_a_finished_job_answers_its_final_status(stack: Stack) -> None:
    automation = await publish(stack, INSTANT)
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments/bulk", json={"contacts": contacts(3)}
    )
    job_id = answer.json()["job_id"]
    done = await finished(stack, job_id)
    cancelled = await stack.http.post(f"/v1/jobs/{job_id}/cancel")
    assert (cancelled.status_code, cancelled.json()) == (200, done)
    assert done["status"] == "completed"
