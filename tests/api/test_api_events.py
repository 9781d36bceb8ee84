"""Events over HTTP: duplicates, errors, batches, and how batches are cut into updates."""

from __future__ import annotations

import asyncio
from typing import Any

from goalflow.service.events import chunked, contact_event, event_chunks
from tests.support.api_helpers import (
    TIMER_THEN_GOAL,
    contact,
    enrolled,
    locs,
    publish,
    send,
    until,
)
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# --- events ----------------------------------------------------------------------------------


async def test_events_duplicates_and_errors(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()
    event = {"id": "e-1", "contact_id": contact_id, "type": "custom", "data": {"name": "x"}}
    first = await http.post("/v1/events", json=event)
    assert (first.status_code, first.json()) == (
        202,
        {"event_id": "e-1", "contact_id": contact_id, "duplicate": False},
    )
    again = await http.post("/v1/events", json=event)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    # Sent concurrently, one id is still accepted once.
    racing = {**event, "id": "e-race"}
    answers = await asyncio.gather(*(http.post("/v1/events", json=racing) for _ in range(10)))
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
    # The id is per contact.
    other = await http.post("/v1/events", json={**event, "contact_id": new_id()})
    assert other.json()["duplicate"] is False
    generated = await send(
        http,
        contact_id,
        "appointment.status_changed",
        occurred_at="2026-01-02T03:04:05Z",
        data={"status": "confirmed"},
    )
    assert generated["event_id"] and generated["event_id"] != "e-1"

    cases: list[tuple[dict[str, Any], list[list[Any]]]] = [
        ({"contact_id": contact_id, "type": "email.exploded"}, [["body", "type"]]),
        ({"type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "a/b", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "a\u0000b", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": contact_id, "type": "custom", "colour": 1}, [["body", "colour"]]),
        ({"contact_id": contact_id, "type": "custom", "data": []}, [["body", "data"]]),
        ({"contact_id": contact_id, "type": "custom", "id": ""}, [["body", "id"]]),
        (
            {"contact_id": contact_id, "type": "custom", "occurred_at": "yesterday"},
            [["body", "occurred_at"]],
        ),
    ]
    for body, expected in cases:
        assert locs(await http.post("/v1/events", json=body)) == expected, body


async def test_event_batch(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    buyer, other = new_id(), new_id()
    enrollment_id = await enrolled(http, automation_id, buyer)
    await send(http, other, "custom", id="seen-before")

    events: list[Any] = [
        {"id": "b-1", "contact_id": buyer, "type": "custom", "data": {"name": "look"}},
        {"contact_id": buyer, "type": "not.a.type"},
        {"id": "b-1", "contact_id": buyer, "type": "custom"},  # repeated in the batch
        {"type": "custom"},
        "not an object",
        {"id": "seen-before", "contact_id": other, "type": "custom"},  # seen in an earlier call
        {"id": "b-2", "contact_id": buyer, "type": "custom", "data": {"name": "buy"}},
        {"contact_id": other, "type": "contact.updated", "data": {"fields": {"plan": "pro"}}},
    ]
    answer = await http.post("/v1/events/batch", json={"events": events})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (3, 2)
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert "type" in body["rejected"][0]["reason"]
    assert "contact_id" in body["rejected"][1]["reason"]
    assert (
        "dictionary" in body["rejected"][2]["reason"] or "object" in body["rejected"][2]["reason"]
    )

    done = await until(http, enrollment_id, status="completed")
    assert done["goals"][0]["event_id"] == "b-2"
    assert (await contact(http, other))["fields"] == {"plan": "pro"}

    empty = await http.post("/v1/events/batch", json={"events": []})
    assert empty.json() == {"accepted": 0, "duplicates": 0, "rejected": []}
    too_many = [{"contact_id": "c", "type": "custom"}] * 1001
    assert locs(await http.post("/v1/events/batch", json={"events": too_many})) == [
        ["body", "events"]
    ]
    assert locs(await http.post("/v1/events/batch", json={})) == [["body", "events"]]


async def test_event_batch_of_large_events_goes_in_several_updates_in_order(
    stack: Stack,
) -> None:
    http = stack.http
    buyer = new_id()
    # Three 300 KB events of one contact: more than one update's worth (EVENT_BATCH_BYTES).
    # Each sets the field `last`; applied in order, it ends at 2. The padding is beside the
    # fields, not in them: a profile keeps at most 256 KiB (docs/security.md, "Limits").
    padding = "x" * 300_000
    events: list[dict[str, Any]] = [
        {
            "id": f"big-{n}",
            "contact_id": buyer,
            "type": "contact.updated",
            "data": {"fields": {"last": n}, "padding": padding},
        }
        for n in range(3)
    ]
    as_sent = [contact_event(buyer, e["type"], e["data"], event_id=e["id"]) for e in events]
    chunks = event_chunks(as_sent)
    assert [[e.id for e in chunk] for chunk in chunks] == [["big-0"], ["big-1"], ["big-2"]]

    first = await http.post("/v1/events/batch", json={"events": events})
    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = await http.post("/v1/events/batch", json={"events": events})
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}

    async def fields() -> dict[str, Any]:
        found: dict[str, Any] = (await contact(http, buyer))["fields"]
        return found

    await assert_eventually(fields, lambda f: f.get("last") == 2, within=30, interval=0.2)


def test_chunked_cuts_by_bytes_and_by_count() -> None:
    sized = [("a", 4), ("b", 4), ("big", 50), ("c", 1), ("d", 1), ("e", 1)]
    assert chunked(sized, 10) == [["a", "b"], ["big"], ["c", "d", "e"]]
    assert chunked(sized, 10, max_items=2) == [["a", "b"], ["big"], ["c", "d"], ["e"]]
    assert chunked([], 10, max_items=2) == []


def test_event_chunks_keep_order_and_fill_up_to_the_limit() -> None:
    events = [
        contact_event("c", "custom", {"p": "x" * size}, event_id=f"e{n}")
        for n, size in enumerate([10, 10, 400, 10, 10])
    ]
    one = len(events[0].model_dump_json())
    chunks = event_chunks(events, 2 * one + 10)
    assert [[e.id for e in chunk] for chunk in chunks] == [["e0", "e1"], ["e2"], ["e3", "e4"]]
    assert event_chunks([], 100) == []
