"""`python -m goalflow_bench.dashboard` at a tiny size: it builds its stand-ins and reports a
timing for each page (the figure itself is measured by hand, never by a test)."""

from __future__ import annotations

from goalflow_bench.dashboard import run
from tests.support.bench_cli import bench_json


async def test_dashboard_benchmark_reports_each_page() -> None:
    result = await run(enrollments=20, repeat=1, concurrency=8)
    assert result["enrollments"] == 25
    # A fifth of the stand-ins ended, a fifth met the goal; the 5 real ones are active.
    assert result["funnel"]["enrolled"] == "25"
    assert result["funnel"]["finished"] == "4"
    assert result["funnel"]["converted"] == "4"
    assert set(result["timings"]) == {
        "automation page",
        "automation counts (refresh)",
        "automations list",
        "enrollments page",
        "one count query, alone",
    }
    assert all(t["median_ms"] > 0 for t in result["timings"].values())


def test_the_command_prints_its_json_alone() -> None:
    """The stack's request log goes to stderr, so stdout parses as the report."""
    sizes = ["--enrollments", "5", "--repeat", "1", "--concurrency", "4"]
    report = bench_json("goalflow_bench.dashboard", *sizes)
    assert report["enrollments"] == 10
