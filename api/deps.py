"""Dependencies: settings, the process's Temporal client, authentication.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread
pool, a thread hand-off per dependency per request (measured in docs/benchmarks.md)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.service import Goalflow
from goalflow.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_goalflow(request: Request) -> Goalflow:
    goalflow: Goalflow = request.app.state.goalflow
    return goalflow


_bearer = HTTPBearer(auto_error=False, description="one of GOALFLOW_API_KEYS")


async def require_api_key(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    keys = settings.api_key_list
    if not keys:
        return
    given = credentials.credentials.encode() if credentials else b""
    # Compare against every key in constant time, without stopping at the first match.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid API key (Authorization: Bearer KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[Settings, Depends(get_settings)]
GoalflowDep = Annotated[Goalflow, Depends(get_goalflow)]
