"""`python -m goalflow_bench.dashboard` at a tiny size: it builds its stand-ins and reports a
timing for each page (the figure itself is measured by hand, never by a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from goalflow_bench.dashboard import run


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
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    command = [sys.executable, "-m", "goalflow_bench.dashboard", "--enrollments", "5"]
    done = subprocess.run(
        [*command, "--repeat", "1", "--concurrency", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["enrollments"] == 10
