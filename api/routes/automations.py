from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.attribution import remember_profile
from api.deps import KnownAutomationId, ServiceDep, SettingsDep
from api.schemas import (
    MAX_DEFINITION_BYTES,
    AutomationId,
    AutomationStateOut,
    EnrollmentCreated,
    EnrollmentIn,
    PublishOut,
    StepCounts,
    fits,
)
from goalflow.core.outbound import OutboundPolicy, literal_address_refusal
from workflows.definition import STEP_ID_PATTERN, Automation, WebhookStep
from workflows.messages import AutomationLifecycle, ContactProfile
from workflows.validation import parse_automation

router = APIRouter(tags=["automations"])

AutomationPath = Path(pattern=STEP_ID_PATTERN, description="automation id")


def _validation_error(err: ValidationError, body: Any, *prefix: str) -> RequestValidationError:
    return RequestValidationError(
        [{**e, "loc": (*prefix, *e["loc"])} for e in err.errors(include_url=False)], body=body
    )


def _refused_destinations(automation: Automation, policy: OutboundPolicy) -> list[dict[str, Any]]:
    """A webhook URL naming a non-public address outright is refused now rather than at every
    call (hostnames are checked when the call connects: goalflow/core/outbound.py)."""
    errors: list[dict[str, Any]] = []
    for i, step in enumerate(automation.steps):
        if isinstance(step, WebhookStep):
            reason = literal_address_refusal(step.url, policy)
            if reason is not None:
                loc = ("body", "steps", i, "url")
                errors.append(
                    {"type": "outbound_refused", "loc": loc, "msg": reason, "input": step.url}
                )
    return errors


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
    200 with the latest version."""
    links = {link.link_id for link in (await goalflow.catalog()).trigger_links}
    try:
        automation, warnings = parse_automation(definition, links)
    except ValidationError as err:
        raise _validation_error(err, definition, "body") from err
    refused = _refused_destinations(automation, settings.outbound_policy)
    if refused:
        raise RequestValidationError(refused, body=definition)
    try:
        # Enrollments carry the definition in Temporal payloads (2 MB at most).
        fits(automation.model_dump(by_alias=True), MAX_DEFINITION_BYTES, "the definition")
    except ValueError as err:
        raise RequestValidationError(
            [{"type": "too_large", "loc": ("body",), "msg": str(err), "input": None}]
        ) from err
    result = await goalflow.publish(automation_id, automation, activate=activate)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return PublishOut(
        automation_id=automation_id, version=result.version, state=result.state, warnings=warnings
    )


@router.get("/automations")
async def list_automations(goalflow: ServiceDep) -> dict[str, Any]:
    """Every automation with its latest version and state."""
    catalog = await goalflow.catalog()
    return {
        "automations": [
            entry.model_dump(mode="json", include=LISTED) for entry in catalog.automations
        ]
    }


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
