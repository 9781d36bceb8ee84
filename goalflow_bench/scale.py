"""Scale: a population of contacts held at the reference automation's goal, the worker's
resident memory while it holds them, and the latency of events for a few of them against the
100-enrollment case. None asserts anything about time.

A run can be kept (`--keep DIR`): the embedded server's SQLite file, the outbox and the run's
progress (`scale.json`) stay in DIR, and the same command run again goes on from the last
thousand enrolled instead of starting over. Holding a hundred thousand takes longer than some
machines let one process live; the held enrollments are the server's, and outlive the stack.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goalflow_bench import reference as ref
from goalflow_bench.report import Report, note, rss_mb
from goalflow_bench.runs import (
    BenchOptions,
    _enroll_many,
    _latency_run,
    _le,
    _measure,
    _stack_parameters,
    _until_held,
)
from goalflow_bench.stack import Stack, StackOptions, open_stack

# Enrolled between two saves of a kept run's progress: what a run stopped without warning
# enrolls again (a contact enrolled twice answers with its running enrollment).
CHUNK = 1_000


@dataclass
class ScaleState:
    """A run's progress: enough to go on in a later process, as `scale.json` in a kept run."""

    held: int
    probes: int
    run: str  # names the run's contacts: `held-{run}-{i}`, `probe-{run}-{i}`
    done: int = 0  # how much of `order` has been asked for
    failed: list[str] = field(default_factory=list)  # given up on: asked again first
    probe_enrollments: dict[str, str] = field(default_factory=dict)
    emails_before: int | None = None  # in the outbox before the population
    baseline: dict[str, Any] | None = None  # the 100-enrollment case, on the empty server
    rss_start: float | None = None
    rss_baseline: float | None = None
    sittings: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False

    def enroll_seconds(self) -> float:
        """The time spent enrolling, over every sitting."""
        return float(sum(sitting["seconds"] for sitting in self.sittings))

    def population(self) -> list[str]:
        return [f"held-{self.run}-{i}" for i in range(self.held)]

    def probe_ids(self) -> list[str]:
        return [f"probe-{self.run}-{i}" for i in range(self.probes)]

    def order(self) -> list[str]:
        """The population with the probes spread evenly through it, so that the probes are as
        (un)likely to be in the worker's cache as any waiting enrollment."""
        order = self.population()
        for index, probe in enumerate(self.probe_ids()):
            order.insert(index * self.held // self.probes + index, probe)
        return order


def _load(keep: Path | None, held: int, probes: int) -> ScaleState:
    path = keep / "scale.json" if keep is not None else None
    if path is None or not path.exists():
        return ScaleState(held=held, probes=probes, run=uuid.uuid4().hex[:6])
    saved = json.loads(path.read_text())
    saved.pop("enroll_seconds", None)  # kept by runs before it was the sittings' sum
    state = ScaleState(**saved)
    if (state.held, state.probes) != (held, probes):
        raise SystemExit(
            f"goalflow bench: the run kept in {keep} holds {state.held:,} with {state.probes} "
            f"probes; run it with --enrollments {state.held} --contacts {state.probes}, or "
            "keep another directory"
        )
    if state.complete:
        raise SystemExit(
            f"goalflow bench: the run kept in {keep} is complete (its report was printed); "
            "keep another directory to run again"
        )
    return state


def _save(keep: Path | None, state: ScaleState) -> None:
    if keep is None:
        return
    path = keep / "scale.json"
    part = path.with_suffix(".part")
    part.write_text(json.dumps(asdict(state)))
    os.replace(part, path)  # a run stopped mid-write keeps the previous progress


async def _populate(stack: Stack, state: ScaleState, keep: Path | None, concurrency: int) -> None:
    """Enroll what is left of the run's order, a chunk at a time, saving after each."""
    order = state.order()
    probes = set(state.probe_ids())
    sitting = state.sittings[-1]

    async def enroll(contact_ids: list[str], label: str) -> None:
        started = time.perf_counter()
        enrolled = await _enroll_many(stack, contact_ids, concurrency, label)
        seconds = time.perf_counter() - started
        sitting["seconds"] = round(sitting["seconds"] + seconds, 1)
        state.failed += [c for c in contact_ids if c not in enrolled]
        state.probe_enrollments.update({c: e for c, e in enrolled.items() if c in probes})

    if state.failed:
        again, state.failed = state.failed, []
        await enroll(again, f"enrolling {len(again)} given up on before")
    while state.done < len(order):
        chunk = order[state.done : state.done + CHUNK]
        await enroll(chunk, f"enrolling {state.done + len(chunk):,} of {len(order):,}")
        state.done += len(chunk)
        sitting["to"] = state.done
        _save(keep, state)


async def _fresh_baseline(probes: int, rate: float, concurrency: int) -> dict[str, Any]:
    """The 100-enrollment case again, on a new empty server beside the kept one, for a run
    that went on in a later process: measured minutes before the probes, on the same machine
    in the same state, rather than hours or days earlier."""
    async with open_stack(StackOptions(worker_process=True)) as fresh:
        await ref.publish(fresh.http)
        return await _latency_run(fresh, probes, rate, concurrency, "baseline (new server)")


async def scale(stack: Stack, options: BenchOptions) -> Report:
    held = options.enrollments or 10_000
    rate = options.rate or 20.0
    # Holding is the point, not speed: fewer in flight keeps an overloaded worker from failing
    # workflow tasks on timeouts.
    concurrency = options.concurrency or 16
    probes = max(1, min(100, options.contacts or 100))
    keep = Path(options.keep) if options.keep else None
    state = _load(keep, held, probes)
    report = Report(
        "scale",
        {
            "waiting_enrollments": held,
            "probe_events": probes,
            "baseline_enrollments": probes,
            "rate_events_per_s": rate,
            "enroll_concurrency": concurrency,
            **({"kept_in": str(keep)} if keep is not None else {}),
            **_stack_parameters(stack),
        },
    )
    await ref.publish(stack.http)
    pid = stack.worker_pid
    state.sittings.append(
        {"started": datetime.now(UTC).isoformat(timespec="seconds"), "from": state.done}
        | {"to": state.done, "seconds": 0.0}
    )
    if state.baseline is None:
        state.rss_start = rss_mb(pid) if pid else None
        note(f"baseline: {probes} enrollments")
        state.baseline = await _latency_run(stack, probes, rate, concurrency, "baseline")
        state.rss_baseline = rss_mb(pid) if pid else None
        state.emails_before = ref.emails_sent(stack.data_dir / "outbox")
        _save(keep, state)
    else:
        note(f"going on from {state.done:,} of {held + probes:,} (kept in {keep})")
    await _populate(stack, state, keep, concurrency)
    order = state.order()
    await _until_held(
        stack,
        (state.emails_before or 0) + len(order) - len(state.failed),
        within=600 + len(order) / 5,
    )
    rss_held = rss_mb(pid) if pid else None
    baseline = state.baseline
    if len(state.sittings) > 1:
        note("baseline again, on a new server, for comparing within this process")
        baseline = await _fresh_baseline(probes, rate, concurrency)
    note(f"{held} waiting; probing with {probes} events at {rate}/s")
    probe_ids = [i for i in state.probe_ids() if i in state.probe_enrollments]
    at_scale = await _measure(stack, probe_ids, state.probe_enrollments, rate)
    at_scale["enroll_failures"] = len(state.failed)
    _judge(report, state, baseline, at_scale, rss_held)
    state.complete = True
    _save(keep, state)
    if not stack.worker_process:
        report.notes.append("worker in-process: RSS is the whole bench process's")
    return report


def _judge(
    report: Report,
    state: ScaleState,
    baseline: dict[str, Any],
    at_scale: dict[str, Any],
    rss_held: float | None,
) -> None:
    """The figures of a finished run, and each against its target."""
    p99_scale = at_scale["accepted_to_moved_ms"]["p99"]
    ratio = _ratio(p99_scale, baseline["accepted_to_moved_ms"]["p99"])
    given_up = set(state.failed)
    report.figures = {
        "waiting_enrollments": sum(1 for i in state.population() if i not in given_up),
        "enroll_rate_per_s": round(len(state.order()) / state.enroll_seconds(), 1),
        "worker_rss_mb": {
            "start": _r(state.rss_start),
            "after_baseline": _r(state.rss_baseline),
            "holding": _r(rss_held),
        },
        "baseline": baseline,
        "at_scale": at_scale,
        "p99_ratio": _r2(ratio),
    }
    if len(state.sittings) > 1 and state.baseline is not None:
        first = _ratio(p99_scale, state.baseline["accepted_to_moved_ms"]["p99"])
        report.figures |= {
            "sittings": state.sittings,
            "baseline_first_sitting": state.baseline,
            "p99_ratio_first_sitting": _r2(first),
        }
        report.notes.append(
            f"enrolled in {len(state.sittings)} processes on one server file; RSS start and "
            "after_baseline are the first worker's, holding is this one's; the baseline is "
            "a new server's, measured in this process (the first process's: "
            "baseline_first_sitting)"
        )
    held = state.held
    report.target(
        "waiting enrollments held", "≥ 100,000", held, "", True if held >= 100_000 else None
    )
    report.target("worker RSS holding them", "≤ 300 MB", _r(rss_held), "MB", _le(rss_held, 300))
    report.target(
        f"latency p99 vs the {state.probes}-enrollment case",
        "within 1.5×",
        _r2(ratio),
        "×",
        _le(ratio, 1.5),
    )
    if held < 100_000:
        report.notes.append(
            f"held {held:,} (target 100,000: run with --enrollments 100000 to judge it)"
        )


def _ratio(p99: float | None, base: float | None) -> float | None:
    return p99 / base if base and p99 is not None else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _r2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
