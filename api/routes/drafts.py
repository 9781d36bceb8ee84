"""Drafts and versions of an automation (docs/api.md, "Drafts and versions").

A draft is saved whatever it holds, so nothing typed is lost; it is checked every time it is
shown (`problems`) and published only when valid, exactly as `PUT /v1/automations/{id}` would
publish it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Path, Query, Response, status
from pydantic import BaseModel

from api import drafts
from api.deps import KnownAutomationId, ServiceDep, SettingsDep
from api.errors import Conflict, NotFound, TooLarge
from api.publishing import checked, problems, publish_definition, trigger_links
from api.schemas import PublishOut
from goalflow.core.checks import Problem
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from workflows.draft_messages import MAX_DRAFT_BYTES, Draft
from workflows.limits import json_bytes

router = APIRouter(tags=["drafts"])

NO_DRAFT: dict[int | str, dict[str, Any]] = {404: {"description": "the automation has no draft"}}


class DraftSaved(BaseModel):
    automation_id: str
    saved_at: datetime
    base_version: int | None
    problems: list[Problem]


class DraftOut(DraftSaved):
    definition: dict[str, Any]


class DraftDeleted(BaseModel):
    automation_id: str
    deleted: bool


class VersionOut(BaseModel):
    version: int
    published_at: datetime
    steps: int
    active: int


class VersionsOut(BaseModel):
    automation_id: str
    versions: list[VersionOut]


async def _problems(
    goalflow: GoalflowService, settings: Settings, definition: Any
) -> list[Problem]:
    _automation, _warnings, errors, checks = checked(
        definition, await trigger_links(goalflow), settings.outbound_policy
    )
    return problems(definition, errors, checks)


async def _view(
    goalflow: GoalflowService, settings: Settings, automation_id: str, draft: Draft
) -> DraftOut:
    return DraftOut(
        automation_id=automation_id,
        definition=draft.definition,
        saved_at=draft.saved_at,
        base_version=draft.base_version,
        problems=await _problems(goalflow, settings, draft.definition),
    )


async def _draft(goalflow: GoalflowService, automation_id: str) -> tuple[Draft, int]:
    found = await drafts.current(goalflow, automation_id)
    if found.draft is None:
        raise NotFound(f"automation {automation_id!r} has no draft")
    return found.draft, found.revision


@router.put(
    "/automations/{automation_id}/draft",
    response_model=DraftSaved,
    responses={422: {"description": "not a JSON object, or over 1 MiB"}},
)
async def save_draft(
    goalflow: ServiceDep,
    settings: SettingsDep,
    automation_id: KnownAutomationId,
    definition: dict[str, Any] = Body(
        ..., description="any JSON object of at most 1 MiB: a definition, finished or not"
    ),
) -> DraftSaved:
    """Save the draft, valid or not; `problems` says what stands between it and a publish
    (`level: "error"`) and what the checks found (`level: "warning"`)."""
    size = json_bytes(definition)
    if size > MAX_DRAFT_BYTES:
        raise TooLarge(
            ["body"], f"the draft is {size} bytes as JSON; at most {MAX_DRAFT_BYTES} (1 MiB)"
        )
    change = await drafts.save(goalflow, automation_id, definition)
    assert change.draft is not None
    view = await _view(goalflow, settings, automation_id, change.draft)
    return DraftSaved(**view.model_dump(exclude={"definition"}))


@router.get("/automations/{automation_id}/draft", response_model=DraftOut, responses=NO_DRAFT)
async def get_draft(
    goalflow: ServiceDep, settings: SettingsDep, automation_id: KnownAutomationId
) -> DraftOut:
    """The draft with its problems."""
    draft, _revision = await _draft(goalflow, automation_id)
    return await _view(goalflow, settings, automation_id, draft)


@router.delete(
    "/automations/{automation_id}/draft", response_model=DraftDeleted, responses=NO_DRAFT
)
async def delete_draft(goalflow: ServiceDep, automation_id: KnownAutomationId) -> DraftDeleted:
    """Throw the draft away (published versions stay)."""
    change = await drafts.discard(goalflow, automation_id)
    if not change.changed:
        raise NotFound(f"automation {automation_id!r} has no draft")
    return DraftDeleted(automation_id=automation_id, deleted=True)


@router.post(
    "/automations/{automation_id}/draft/publish",
    status_code=status.HTTP_201_CREATED,
    response_model=PublishOut,
    responses={
        200: {"model": PublishOut, "description": "the draft equals the latest version"},
        404: {"description": "the automation has no draft"},
        409: {"description": "a newer version was published since the draft was started"},
        422: {"description": "the draft is not valid: its errors"},
    },
)
async def publish_draft(
    goalflow: ServiceDep,
    settings: SettingsDep,
    response: Response,
    automation_id: KnownAutomationId,
    activate: bool = Query(
        True, description="false: publish without activating, as PUT /v1/automations/{id}"
    ),
    force: bool = Query(
        False, description="publish even when a newer version was published meanwhile"
    ),
) -> PublishOut:
    """Publish the draft exactly as `PUT /v1/automations/{automation_id}` would publish it as
    its body; the draft is then gone."""
    draft, revision = await _draft(goalflow, automation_id)
    latest = await drafts.latest_version(goalflow, automation_id)
    if latest is not None and latest != draft.base_version and not force:
        based = "no version" if draft.base_version is None else f"version {draft.base_version}"
        raise Conflict(
            f"version {latest} of automation {automation_id!r} was published after this draft "
            f"was started from {based}: compare them, then publish with ?force=true to replace "
            "it anyway"
        )
    answer, created = await publish_definition(
        goalflow, settings, automation_id, draft.definition, activate=activate
    )
    # A save made meanwhile is newer than what was published: it stays.
    await drafts.discard(goalflow, automation_id, if_revision=revision)
    if not created:
        response.status_code = status.HTTP_200_OK
    return answer


@router.get(
    "/automations/{automation_id}/versions",
    response_model=VersionsOut,
    responses={404: {"description": "unknown automation"}},
)
async def list_versions(goalflow: ServiceDep, automation_id: KnownAutomationId) -> VersionsOut:
    """Every published version, newest first, with its number of steps and its running
    enrollments (`active`, from visibility: may lag by a second)."""
    found = (await drafts.versions(goalflow, automation_id))[::-1]
    running = await drafts.running_per_version(goalflow, automation_id, [v.version for v in found])
    return VersionsOut(
        automation_id=automation_id,
        versions=[
            VersionOut(
                version=v.version,
                published_at=v.published_at,
                steps=len(v.definition.steps),
                active=running[v.version],
            )
            for v in found
        ],
    )


@router.post(
    "/automations/{automation_id}/versions/{n}/restore",
    response_model=DraftOut,
    responses={404: {"description": "unknown automation or version"}},
)
async def restore_version(
    goalflow: ServiceDep,
    settings: SettingsDep,
    automation_id: KnownAutomationId,
    n: int = Path(description="a published version number"),
) -> DraftOut:
    """The draft becomes that version's definition (replacing any draft), based on the latest
    version; the draft view."""
    if not 1 <= n <= 1_000_000:
        raise NotFound(f"automation {automation_id!r} has no version {n}")
    found = await goalflow.automation(automation_id, n)
    definition = found.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    change = await drafts.save(goalflow, automation_id, definition, replace=True)
    assert change.draft is not None
    return await _view(goalflow, settings, automation_id, change.draft)
