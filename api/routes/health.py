from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import ServiceDep
from api.schemas import Status
from goalflow.core.namespace import NamespaceProbe

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process is up."""
    return Status(status="ok")


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(status_code=503, content={"status": "unavailable", "detail": detail})


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readyz(request: Request, goalflow: ServiceDep) -> Status | JSONResponse:
    """Temporal answers and its namespace has goalflow's search attributes; 503 otherwise."""
    client = goalflow.client
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except Exception as err:  # any failure to reach Temporal means not ready
        return _unavailable(f"Temporal is unreachable: {err}")
    probe = getattr(request.app.state, "namespace_probe", None)
    if probe is None or probe.client is not client:
        probe = request.app.state.namespace_probe = NamespaceProbe(client)
    try:
        report = await asyncio.wait_for(probe.report(), timeout=3)
    except Exception as err:  # as above: the listing did not come back
        return _unavailable(f"Temporal did not list the namespace's search attributes: {err}")
    if not report.ready:
        return _unavailable(report.problem())
    return Status(status="ok")
