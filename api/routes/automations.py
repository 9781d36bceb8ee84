from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from api.attribution import remember_profile
from api.deps import KnownAutomationId, ServiceDep, SettingsDep
from api.publishing import publish_definition
from api.schemas import (
    AutomationId,
    AutomationStateOut,
    EnrollmentCreated,
    EnrollmentIn,
    PublishOut,
    StepCounts,
)
from workflows.definition import STEP_ID_PATTERN, Automation
from workflows.messages import AutomationLifecycle, ContactProfile

router = APIRouter(tags=["automations"])

AutomationPath = Path(pattern=STEP_ID_PATTERN, description="automation id")


@router.put(
    "/automations/{automation_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=PublishOut,
    responses={200: {"model": PublishOut, "description": "the body equals the latest version"}},
)
async def publish_automation(
    goalflow: ServiceDep,
    settings: SettingsDep,
    response: Response,
    automation_id: AutomationId = AutomationPath,
    definition: dict[str, Any] = Body(
        ..., description="an automation definition (see GET /v1/schema/automation)"
    ),
    activate: bool = Query(
        True,
        description="false: publish without activating (a new automation starts paused, an "
        "existing one keeps its state)",
    ),
) -> PublishOut:
    """Publish a new version (1, 2, …) and activate the automation; an identical body answers
    200 with the latest version. `problems`: the checks' warnings (docs/automations.md,
    "Checks"), which never block a publish."""
    answer, created = await publish_definition(
        goalflow, settings, automation_id, definition, activate=activate
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return answer


@router.get("/automations")
async def list_automations(goalflow: ServiceDep) -> dict[str, Any]:
    """Every automation with its latest version and state, and whether it has a draft; an
    automation never published that has a draft is listed with `"state": "draft"` and
    `"latest_version": null`."""
    catalog = await goalflow.catalog()
    drafts = {entry.automation_id: entry for entry in catalog.drafts}
    listed = [
        {
            **entry.model_dump(mode="json", include=LISTED),
            "has_draft": entry.automation_id in drafts,
        }
        for entry in catalog.automations
    ]
    published = {entry.automation_id for entry in catalog.automations}
    listed += [
        {
            "automation_id": draft.automation_id,
            "name": draft.name,
            "latest_version": None,
            "updated_at": draft.saved_at.isoformat() if draft.saved_at else None,
            "state": "draft",
            "has_draft": True,
        }
        for draft in catalog.drafts
        if draft.automation_id not in published
    ]
    return {"automations": sorted(listed, key=lambda a: a["automation_id"])}


LISTED = {"automation_id", "name", "latest_version", "updated_at", "state"}


@router.post(
    "/automations/{automation_id}/pause",
    response_model=AutomationStateOut,
    responses={404: {"description": "unknown automation"}},
)
async def pause_automation(
    goalflow: ServiceDep, automation_id: KnownAutomationId
) -> AutomationStateOut:
    """The automation enrolls nobody (409 to enroll requests, bulk rows rejected, triggers
    ignored) until resumed with `POST /v1/automations/{automation_id}/resume`; its running
    enrollments go on (R17 in docs/automations.md)."""
    return await _set_state(goalflow, automation_id, "paused")


@router.post(
    "/automations/{automation_id}/resume",
    response_model=AutomationStateOut,
    responses={404: {"description": "unknown automation"}},
)
async def resume_automation(
    goalflow: ServiceDep, automation_id: KnownAutomationId
) -> AutomationStateOut:
    """Active again: enroll requests and triggers enroll."""
    return await _set_state(goalflow, automation_id, "active")


async def _set_state(
    goalflow: ServiceDep, automation_id: str, state: AutomationLifecycle
) -> AutomationStateOut:
    status = await goalflow.set_state(automation_id, state)
    return AutomationStateOut(automation_id=automation_id, state=status.state)


@router.get(
    "/automations/{automation_id}/steps",
    response_model=StepCounts,
    responses={404: {"description": "unknown automation or version"}},
)
async def automation_steps(
    goalflow: ServiceDep,
    automation_id: KnownAutomationId,
    version: int | None = Query(None, ge=1),
) -> StepCounts:
    """Per step of a version (default: the latest): enrollments of that version at the step now
    (`here`), that ever reached it (`reached`), and for goal steps how many met it (`met`).
    From Temporal visibility: may lag the enrollments by a second."""
    return await goalflow.steps(automation_id, version)


@router.get(
    "/automations/{automation_id}",
    responses={404: {"description": "unknown automation or version"}},
)
async def get_automation(
    goalflow: ServiceDep,
    automation_id: KnownAutomationId,
    version: int | None = Query(None, ge=1),
) -> dict[str, Any]:
    """The definition (latest, or `?version=N`) with `automation_id` and `version`."""
    found = await goalflow.automation(automation_id, version)
    return {
        **found.definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        "automation_id": automation_id,
        "version": found.version,
        "published_at": found.published_at.isoformat(),
        "state": found.state,
    }


@router.post(
    "/automations/{automation_id}/enrollments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrollmentCreated,
    responses={
        200: {"model": EnrollmentCreated, "description": "already active: that enrollment"},
        404: {"description": "unknown automation or version"},
        409: {"description": "re-entry refused, or the automation is paused"},
    },
)
async def enroll(
    goalflow: ServiceDep,
    settings: SettingsDep,
    body: EnrollmentIn,
    response: Response,
    automation_id: KnownAutomationId,
) -> EnrollmentCreated:
    """Enroll a contact: the active enrollment if there is one; 409 when re-entry is not
    allowed (R13 in docs/automations.md)."""
    contact = body.contact
    result = await goalflow.enroll(
        automation_id, ContactProfile(**contact.model_dump()), body.version, body.context
    )
    await remember_profile(goalflow, settings.secret, contact.id, contact.email, contact.phone)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return EnrollmentCreated(**result.model_dump())


@router.get("/schema/automation", tags=["schema"])
async def automation_schema() -> dict[str, Any]:
    """The JSON Schema of an automation definition."""
    return Automation.model_json_schema(by_alias=True)
