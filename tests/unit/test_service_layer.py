"""The service layer's pieces that need no server: events grouped by contact and sent, and
Temporal's not-found turned into the domain's `NotFound`. (The API tests drive the rest against
a real Temporal; their 404/409 bodies check the mapping in `api/errors.py`.)"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.service import RPCError, RPCStatusCode

from goalflow.service.errors import NotFound, missing_as_not_found
from goalflow.service.events import contact_event, receipts_or_raise, send_by_contact
from workflows.events import ContactEvent
from workflows.messages import EventReceipt


class Recorder:
    """Sends by answering receipts; a contact in `down` fails; counts contacts in flight."""

    def __init__(self, down: frozenset[str] = frozenset()) -> None:
        self.down = down
        self.calls: list[tuple[str, list[str]]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, contact_id: str, events: list[ContactEvent]) -> list[EventReceipt]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let the other contacts start
            self.calls.append((contact_id, [e.id for e in events]))
            if contact_id in self.down:
                raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
            return [
                EventReceipt(event_id=e.id, contact_id=contact_id, duplicate=e.id.endswith("dup"))
                for e in events
            ]
        finally:
            self.in_flight -= 1


def events(*pairs: tuple[str, str]) -> list[ContactEvent]:
    return [contact_event(contact, "custom", {}, event_id=event_id) for contact, event_id in pairs]


async def test_each_contacts_events_go_in_one_call_in_order_and_answers_keep_the_input_order() -> (
    None
):
    batch = events(("ada", "a1"), ("bob", "b1"), ("ada", "a2dup"), ("cy", "c1"), ("bob", "b2"))
    recorder = Recorder()
    results = await send_by_contact(recorder.send, batch)
    assert sorted(recorder.calls) == [
        ("ada", ["a1", "a2dup"]),
        ("bob", ["b1", "b2"]),
        ("cy", ["c1"]),
    ]
    receipts = receipts_or_raise(results)
    assert [r.event_id for r in receipts] == ["a1", "b1", "a2dup", "c1", "b2"]
    assert [r.duplicate for r in receipts] == [False, False, True, False, False]


async def test_a_failing_contact_answers_its_error_for_each_of_its_events_only() -> None:
    batch = events(("ada", "a1"), ("bob", "b1"), ("ada", "a2"))
    results = await send_by_contact(Recorder(down=frozenset({"ada"})).send, batch)
    assert isinstance(results[0], RPCError) and results[0] is results[2]
    assert isinstance(results[1], EventReceipt) and results[1].event_id == "b1"
    with pytest.raises(RPCError):
        receipts_or_raise(results)


async def test_contacts_in_flight_are_bounded() -> None:
    batch = events(*[(f"c{n}", f"e{n}") for n in range(10)])
    recorder = Recorder()
    await send_by_contact(recorder.send, batch, in_flight=3)
    assert recorder.most_in_flight == 3
    assert len(recorder.calls) == 10


async def test_no_events_send_nothing() -> None:
    recorder = Recorder()
    assert await send_by_contact(recorder.send, []) == []
    assert recorder.calls == []


def test_temporal_not_found_becomes_not_found_and_other_errors_pass() -> None:
    with (
        pytest.raises(NotFound, match=r"^contact 'ada' not found$"),
        missing_as_not_found("contact 'ada' not found"),
    ):
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
    with pytest.raises(RPCError), missing_as_not_found("x"):
        raise RPCError("busy", RPCStatusCode.RESOURCE_EXHAUSTED, b"")
    with pytest.raises(NotFound), missing_as_not_found("x", also=(KeyError,)):
        raise KeyError("gone")
    with (
        pytest.raises(NotFound),
        missing_as_not_found(
            "x", statuses=(RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT)
        ),
    ):
        raise RPCError("bad id", RPCStatusCode.INVALID_ARGUMENT, b"")
    with missing_as_not_found("x"):
        pass
