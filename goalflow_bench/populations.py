"""Scale and bulk: the benchmarks that enroll a population of contacts (ten thousand and more)
and measure what holding or enrolling them costs, with the latency helpers of
goalflow_bench/runs.py. None asserts anything about time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from goalflow_bench import reference as ref
from goalflow_bench.report import Progress, Report, note, rss_mb
from goalflow_bench.runs import (
    BenchOptions,
    _enroll_many,
    _latency_run,
    _le,
    _measure,
    _stack_parameters,
    _until_held,
)
from goalflow_bench.stack import Stack

# --- scale ------------------------------------------------------------------------------------


async def scale(stack: Stack, options: BenchOptions) -> Report:
    held = options.enrollments or 10_000
    rate = options.rate or 20.0
    # Holding is the point, not speed: fewer in flight keeps an overloaded worker from failing
    # workflow tasks on timeouts.
    concurrency = options.concurrency or 16
    probes = max(1, min(100, options.contacts or 100))
    report = Report(
        "scale",
        {
            "waiting_enrollments": held,
            "probe_events": probes,
            "baseline_enrollments": probes,
            "rate_events_per_s": rate,
            "enroll_concurrency": concurrency,
            **_stack_parameters(stack),
        },
    )
    await ref.publish(stack.http)
    pid = stack.worker_pid
    rss_start = rss_mb(pid) if pid else None
    note(f"baseline: {probes} enrollments")
    baseline = await _latency_run(stack, probes, rate, concurrency, "baseline")
    rss_baseline = rss_mb(pid) if pid else None

    # The held population, with the probes spread evenly through it, so that the probes are
    # as (un)likely to be in the worker's cache as any waiting enrollment.
    population = ref.new_contact_ids(held, "held")
    probe_ids = ref.new_contact_ids(probes, "probe")
    order = list(population)
    for index, probe in enumerate(probe_ids):
        order.insert(index * held // probes + index, probe)
    before = ref.emails_sent(stack.data_dir / "outbox")
    started = time.perf_counter()
    enrolled = await _enroll_many(stack, order, concurrency, f"enrolling {len(order)}")
    enroll_seconds = time.perf_counter() - started
    await _until_held(stack, before + len(enrolled), within=600 + len(order) / 5)
    rss_held = rss_mb(pid) if pid else None
    note(f"{held} waiting; probing with {probes} events at {rate}/s")
    at_scale = await _measure(stack, [i for i in probe_ids if i in enrolled], enrolled, rate)
    at_scale["enroll_failures"] = len(order) - len(enrolled)
    p99_base = baseline["accepted_to_moved_ms"]["p99"]
    p99_scale = at_scale["accepted_to_moved_ms"]["p99"]
    ratio = p99_scale / p99_base if p99_base and p99_scale is not None else None
    report.figures = {
        "waiting_enrollments": len([i for i in population if i in enrolled]),
        "enroll_rate_per_s": round(len(order) / enroll_seconds, 1),
        "worker_rss_mb": {
            "start": _r(rss_start),
            "after_baseline": _r(rss_baseline),
            "holding": _r(rss_held),
        },
        "baseline": baseline,
        "at_scale": at_scale,
        "p99_ratio": round(ratio, 2) if ratio is not None else None,
    }
    report.target(
        "waiting enrollments held", "≥ 100,000", held, "", True if held >= 100_000 else None
    )
    report.target("worker RSS holding them", "≤ 300 MB", _r(rss_held), "MB", _le(rss_held, 300))
    report.target(
        f"latency p99 vs the {probes}-enrollment case",
        "within 1.5×",
        round(ratio, 2) if ratio is not None else None,
        "×",
        _le(ratio, 1.5),
    )
    if held < 100_000:
        report.notes.append(
            f"held {held:,} (target 100,000: run with --enrollments 100000 to judge it)"
        )
    if not stack.worker_process:
        report.notes.append("worker in-process: RSS is the whole bench process's")
    return report


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


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


BENCHMARKS = {"scale": scale, "bulk": bulk}
