"""An enrollment's timeline: what happened to it, oldest first, bounded.

Plain code (no Temporal, no clock: the time of each entry is given), passed through the
sandbox and shared by the workflow and anything else that runs the interpreter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.limits import MAX_TIMELINE_BYTES, bounded_detail, json_bytes
from workflows.messages import TimelineEntry, TimelineKind

# Oldest entries are dropped past this, or past MAX_TIMELINE_BYTES of JSON (workflows/limits.py);
# `timeline_dropped` counts them.
MAX_TIMELINE = 1000
# Timeline kinds that also make a log line (skipped while replaying, like every workflow log).
LOGGED_KINDS = frozenset(
    {"step_completed", "goal_met", "moved", "goal_unmet", "timed_out", "ended"}
)


class Timeline:
    """The entries (the list the enrollment's view and its continue-as-new progress hold) and
    how many were dropped to keep them under MAX_TIMELINE entries and MAX_TIMELINE_BYTES; the
    first, `entered`, is kept. Each entry's detail is bounded (`bounded_detail`)."""

    def __init__(self, entries: list[TimelineEntry] | None = None, dropped: int = 0) -> None:
        self.entries: list[TimelineEntry] = entries if entries is not None else []
        self.dropped = dropped
        self.bytes = sum(json_bytes(entry) for entry in self.entries)

    def record(
        self, at: datetime, kind: TimelineKind, step_id: str | None, detail: dict[str, Any]
    ) -> TimelineEntry:
        entry = TimelineEntry(at=at, kind=kind, step_id=step_id, detail=bounded_detail(detail))
        self.entries.append(entry)
        self.bytes += json_bytes(entry)
        while len(self.entries) > 2 and (
            len(self.entries) > MAX_TIMELINE or self.bytes > MAX_TIMELINE_BYTES
        ):
            self.bytes -= json_bytes(self.entries.pop(1))  # keep `entered`
            self.dropped += 1
        return entry
