"""The reference work (docs/benchmarks.md) and the calls that drive it through the HTTP API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from goalflow.core.smtp_sink import outbox_path

AUTOMATION_ID = "bench-reference"
LINK_ID = "bench-link"
GOAL_STEP = "clicked"

# email → wait PT1S → goal on a trigger-link click, held until met → email.
REFERENCE: dict[str, Any] = {
    "name": "Benchmark reference work",
    "settings": {"allow_reentry": False, "timezone": "UTC"},
    "steps": [
        {
            "id": "welcome",
            "type": "send_email",
            "subject": "Hi {{ contact.first_name }}",
            "html": f"<p>Pick a time: <a href=\"{{{{ trigger_link('{LINK_ID}') }}}}\">book</a></p>",
        },
        {"id": "pause", "type": "wait", "duration": "PT1S"},
        {
            "id": GOAL_STEP,
            "type": "goal",
            "name": "Link clicked",
            "any_of": [{"event": "trigger_link.clicked", "link_id": LINK_ID}],
            "if_unmet": {"action": "wait"},
        },
        {
            "id": "thanks",
            "type": "send_email",
            "subject": "Thanks, {{ contact.first_name }}",
            "html": "<p>See you soon.</p>",
        },
    ],
}

T = TypeVar("T")


class BenchError(Exception):
    """The stack answered something the benchmark cannot go on with."""


async def publish(http: httpx.AsyncClient) -> None:
    """Define the trigger link and the reference automation. Their workflows have fixed ids: on
    a server where they were created on another task queue that no worker serves any more,
    these calls would wait forever, hence the time limit and the advice."""
    try:
        link = await http.put(
            f"/v1/trigger-links/{LINK_ID}",
            json={"name": "bench", "url": "https://example.com/book"},
            timeout=60,
        )
        check(link, "PUT trigger link")
        published = await http.put(f"/v1/automations/{AUTOMATION_ID}", json=REFERENCE, timeout=60)
        check(published, "PUT automation")
    except httpx.TimeoutException as err:
        raise BenchError(
            "publishing the reference automation did not finish within 60 s: on a server given "
            "by TEMPORAL_ADDRESS, use a namespace (TEMPORAL_NAMESPACE) kept for the benchmark"
        ) from err


def contact(contact_id: str) -> dict[str, Any]:
    return {"id": contact_id, "email": f"{contact_id}@bench.example", "first_name": "Bench"}


def new_contact_ids(count: int, prefix: str) -> list[str]:
    run = uuid.uuid4().hex[:6]
    return [f"{prefix}-{run}-{i}" for i in range(count)]


async def enroll(http: httpx.AsyncClient, contact_id: str) -> str:
    response = await http.post(
        f"/v1/automations/{AUTOMATION_ID}/enrollments", json={"contact": contact(contact_id)}
    )
    check(response, "POST enrollment")
    enrollment_id: str = response.json()["enrollment_id"]
    return enrollment_id


async def click(http: httpx.AsyncClient, contact_id: str) -> httpx.Response:
    """The one event that meets the goal, as the tracking endpoint would emit it."""
    return await http.post(
        "/v1/events",
        json={
            "contact_id": contact_id,
            "type": "trigger_link.clicked",
            "data": {"link_id": LINK_ID},
        },
    )


async def enrollment(http: httpx.AsyncClient, enrollment_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/enrollments/{enrollment_id}")
    check(response, "GET enrollment")
    view: dict[str, Any] = response.json()
    return view


def moved_at(view: dict[str, Any]) -> tuple[float, float] | None:
    """(accepted, moved) as epoch seconds: when the contact workflow accepted the event that met
    the goal (the goal's `met_at`), and when the contact left for the goal (`moved`, or the goal
    completed when the contact was already held there)."""
    goal = next((g for g in view.get("goals", []) if g["step_id"] == GOAL_STEP), None)
    if goal is None or not goal.get("met") or not goal.get("met_at"):
        return None
    accepted = _epoch(goal["met_at"])
    for entry in view.get("timeline", []):
        moved = entry["kind"] == "moved" or (
            entry["kind"] == "step_completed" and entry.get("step_id") == GOAL_STEP
        )
        if moved and _epoch(entry["at"]) >= accepted - 0.001:
            return accepted, _epoch(entry["at"])
    return None


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 300:
        raise BenchError(f"{what}: {response.status_code} {response.text[:300]}")


def emails_sent(outbox_dir: Path) -> int:
    """Messages the SMTP sink has received, counted without parsing them."""
    path = outbox_path(outbox_dir)
    if not path.exists():
        return 0
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


async def bounded(
    items: Iterable[T], concurrency: int, work: Callable[[T], Awaitable[None]]
) -> None:
    """Run `work` over `items` with at most `concurrency` in flight (no task per item); the
    first failure cancels the rest."""
    iterator = iter(items)

    async def runner() -> None:
        for item in iterator:
            await work(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, concurrency)):
            group.create_task(runner())


@asynccontextmanager
async def timed() -> AsyncIterator[list[float]]:
    """`async with timed() as t:` then t[0] is the elapsed wall time in seconds."""
    holder = [0.0]
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder[0] = time.perf_counter() - started
