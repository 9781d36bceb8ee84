"""Ingest: `POST /v1/events` and `POST /v1/events/batch` as fast as the stack accepts them,
errors counted, and the same with triggered automations armed. None asserts anything about time."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from goalflow_bench import reference as ref
from goalflow_bench.report import Progress, Report, summary_ms
from goalflow_bench.runs import BenchOptions, _stack_parameters
from goalflow_bench.stack import Stack

# --- ingest -----------------------------------------------------------------------------------


def _event(contact_id: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "contact_id": contact_id,
        "type": "custom",
        "data": {"name": "page_view", "page": "/pricing"},
    }


async def _sustain(
    seconds: float, concurrency: int, work: Any, label: str
) -> tuple[float, list[float], int, int]:
    """Closed loop for `seconds`: (elapsed, request latencies, items accepted, errors)."""
    latencies: list[float] = []
    accepted = 0
    errors = 0
    progress = Progress(label, every=5.0)
    deadline = time.perf_counter() + seconds

    async def runner() -> None:
        nonlocal accepted, errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok, failed = await work()
            except httpx.HTTPError:
                ok, failed = 0, 1
            latencies.append(time.perf_counter() - started)
            accepted += ok
            errors += failed
            progress.tick(ok)

    started = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    progress.finish()
    return elapsed, latencies, accepted, errors


async def ingest(stack: Stack, options: BenchOptions) -> Report:
    seconds = options.seconds or 15.0
    concurrency = options.concurrency or 32
    contacts = options.contacts or 500
    batch_size = options.batch_size or 1000
    batch_concurrency = 1  # one batch fans out to up to `batch_size` updates by itself
    report = Report(
        "ingest",
        {
            "seconds_each": seconds,
            "concurrency_single": concurrency,
            "concurrency_batch": batch_concurrency,
            "batch_size": batch_size,
            "contacts": contacts,
            "events": "custom events for contacts with no enrollment (accepted, deduplicated, "
            "kept in order; nothing to forward)",
            **_stack_parameters(stack),
        },
    )
    ids = ref.new_contact_ids(contacts, "in")
    # Create the contact workflows first: the figures are for contacts that exist.
    warm = Progress("creating contacts", contacts, every=5.0)

    async def first(contact_id: str) -> None:
        response = await stack.http.post("/v1/events", json=_event(contact_id))
        if response.status_code != 202:
            raise ref.BenchError(f"POST /v1/events: {response.status_code} {response.text}")
        warm.tick()

    await ref.bounded(ids, concurrency, first)
    warm.finish()

    cursor = 0

    def next_ids(count: int) -> list[str]:
        nonlocal cursor
        chosen = [ids[(cursor + i) % contacts] for i in range(count)]
        cursor += count
        return chosen

    async def single() -> tuple[int, int]:
        response = await stack.http.post("/v1/events", json=_event(next_ids(1)[0]))
        return (1, 0) if response.status_code == 202 else (0, 1)

    async def batch() -> tuple[int, int]:
        events = [_event(c) for c in next_ids(batch_size)]
        response = await stack.http.post("/v1/events/batch", json={"events": events})
        if response.status_code != 202:
            return 0, batch_size
        body = response.json()
        return int(body["accepted"]), len(body["rejected"])

    s_elapsed, s_latencies, s_ok, s_errors = await _sustain(
        seconds, concurrency, single, "POST /v1/events"
    )
    b_elapsed, b_latencies, b_ok, b_errors = await _sustain(
        seconds, batch_concurrency, batch, "POST /v1/events/batch (events)"
    )
    single_rate = s_ok / s_elapsed
    batch_rate = b_ok / b_elapsed
    report.figures = {
        "events_per_s": round(single_rate, 1),
        "events_errors": s_errors,
        "events_latency_ms": summary_ms(s_latencies),
        "batch_events_per_s": round(batch_rate, 1),
        "batch_errors": b_errors,
        "batch_latency_ms": summary_ms(b_latencies),
    }
    report.target(
        "POST /v1/events sustained, 0 errors",
        "≥ 300/s",
        round(single_rate, 1),
        "/s",
        single_rate >= 300 and s_errors == 0,
    )
    report.target(
        "POST /v1/events/batch", "≥ 2,000 events/s", round(batch_rate, 1), "/s", batch_rate >= 2000
    )
    armed = options.triggered_automations or 0
    if armed:
        # Same run, same contacts: the single-event figure again with `armed` active automations
        # whose triggers listen for another event type (R14: matching is local to the process).
        await _arm_triggers(stack, armed)
        t_elapsed, t_latencies, t_ok, t_errors = await _sustain(
            seconds, concurrency, single, f"POST /v1/events ({armed} triggered automations)"
        )
        triggered_rate = t_ok / t_elapsed
        report.parameters["triggered_automations"] = armed
        report.figures |= {
            "events_per_s_with_triggers": round(triggered_rate, 1),
            "events_errors_with_triggers": t_errors,
            "events_latency_ms_with_triggers": summary_ms(t_latencies),
            "with_triggers_over_without": round(triggered_rate / single_rate, 3),
        }
        report.target(
            f"POST /v1/events with {armed} triggered automations ÷ none (same run)",
            "≥ 0.9",
            round(triggered_rate / single_rate, 3),
            "",
            triggered_rate >= 0.9 * single_rate,
        )
    return report


async def _arm_triggers(stack: Stack, count: int) -> None:
    """`count` active automations triggered by an appointment booking (the ingest sends custom
    events), then a wait for every process's copy of the trigger set to take them in."""
    run = uuid.uuid4().hex[:6]

    async def publish(n: int) -> None:
        definition = {
            "name": f"triggered {n}",
            "triggers": [{"event": "appointment.status_changed", "status": ["new"]}],
            "steps": [{"id": "stop", "type": "end"}],
        }
        response = await stack.http.put(f"/v1/automations/trig-{run}-{n}", json=definition)
        if response.status_code != 201:
            raise ref.BenchError(f"PUT automation: {response.status_code} {response.text}")

    await ref.bounded(list(range(count)), 8, publish)
    await asyncio.sleep(2.0)
