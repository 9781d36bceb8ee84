"""`goalflow bench` keeps working: each benchmark runs with tiny sizes and reports its figures.

Smoke tests only: no figure is compared with a time; the benchmarks themselves are commands
(docs/benchmarks.md).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from goalflow_bench.main import BenchOptions, run_benchmark
from tests.support.bench_cli import run_bench

VERDICTS = {"met", "missed", "not available"}


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _check_common(report: dict[str, Any], benchmark: str) -> None:
    assert report["benchmark"] == benchmark
    assert _positive(report["machine"]["cores"])
    assert _positive(report["machine"]["memory_mb"])
    assert report["versions"]["goalflow"]
    assert report["versions"]["temporalio"]
    assert report["parameters"]
    assert report["targets"]
    for target in report["targets"]:
        assert target["verdict"] in VERDICTS, target


async def _run(kind: str, **sizes: Any) -> dict[str, Any]:
    # Each run on its own embedded server, as the command does: the catalog and automation
    # workflows have fixed ids, and a shared server would keep them on a dead task queue.
    options = BenchOptions(temporal_address=None, **sizes)
    report = await run_benchmark(kind, options)
    as_json: dict[str, Any] = json.loads(report.to_json())
    assert report.to_table().startswith(f"goalflow bench {kind}")
    _check_common(as_json, kind)
    return as_json


def test_cli_throughput_on_its_own_embedded_server() -> None:
    sizes = ["--contacts", "4", "--rounds", "2", "--concurrency", "4"]
    done = run_bench("throughput", "--json", *sizes)
    report = json.loads(done.stdout)
    _check_common(report, "throughput")
    figures = report["figures"]
    for name in ("enrollments_per_s", "floor_per_s", "ratio", "emails_sent"):
        assert _positive(figures[name]), (name, figures)
    assert figures["goalflow_failures"] == 0
    assert figures["floor_failures"] == 0
    assert report["versions"]["temporal_cli"]
    assert "[bench]" in done.stderr  # progress


async def test_latency() -> None:
    report = await _run("latency", rate=10.0, seconds=0.5, concurrency=4)
    moved = report["figures"]["accepted_to_moved_ms"]
    assert moved["count"] == 5
    assert _positive(moved["p50"]) or moved["p50"] == 0
    assert _positive(moved["p99"])
    assert _positive(report["figures"]["post_event_round_trip_ms"]["p50"])
    assert report["figures"]["not_moved"] == 0


async def test_ingest() -> None:
    report = await _run("ingest", seconds=1.0, contacts=5, batch_size=10, concurrency=4)
    figures = report["figures"]
    assert _positive(figures["events_per_s"])
    assert _positive(figures["batch_events_per_s"])
    assert figures["events_errors"] == 0
    assert figures["batch_errors"] == 0


async def test_scale_with_a_worker_process() -> None:
    report = await _run("scale", enrollments=10, contacts=3, rate=20.0, concurrency=4)
    figures = report["figures"]
    assert "subprocess" in report["parameters"]["worker"]
    assert _positive(figures["worker_rss_mb"]["holding"])
    assert _positive(figures["enroll_rate_per_s"])
    assert figures["at_scale"]["accepted_to_moved_ms"]["count"] == 3
    assert figures["baseline"]["accepted_to_moved_ms"]["count"] == 3
    assert _positive(figures["p99_ratio"])


async def test_bulk() -> None:
    report = await _run("bulk", contacts=5, singles=4, concurrency=4)
    figures = report["figures"]
    assert _positive(figures["single_enrollments_per_s"])
    if figures["bulk_available"]:
        assert _positive(figures["bulk_enrollments_per_s"])
        assert _positive(figures["ratio"])
    else:
        assert report["targets"][0]["verdict"] == "not available"


@pytest.mark.parametrize("kind", ["nope"])
async def test_unknown_benchmark_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown benchmark"):
        await run_benchmark(kind, BenchOptions())
