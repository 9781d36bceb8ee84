"""`goalflow bench scale --keep DIR`: a run stopped part-way goes on, in a later process, from
what its server already holds, and enrolls nobody twice. Tiny sizes; nothing is timed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from goalflow_bench import scale as scale_module
from goalflow_bench.main import BenchOptions, run_benchmark
from goalflow_bench.stack import Stack


class _Stopped(Exception):
    """The first process's end, part-way through its third thousand (here: four)."""


def _options(keep: Path, enrollments: int = 10) -> BenchOptions:
    return BenchOptions(
        temporal_address=None,
        enrollments=enrollments,
        contacts=2,
        rate=20.0,
        concurrency=4,
        keep=str(keep),
    )


async def test_a_kept_run_goes_on_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep = tmp_path / "run"
    monkeypatch.setattr(scale_module, "CHUNK", 4)
    enroll_many = scale_module._enroll_many
    calls = 0

    async def stopping(stack: Stack, ids: list[str], concurrency: int, label: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:  # two of the third chunk enrolled, then the process ends
            await enroll_many(stack, ids[:2], concurrency, label)
            raise _Stopped
        return await enroll_many(stack, ids, concurrency, label)

    monkeypatch.setattr(scale_module, "_enroll_many", stopping)
    with pytest.raises(_Stopped):
        await run_benchmark("scale", _options(keep))
    stopped = json.loads((keep / "scale.json").read_text())
    assert (stopped["done"], stopped["complete"]) == (8, False)
    assert stopped["baseline"]["accepted_to_moved_ms"]["count"] == 2

    monkeypatch.setattr(scale_module, "_enroll_many", enroll_many)
    report = json.loads((await run_benchmark("scale", _options(keep))).to_json())
    figures = report["figures"]
    assert figures["waiting_enrollments"] == 10
    assert figures["at_scale"]["accepted_to_moved_ms"]["count"] == 2
    assert figures["at_scale"]["enroll_failures"] == 0
    assert [(s["from"], s["to"]) for s in figures["sittings"]] == [(0, 8), (8, 12)]
    # The ratio's baseline is a new server's, measured in this process; the first one is kept.
    assert figures["baseline"]["accepted_to_moved_ms"]["count"] == 2
    assert figures["baseline_first_sitting"] == stopped["baseline"]
    assert figures["p99_ratio"] > 0 and figures["p99_ratio_first_sitting"] > 0

    # Each held contact had its one email: the two enrolled before the stop were not again.
    run = stopped["run"]
    sent = Counter(json.loads(line)["to"] for line in (keep / "outbox" / "messages.jsonl").open())
    assert [sent[f"held-{run}-{i}@bench.example"] for i in range(10)] == [1] * 10

    with pytest.raises(SystemExit, match="is complete"):
        scale_module._load(keep, 10, 2)
    with pytest.raises(SystemExit, match="--enrollments 10 --contacts 2"):
        scale_module._load(keep, 11, 2)
