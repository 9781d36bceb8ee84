"""What the service layer counts, in the process's prometheus-client registry (served by the
API's `/metrics`, docs/operations.md)."""

from __future__ import annotations

from prometheus_client import Counter

ENROLLMENTS = Counter(
    "goalflow_enrollments",
    "single enrollment requests (POST /v1/automations/{id}/enrollments), by result",
    ["result"],
)
EVENTS = Counter("goalflow_events", "events accepted by the API, by result", ["result"])
BULK_JOBS = Counter("goalflow_bulk_jobs", "bulk enrollment jobs started")
BULK_ROWS = Counter(
    "goalflow_bulk_rows", "rows submitted to bulk jobs, by validation result", ["result"]
)
