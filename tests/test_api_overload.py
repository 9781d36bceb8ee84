"""When Temporal does not answer an update in time, the API says 503 (retry), never 500."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from api.deps import get_goalflow
from api.main import create_app
from goalflow.settings import Settings


class _TimingOut:
    async def send_event(self, *args: Any, **kwargs: Any) -> Any:
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
