from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import GoalflowDep
from api.schemas import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process is up."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readyz(goalflow: GoalflowDep) -> Status | JSONResponse:
    """Temporal answers; 503 otherwise."""
    try:
        await asyncio.wait_for(goalflow.client.service_client.check_health(), timeout=3)
    except Exception as err:  # any failure to reach Temporal means not ready
        return JSONResponse(
            status_code=503,
            content={"status": "unavailable", "detail": f"Temporal is unreachable: {err}"},
        )
    return Status(status="ok")
