"""Throughput and latency, and the helpers the other benchmarks share (ingest:
goalflow_bench/ingest.py; scale and bulk: goalflow_bench/populations.py). Each drives a running
stack through the public HTTP API and returns a Report; none asserts anything about time: the
verdicts compare with docs/benchmarks.md's targets."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from goalflow_bench import reference as ref
from goalflow_bench.floor import FloorWorkflow
from goalflow_bench.report import CpuMeter, Progress, Report, note, summary_ms
from goalflow_bench.stack import Stack


@dataclass
class BenchOptions:
    """Sizes; None takes each benchmark's default."""

    contacts: int | None = None
    rate: float | None = None
    seconds: float | None = None
    enrollments: int | None = None
    concurrency: int | None = None
    rounds: int | None = None
    batch_size: int | None = None
    singles: int | None = None
    worker_process: bool | None = None
    temporal_address: str | None = None
    triggered_automations: int | None = None
    output: str | None = None  # profile: the directory for the flame graphs
    work: str | None = None  # profile: the benchmark run under the sampler (throughput, ingest)
    keep: str | None = None  # scale: a directory keeping the run, to go on with it later


def _stack_parameters(stack: Stack) -> dict[str, Any]:
    return {
        "temporal": "embedded dev server (SQLite file)"
        if stack.embedded
        else f"external {stack.settings.temporal_address}",
        "worker": "subprocess (goalflow worker)"
        if stack.worker_process
        else "in-process (with the API and the driver)",
    }


# --- throughput -------------------------------------------------------------------------------

# The click comes this long after the start, in both kinds of unit: long enough that the first
# workflow task has run and the wait (goalflow) or the 1 s timer (floor) is in place, so that
# both race a running timer against the event, as the reference work does.
CLICK_DELAY = 0.2


async def _goalflow_unit(stack: Stack, contact_id: str) -> bool:
    enrollment_id = await ref.enroll(stack.http, contact_id)
    await asyncio.sleep(CLICK_DELAY)
    clicked = await ref.click(stack.http, contact_id)
    if clicked.status_code != 202:
        return False
    handle = stack.client.get_workflow_handle(enrollment_id)
    view = await handle.result()
    return isinstance(view, dict) and view.get("status") == "completed"


async def _floor_unit(stack: Stack, contact_id: str) -> bool:
    handle = await stack.client.start_workflow(
        FloorWorkflow.run,
        1.0,
        id=f"bench-floor-{contact_id}",
        task_queue=stack.floor_task_queue,
    )
    await asyncio.sleep(CLICK_DELAY)
    await handle.signal(FloorWorkflow.click)
    return bool(await handle.result())


async def _phase(
    stack: Stack, kind: str, count: int, concurrency: int, progress: Progress
) -> tuple[float, int]:
    """Run `count` units of one kind; (elapsed seconds, failures)."""
    unit = _goalflow_unit if kind == "goalflow" else _floor_unit
    failures = 0

    async def one(contact_id: str) -> None:
        nonlocal failures
        try:
            ok = await unit(stack, contact_id)
        except Exception as err:  # counted and shown, the run goes on
            ok = False
            if failures < 3:
                note(f"{kind} unit failed: {type(err).__name__}: {err}")
        failures += 0 if ok else 1
        progress.tick()

    ids = ref.new_contact_ids(count, f"t{kind[0]}")
    started = time.perf_counter()
    await ref.bounded(ids, concurrency, one)
    return time.perf_counter() - started, failures


async def throughput(stack: Stack, options: BenchOptions) -> Report:
    contacts = options.contacts or 1000
    concurrency = options.concurrency or 32
    rounds = max(1, min(options.rounds or 4, contacts))
    per_round = max(1, contacts // rounds)
    report = Report(
        "throughput",
        {
            "contacts": per_round * rounds,
            "rounds": rounds,
            "concurrency": concurrency,
            "work": "enroll → email → wait PT1S → goal (trigger link click) → email",
            "floor": "bare workflow: start, signal, 1 s timer raced with the signal, complete",
            "click_after_s": CLICK_DELAY,
            **_stack_parameters(stack),
        },
    )
    await ref.publish(stack.http)
    # Warm up both paths (sandbox imports, connections) outside the measurement.
    warm = Progress("warm-up", 2 * min(8, per_round))
    await _phase(stack, "goalflow", min(8, per_round), concurrency, warm)
    await _phase(stack, "floor", min(8, per_round), concurrency, warm)
    emails_before = ref.emails_sent(stack.data_dir / "outbox")

    elapsed = {"goalflow": 0.0, "floor": 0.0}
    failures = {"goalflow": 0, "floor": 0}
    cpu = {kind: CpuMeter(stack.temporal_pid, stack.python_pids()) for kind in elapsed}
    per_round_rates: list[dict[str, float]] = []
    progress = Progress("throughput (goalflow + floor units)", 2 * per_round * rounds)
    for index in range(rounds):
        # Alternate which goes first, so that drift on a noisy machine hits both alike.
        order = ("floor", "goalflow") if index % 2 == 0 else ("goalflow", "floor")
        rates: dict[str, float] = {}
        for kind in order:
            cpu[kind].start()
            seconds, failed = await _phase(stack, kind, per_round, concurrency, progress)
            cpu[kind].stop()
            elapsed[kind] += seconds
            failures[kind] += failed
            rates[kind] = round(per_round / seconds, 1)
        per_round_rates.append(rates)
    progress.finish()

    total = per_round * rounds
    goalflow_rate = total / elapsed["goalflow"]
    floor_rate = total / elapsed["floor"]
    ratio = goalflow_rate / floor_rate
    emails = ref.emails_sent(stack.data_dir / "outbox") - emails_before
    report.figures = {
        "enrollments_per_s": round(goalflow_rate, 1),
        "floor_per_s": round(floor_rate, 1),
        "ratio": round(ratio, 3),
        "goalflow_seconds": round(elapsed["goalflow"], 2),
        "floor_seconds": round(elapsed["floor"], 2),
        "goalflow_failures": failures["goalflow"],
        "floor_failures": failures["floor"],
        "emails_sent": emails,
        "per_round": per_round_rates,
    }
    if stack.temporal_pid is not None:
        # CPU per unit: what each costs, whatever else the machine was doing meanwhile.
        per_unit = {
            kind: {
                "server_ms": round(cpu[kind].server / total * 1000, 2),
                "python_ms": round(cpu[kind].python / total * 1000, 2),
            }
            for kind in elapsed
        }
        report.figures["cpu_per_unit"] = per_unit
        cost = {kind: v["server_ms"] + v["python_ms"] for kind, v in per_unit.items()}
        if cost["goalflow"] > 0:
            report.figures["cpu_ratio_floor_to_goalflow"] = round(
                cost["floor"] / cost["goalflow"], 3
            )
    report.target("enrollments/s ÷ floor/s", "≥ 0.5", round(ratio, 3), "", ratio >= 0.5)
    if failures["goalflow"] or failures["floor"]:
        report.notes.append("some units failed: see goalflow_failures / floor_failures")
    return report


# --- latency ----------------------------------------------------------------------------------


async def _enroll_many(
    stack: Stack, contact_ids: list[str], concurrency: int, label: str
) -> dict[str, str]:
    """Enroll each contact in the reference automation; contact id → enrollment id. An
    enrollment that keeps failing (an overloaded machine: workflow tasks timing out) is given
    up after a few tries and left out; the caller reports how many were."""
    enrolled: dict[str, str] = {}
    progress = Progress(label, len(contact_ids), every=5.0)
    retried = 0

    async def one(contact_id: str) -> None:
        nonlocal retried
        for attempt in range(8):
            try:
                enrolled[contact_id] = await ref.enroll(stack.http, contact_id)
                break
            except httpx.ConnectError:
                raise  # the API is gone: nothing to retry
            except (httpx.HTTPError, ref.BenchError) as err:
                retried += 1
                if retried <= 10:
                    note(f"enroll {contact_id} failed ({err}); retrying")
                await asyncio.sleep(min(2**attempt, 10))
        progress.tick()

    await ref.bounded(contact_ids, concurrency, one)
    progress.finish()
    if retried:
        note(f"{label}: {retried} retries, {len(contact_ids) - len(enrolled)} given up")
    return enrolled


async def _until_held(stack: Stack, expected_emails: int, within: float) -> None:
    """Every enrolled contact has had its first email; after the 1 s wait it is held at the
    goal. Judged from the SMTP sink, so that no query disturbs the worker's cache."""
    outbox = stack.data_dir / "outbox"
    deadline = time.monotonic() + within
    progress = Progress("first emails sent", expected_emails, every=5.0)
    while (sent := ref.emails_sent(outbox)) < expected_emails:
        progress.set(sent)
        if time.monotonic() > deadline:
            raise ref.BenchError(f"only {sent}/{expected_emails} first emails within {within}s")
        await asyncio.sleep(0.25)
    await asyncio.sleep(1.5)  # the PT1S wait, and a margin


@dataclass
class _Sent:
    contact_id: str
    sent: float
    answered: float
    status: int


async def _click_at_rate(stack: Stack, contact_ids: list[str], rate: float) -> list[_Sent]:
    """Open loop: one click every 1/rate seconds whatever the answers take."""
    results: list[_Sent] = []
    progress = Progress("events sent", len(contact_ids), every=5.0)

    async def send(contact_id: str) -> None:
        sent = time.time()
        try:
            status = (await ref.click(stack.http, contact_id)).status_code
        except httpx.HTTPError:
            status = 0
        results.append(_Sent(contact_id, sent, time.time(), status))
        progress.tick()

    tasks = []
    start = time.monotonic()
    for index, contact_id in enumerate(contact_ids):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(contact_id)))
    await asyncio.gather(*tasks)
    progress.finish()
    return results


async def _moves(
    stack: Stack, sent: list[_Sent], enrolled: dict[str, str]
) -> tuple[list[float], list[float], list[float], int]:
    """(accepted → moved, 202 → moved, POST → 202) in seconds, and how many never moved."""
    accepted_to_moved: list[float] = []
    answered_to_moved: list[float] = []
    round_trips: list[float] = []
    missing = 0

    async def one(item: _Sent) -> None:
        nonlocal missing
        if item.status != 202:
            missing += 1
            return
        round_trips.append(item.answered - item.sent)
        deadline = time.monotonic() + 30
        while True:
            try:
                view = await ref.enrollment(stack.http, enrolled[item.contact_id])
            except (httpx.HTTPError, ref.BenchError):
                view = {}  # transient (an overloaded worker): look again
            found = ref.moved_at(view)
            if found is not None:
                accepted, moved = found
                accepted_to_moved.append(max(0.0, moved - accepted))
                answered_to_moved.append(max(0.0, moved - item.answered))
                return
            if time.monotonic() > deadline:
                missing += 1
                return
            await asyncio.sleep(0.5)

    await ref.bounded(sent, 8, one)
    return accepted_to_moved, answered_to_moved, round_trips, missing


async def _measure(
    stack: Stack, contact_ids: list[str], enrolled: dict[str, str], rate: float
) -> dict[str, Any]:
    """Click for each contact at `rate`; the latency figures."""
    sent = await _click_at_rate(stack, contact_ids, rate)
    accepted, answered, trips, missing = await _moves(stack, sent, enrolled)
    return {
        "accepted_to_moved_ms": summary_ms(accepted),
        "answered_to_moved_ms": summary_ms(answered),
        "post_event_round_trip_ms": summary_ms(trips),
        "not_moved": missing,
        "errors": sum(1 for s in sent if s.status != 202),
    }


async def _latency_run(
    stack: Stack, count: int, rate: float, concurrency: int, label: str
) -> dict[str, Any]:
    ids = ref.new_contact_ids(count, label[:2])
    before = ref.emails_sent(stack.data_dir / "outbox")
    enrolled = await _enroll_many(stack, ids, concurrency, f"{label}: enrolling")
    await _until_held(stack, before + len(enrolled), within=120 + count / 5)
    figures = await _measure(stack, [i for i in ids if i in enrolled], enrolled, rate)
    figures["enroll_failures"] = count - len(enrolled)
    return figures


def _latency_targets(report: Report, figures: dict[str, Any], suffix: str = "") -> None:
    moved = figures["accepted_to_moved_ms"]
    p50, p99 = moved["p50"], moved["p99"]
    report.target(f"accepted → moved p50{suffix}", "≤ 50 ms", p50, "ms", _le(p50, 50))
    report.target(f"accepted → moved p99{suffix}", "≤ 250 ms", p99, "ms", _le(p99, 250))


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


async def latency(stack: Stack, options: BenchOptions) -> Report:
    rate = options.rate or 20.0
    seconds = options.seconds or 30.0
    concurrency = options.concurrency or 32
    count = max(1, round(rate * seconds))
    report = Report(
        "latency",
        {
            "rate_events_per_s": rate,
            "seconds": seconds,
            "events": count,
            "enroll_concurrency": concurrency,
            "measured": "goal met_at (event accepted by the contact workflow) → the contact "
            "leaves for/at the goal (timeline), both from Temporal's clock",
            **_stack_parameters(stack),
        },
    )
    await ref.publish(stack.http)
    report.figures = await _latency_run(stack, count, rate, concurrency, "latency")
    _latency_targets(report, report.figures)
    if report.figures["not_moved"] or report.figures["errors"]:
        report.notes.append("some events were not accepted or the contact did not move")
    return report


BENCHMARKS = {
    "throughput": throughput,
    "latency": latency,
}
