"""Dependencies: settings, the process's Temporal client, authentication, and the ids in paths.

All are `async def` although none awaits: FastAPI runs a plain `def` dependency in its thread
pool, a thread hand-off per dependency per request (measured in docs/benchmarks.md)."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.schemas import CONTACT_ID_PATTERN, JOB_ID_PATTERN
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import NotFound
from workflows.definition import STEP_ID_PATTERN
from workflows.messages import ENROLLMENT_PREFIX


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_goalflow(request: Request) -> GoalflowService:
    goalflow: GoalflowService = request.app.state.goalflow
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
ServiceDep = Annotated[GoalflowService, Depends(get_goalflow)]


# Reading or acting on a thing by id: an id that no such thing can have is unknown (404), like any
# other, rather than a 422 about its shape.


async def known_automation_id(
    automation_id: Annotated[str, Path(description="automation id")],
) -> str:
    if not re.fullmatch(STEP_ID_PATTERN, automation_id):
        raise NotFound(f"automation {automation_id!r} not found")
    return automation_id


async def known_contact_id(contact_id: Annotated[str, Path(description="contact id")]) -> str:
    if not re.fullmatch(CONTACT_ID_PATTERN, contact_id):
        raise NotFound(f"contact {contact_id!r} not found")
    return contact_id


async def known_enrollment_id(
    enrollment_id: Annotated[str, Path(description="enrollment id")],
) -> str:
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise NotFound(f"enrollment {enrollment_id!r} not found")
    return enrollment_id


async def known_job_id(job_id: Annotated[str, Path(description="job id")]) -> str:
    if not re.fullmatch(JOB_ID_PATTERN, job_id):
        raise NotFound(f"job {job_id!r} not found")
    return job_id


KnownAutomationId = Annotated[str, Depends(known_automation_id)]
KnownContactId = Annotated[str, Depends(known_contact_id)]
KnownEnrollmentId = Annotated[str, Depends(known_enrollment_id)]
KnownJobId = Annotated[str, Depends(known_job_id)]
