"""When Temporal does not answer an update in time, the API says 503 (retry), never 500."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from api.deps import get_goalflow
from api.main import create_app
from goalflow.core.settings import Settings
from workflows.events import ContactEvent
from workflows.messages import EventReceipt


class _TimingOut:
    async def send_event(self, *args: Any, **kwargs: Any) -> Any:
        raise WorkflowUpdateRPCTimeoutOrCancelledError()

    async def send_events(self, *args: Any, **kwargs: Any) -> Any:
        raise WorkflowUpdateRPCTimeoutOrCancelledError()


async def test_update_timeout_is_503_with_retry_after() -> None:
    app = create_app(Settings())
    app.dependency_overrides[get_goalflow] = _TimingOut
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        single = await http.post("/v1/events", json={"contact_id": "c1", "type": "custom"})
        batch = await http.post(
            "/v1/events/batch", json={"events": [{"contact_id": "c1", "type": "custom"}]}
        )
    for answer in (single, batch):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
        assert "retry" in answer.json()["detail"]


class _OneContactDown:
    """Temporal answers for every contact but `down` (as when one update times out)."""

    def __init__(self) -> None:
        self.sent: dict[str, list[str]] = {}

    async def send_events(self, contact_id: str, events: list[ContactEvent]) -> Any:
        if contact_id == "down":
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        self.sent[contact_id] = [e.id for e in events]
        return [EventReceipt(event_id=e.id, contact_id=contact_id, duplicate=False) for e in events]


async def test_batch_lists_the_events_temporal_did_not_take_as_rejected() -> None:
    app = create_app(Settings())
    fake = _OneContactDown()
    app.dependency_overrides[get_goalflow] = lambda: fake
    events = [
        {"id": "a1", "contact_id": "up", "type": "custom"},
        {"id": "d1", "contact_id": "down", "type": "custom"},
        {"contact_id": "up", "type": "no.such.type"},
        {"id": "a2", "contact_id": "up", "type": "custom"},
        {"id": "d2", "contact_id": "down", "type": "custom"},
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        answer = await http.post("/v1/events/batch", json={"events": events})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [r["index"] for r in body["rejected"]] == [1, 2, 4]
    assert "retry" in body["rejected"][0]["reason"] and "in time" in body["rejected"][0]["reason"]
    assert "type" in body["rejected"][1]["reason"]
    assert fake.sent == {"up": ["a1", "a2"]}
