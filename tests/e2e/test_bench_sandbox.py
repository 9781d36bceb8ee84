"""`python -m goalflow_bench.sandbox` at a tiny size: each setting's worker holds its contacts
and reports its memory and the time a workflow instance takes to create (the figures themselves
are for docs/benchmarks.md, not asserted)."""

from __future__ import annotations

from goalflow_bench.sandbox import VARIANTS, main


async def test_sandbox_bench_reports_every_setting() -> None:
    results = await main(3)
    assert [r["variant"] for r in results] == list(VARIANTS)
    for result in results:
        assert result["cached_workflows"] == 6
        assert result["rss_holding_mb"] > 0 and result["rss_before_mb"] > 0
        assert isinstance(result["kib_per_cached_workflow"], float)
        # Each held contact creates two workflow instances: the contact and its enrollment.
        assert result["instances_created"] >= 6
        assert result["ms_per_instance"] > 0 and result["ms_per_instance_p50"] > 0
