"""Bulk: a population of contacts enrolled by one bulk job, against single enrollments made
before and after it, with the helpers of goalflow_bench/runs.py (scale, the other benchmark
that enrolls a population: goalflow_bench/scale.py). None asserts anything about time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from goalflow_bench import reference as ref
from goalflow_bench.report import Progress, Report, note
from goalflow_bench.runs import (
    BenchOptions,
    _enroll_many,
    _stack_parameters,
)
from goalflow_bench.stack import Stack

# --- bulk -------------------------------------------------------------------------------------


async def _singles(stack: Stack, count: int, concurrency: int, label: str) -> tuple[int, float]:
    ids = ref.new_contact_ids(count, "single")
    started = time.perf_counter()
    enrolled = await _enroll_many(stack, ids, concurrency, label)
    return len(enrolled), time.perf_counter() - started


async def bulk(stack: Stack, options: BenchOptions) -> Report:
    contacts = options.contacts or 10_000
    singles = options.singles or min(contacts, 2000)
    concurrency = options.concurrency or 32
    report = Report(
        "bulk",
        {
            "bulk_contacts": contacts,
            "single_enrollments": singles,
            "single_concurrency": concurrency,
            "measured": "bulk: job accepted → job done; singles: POST enrollment answered, "
            "half before and half after the bulk job",
            **_stack_parameters(stack),
        },
    )
    await ref.publish(stack.http)
    first_half = singles // 2 or 1
    count_a, seconds_a = await _singles(stack, first_half, concurrency, "single enrollments (1)")

    bulk_rate: float | None = None
    job: dict[str, Any] = {}
    ids = ref.new_contact_ids(contacts, "bulk")
    started = time.perf_counter()
    response = await stack.http.post(
        f"/v1/automations/{ref.AUTOMATION_ID}/enrollments/bulk",
        json={"contacts": [ref.contact(c) for c in ids]},
    )
    available = not (
        response.status_code == 405
        or (response.status_code == 404 and response.json().get("detail") == "Not Found")
    )
    if available:
        if response.status_code != 202:
            raise ref.BenchError(f"POST bulk: {response.status_code} {response.text[:300]}")
        job_id = response.json()["job_id"]
        progress = Progress("bulk job", contacts, every=2.0)
        # Bounded: give up when the job has made no progress for a while.
        stalled_after = 120.0
        last_done, last_change = -1, time.monotonic()
        while True:
            polled = await stack.http.get(f"/v1/jobs/{job_id}")
            if polled.status_code == 200:
                job = polled.json()
                done = int(job.get("done", 0))
                progress.set(done)
                if done != last_done:
                    last_done, last_change = done, time.monotonic()
                if job.get("status") not in ("pending", "running"):
                    break
            if time.monotonic() - last_change > stalled_after:
                job["status"] = f"stalled (no progress for {stalled_after:.0f} s)"
                break
            await asyncio.sleep(0.5)
        progress.finish()
        if job.get("status") == "completed":
            bulk_rate = contacts / (time.perf_counter() - started)
        else:
            report.notes.append(f"bulk job ended {job.get('status')}: {job.get('error')}")
    else:
        note("bulk enrollment endpoint not available (404/405): skipped")

    count_b, seconds_b = await _singles(
        stack, max(1, singles - first_half), concurrency, "single enrollments (2)"
    )
    single_rate = (count_a + count_b) / (seconds_a + seconds_b)
    ratio = bulk_rate / single_rate if bulk_rate is not None else None
    report.figures = {
        "bulk_enrollments_per_s": round(bulk_rate, 1) if bulk_rate is not None else None,
        "bulk_available": available,
        "bulk_job": {
            k: job.get(k) for k in ("status", "total", "done", "created", "existing", "error")
        }
        if job
        else None,
        "bulk_rejected": len(job.get("rejected", [])) if job else None,
        "single_enrollments_per_s": round(single_rate, 1),
        "ratio": round(ratio, 3) if ratio is not None else None,
    }
    report.target(
        "bulk rate ÷ single-enrollment rate",
        "≥ 0.8×",
        round(ratio, 3) if ratio is not None else None,
        "×",
        None if not available else (ratio is not None and ratio >= 0.8),
    )
    if not available:
        report.notes.append(
            "POST /v1/automations/{id}/enrollments/bulk is not available on this build"
        )
    return report


BENCHMARKS = {"bulk": bulk}
