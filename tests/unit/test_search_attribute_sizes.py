"""Search attribute values stay under Temporal's 2,048-byte limit, whatever the automation."""

from __future__ import annotations

import json

from workflows.search_attributes import KEYWORD_LIST_BYTES, fit_keyword_list


def test_a_short_list_is_kept_whole() -> None:
    steps = ["welcome", "wait-1", "confirmed"]
    assert fit_keyword_list(steps) == steps


def test_a_long_list_keeps_its_leading_values_within_the_limit() -> None:
    steps = [f"step-{i:03d}" for i in range(500)]
    kept = fit_keyword_list(steps)
    assert kept == steps[: len(kept)]
    assert len(json.dumps(kept, separators=(",", ":")).encode()) <= KEYWORD_LIST_BYTES
    # One more value would have crossed the limit.
    assert len(json.dumps(steps[: len(kept) + 1], separators=(",", ":")).encode()) > (
        KEYWORD_LIST_BYTES
    )


def test_the_limit_counts_bytes_not_characters() -> None:
    steps = ["é" * 60] * 40
    kept = fit_keyword_list(steps, limit=200)
    assert len(json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()) <= 200
