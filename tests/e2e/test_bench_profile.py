"""`goalflow bench profile` keeps working: the throughput work under py-spy at a tiny size gives a
flame graph (SVG) and a top-frames table per process. Nothing here compares with a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from goalflow_bench.profile import flame_svg, frames_table, read_stacks, top_frames


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
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    # py-spy is installed beside this interpreter (the test extra).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    sizes = ["--contacts", "4", "--rounds", "2", "--concurrency", "4"]
    out = tmp_path / "profile"
    command = [sys.executable, "-m", "goalflow.cli", "bench", "profile", "--output", str(out)]
    done = subprocess.run([*command, *sizes], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("worker", "api"):
        svg = (out / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and "samples" in svg
        assert f"top frames, {name}: self time" in done.stdout
    assert "self %  samples  frame" in done.stdout

    as_json = subprocess.run(
        [*command, "--json", *sizes], capture_output=True, text=True, env=env, timeout=300
    )
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    report = json.loads(as_json.stdout)
    assert report["benchmark"] == "profile"
    assert set(report["top_frames"]) == {"worker", "api"}
    assert report["figures"]["goalflow_failures"] == 0


def test_cli_profile_samples_the_ingest_work(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = tmp_path / "ingest"
    command = [sys.executable, "-m", "goalflow.cli", "bench", "profile", "--json"]
    sizes = ["--seconds", "1", "--contacts", "5", "--batch-size", "10", "--concurrency", "4"]
    done = subprocess.run(
        [*command, "--work", "ingest", "--output", str(out), *sizes],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
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
