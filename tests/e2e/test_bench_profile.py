"""`goalflow bench profile` keeps working: the throughput work under py-spy at a tiny size gives a
flame graph (SVG) and a top-frames table per process. Nothing here compares with a time."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from goalflow_bench.profile import flame_svg, frames_table, read_stacks, top_frames
from tests.support.bench_cli import bench_json, run_bench


def test_top_frames_count_self_time_and_leave_idle_out(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (a.py:1);work (a.py:5);parse (b.py:9) 6\n"
        "main (a.py:1);work (a.py:5) 2\n"
        "main (a.py:1);EpollSelector.select (selectors.py:468) 50\n"
    )
    stacks = read_stacks(raw)
    assert stacks == Counter(
        {
            ("main (a.py:1)", "work (a.py:5)", "parse (b.py:9)"): 6,
            ("main (a.py:1)", "work (a.py:5)"): 2,
            ("main (a.py:1)", "EpollSelector.select (selectors.py:468)"): 50,
        }
    )
    rows = top_frames(stacks)
    assert rows == [
        {"frame": "parse (b.py:9)", "samples": 6, "self_pct": 75.0},
        {"frame": "work (a.py:5)", "samples": 2, "self_pct": 25.0},
    ]
    table = frames_table("worker", rows)
    assert table[1].split() == ["self", "%", "samples", "frame"]
    assert table[3].split() == ["75.0", "6", "parse", "(b.py:9)"]
    svg = flame_svg(stacks, "worker")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "parse (b.py:9) (6 samples" in svg


def test_cli_profile_writes_flame_graphs_and_tables(tmp_path: Path) -> None:
    sizes = ["--contacts", "4", "--rounds", "2", "--concurrency", "4"]
    out = tmp_path / "profile"
    done = run_bench("profile", "--output", str(out), *sizes)
    for name in ("worker", "api"):
        svg = (out / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and "samples" in svg
        assert f"top frames, {name}: self time" in done.stdout
    assert "self %  samples  frame" in done.stdout

    report = bench_json("goalflow.cli", "bench", "profile", "--output", str(out), "--json", *sizes)
    assert report["benchmark"] == "profile"
    assert set(report["top_frames"]) == {"worker", "api"}
    assert report["figures"]["goalflow_failures"] == 0


def test_cli_profile_samples_the_ingest_work(tmp_path: Path) -> None:
    out = tmp_path / "ingest"
    sizes = ["--seconds", "1", "--contacts", "5", "--batch-size", "10", "--concurrency", "4"]
    command = ["bench", "profile", "--json", "--work", "ingest", "--output", str(out)]
    report = bench_json("goalflow.cli", *command, *sizes)
    assert report["parameters"]["work"] == "ingest"
    assert report["figures"]["events_per_s"] > 0
    assert report["figures"]["batch_events_per_s"] > 0
    assert set(report["top_frames"]) == {"worker", "api"}
    for name in ("worker", "api"):
        assert (out / f"{name}.svg").read_text().startswith("<svg")


def test_cli_profile_refuses_unknown_work(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "goalflow.cli", "bench", "profile", "--work", "nap"]
    done = subprocess.run(
        [*command, "--output", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert "--work" in done.stderr and "'nap'" in done.stderr
    assert not any(tmp_path.iterdir())
