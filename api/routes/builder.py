"""The builder in the dashboard: `/ui/automations/new` and `/ui/automations/{id}/edit` build or
change an automation with forms (api/ui/static/builder.js), saving to its draft and publishing
it through the same code as the JSON API (api/drafts.py, api/publishing.py); and the versions on
an automation's page, each restorable as the draft.

The page's script talks to two JSON routes of its own, under the dashboard's session and a CSRF
token sent in the `X-CSRF-Token` header.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any, get_args
from urllib.parse import quote as urlquote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from api import drafts
from api.dashboard_auth import Session, check_csrf, read_form
from api.dashboard_pages import PageNotFound, dashboard_language, render, user
from api.deps import ServiceDep, SettingsDep
from api.errors import NotFound
from api.i18n import CATALOGUES, Language, translator
from api.publishing import checked, problems, publish_definition, trigger_links
from goalflow.core.checks import Problem
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from workflows.definition import APPOINTMENT_STATUSES, STEP_ID_PATTERN, WEEKDAYS, EventType
from workflows.draft_messages import MAX_DRAFT_BYTES
from workflows.limits import json_bytes
from workflows.messages import AutomationVersion

router = APIRouter(prefix="/ui", include_in_schema=False)

STEP_TYPES = (
    "send_email",
    "send_sms",
    "wait",
    "add_tag",
    "remove_tag",
    "update_contact",
    "webhook",
    "if_else",
    "goal",
    "split",
    "end",
)
EVENTS: tuple[str, ...] = get_args(EventType)
# Events a goal can listen for (triggers take these and contact.created / contact.updated).
GOAL_EVENTS = tuple(e for e in EVENTS if e not in ("contact.created", "contact.updated"))
NEW_DEFINITION: dict[str, Any] = {"name": "", "settings": {}, "triggers": [], "steps": []}
BUILDER_PREFIX = "builder."


def builder_words(language: Language) -> dict[str, str]:
    """The builder's words in `language`, without their `builder.` prefix: what its script
    (api/ui/static/builder.js) shows, sent with the page's data."""
    return {
        key.removeprefix(BUILDER_PREFIX): message
        for key, message in CATALOGUES[language].items()
        if key.startswith(BUILDER_PREFIX)
    }


def _automation_id(raw: str) -> str:
    if not re.fullmatch(STEP_ID_PATTERN, raw):
        raise PageNotFound(f"automation {raw!r} not found")
    return raw


async def _problems(
    goalflow: GoalflowService, settings: Settings, definition: Any
) -> list[Problem]:
    _automation, _warnings, errors, checks = checked(
        definition, await trigger_links(goalflow), settings.outbound_policy
    )
    return problems(definition, errors, checks)


def _page(
    request: Request,
    session: Session,
    automation_id: str | None,
    definition: dict[str, Any],
    found: list[Problem],
    links: set[str],
) -> Response:
    language, _chosen = dashboard_language(request)
    t = translator(language)
    data = {
        "automation_id": automation_id,
        "definition": definition,
        "problems": [p.model_dump() for p in found],
        "step_types": STEP_TYPES,
        "goal_events": GOAL_EVENTS,
        "trigger_events": EVENTS,
        "statuses": APPOINTMENT_STATUSES,
        "weekdays": WEEKDAYS,
        "trigger_links": sorted(links),
        "text": builder_words(language),
    }
    title = t("builder.edit_title") if automation_id else t("builder.new_title")
    context = {"data": data, "title": title, "automation_id": automation_id}
    return render(request, "builder.html", session, context)


@router.get("/automations/new")
async def new_automation(
    request: Request, goalflow: ServiceDep, session: Session = Depends(user)
) -> Response:
    links = await trigger_links(goalflow)
    return _page(request, session, None, NEW_DEFINITION, [], links)


@router.get("/automations/{automation_id}/edit")
async def edit_automation(
    request: Request,
    automation_id: str,
    goalflow: ServiceDep,
    settings: SettingsDep,
    session: Session = Depends(user),
) -> Response:
    """The draft when there is one, else the latest version."""
    automation_id = _automation_id(automation_id)
    draft = (await drafts.current(goalflow, automation_id)).draft
    if draft is not None:
        definition = draft.definition
    else:
        try:
            found = await goalflow.automation(automation_id)
        except NotFound as err:
            raise PageNotFound(str(err)) from err
        definition = found.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    found_problems = await _problems(goalflow, settings, definition)
    links = await trigger_links(goalflow)
    return _page(request, session, automation_id, definition, found_problems, links)


class BuilderSave(BaseModel):
    definition: dict[str, Any]
    # Saved from the new-automation page: refused when the id is taken.
    new: bool = False
    # Publish after saving; `force` even when a newer version came since the draft started.
    publish: bool = False
    force: bool = False


class BuilderAnswer(BaseModel):
    saved: bool
    problems: list[Problem] = Field(default_factory=list)
    message: str | None = None
    # Set when the publish was refused because a newer version was published meanwhile.
    stale: bool = False
    # Where to go once published.
    location: str | None = None


def _answer(answer: BuilderAnswer, status_code: int = 200) -> JSONResponse:
    return JSONResponse(answer.model_dump(mode="json"), status_code=status_code)


@router.post("/automations/{automation_id}/builder.json")
async def builder_save(
    request: Request,
    automation_id: str,
    goalflow: ServiceDep,
    settings: SettingsDep,
    session: Session = Depends(user),
) -> Response:
    """Save the draft ("Save draft", and every change), and publish it when asked ("Save and
    activate"): the answer lists the draft's problems."""
    check_csrf(session, {"csrf_token": request.headers.get("x-csrf-token", "")})
    t = translator(dashboard_language(request)[0])
    if not re.fullmatch(STEP_ID_PATTERN, automation_id):
        return _answer(BuilderAnswer(saved=False, message=t("builder.automation_id_hint")), 422)
    try:
        body = BuilderSave.model_validate_json(await request.body())
    except ValidationError as err:
        return _answer(BuilderAnswer(saved=False, message=str(err)), 422)
    definition = body.definition
    if json_bytes(definition) > MAX_DRAFT_BYTES:
        return _answer(BuilderAnswer(saved=False, message=t("builder.draft_too_large")), 422)
    if body.new:
        existing = await drafts.current(goalflow, automation_id)
        published = await drafts.latest_version(goalflow, automation_id)
        if existing.draft is not None or published is not None:
            message = t("builder.id_taken", id=automation_id)
            return _answer(BuilderAnswer(saved=False, message=message), 409)
    change = await drafts.save(goalflow, automation_id, definition)
    found = await _problems(goalflow, settings, definition)
    if not body.publish or any(p.level == "error" for p in found):
        return _answer(BuilderAnswer(saved=True, problems=found))
    assert change.draft is not None
    latest = await drafts.latest_version(goalflow, automation_id)
    if latest is not None and latest != change.draft.base_version and not body.force:
        message = t("builder.published_meanwhile", version=latest)
        return _answer(BuilderAnswer(saved=True, problems=found, message=message, stale=True))
    await publish_definition(goalflow, settings, automation_id, definition, activate=True)
    await drafts.discard(goalflow, automation_id, if_revision=change.revision)
    location = f"/ui/automations/{urlquote(automation_id, safe='')}"
    return _answer(BuilderAnswer(saved=True, problems=found, location=location))


@router.post("/automations/{automation_id}/versions/{version}/restore")
async def restore_version(
    request: Request,
    automation_id: str,
    version: str,
    goalflow: ServiceDep,
    session: Session = Depends(user),
) -> Response:
    """Restore as draft, from the automation's page: then edit it."""
    check_csrf(session, await read_form(request))
    automation_id = _automation_id(automation_id)
    if not version.isdigit() or not 1 <= int(version) <= 1_000_000:
        raise PageNotFound(f"no version {version!r}")
    try:
        found = await goalflow.automation(automation_id, int(version))
    except NotFound as err:
        raise PageNotFound(str(err)) from err
    definition = found.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    await drafts.save(goalflow, automation_id, definition, replace=True)
    return RedirectResponse(f"/ui/automations/{urlquote(automation_id, safe='')}/edit", 303)


# --- versions on the automation's page -------------------------------------------------------


class VersionRow(BaseModel):
    version: int
    published_at: Any
    steps: int
    running: int
    # The unified diff of its definition against the version before (None: the first).
    diff: list[str] | None


def _as_lines(found: AutomationVersion) -> list[str]:
    dumped = found.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(dumped, indent=2, ensure_ascii=False).splitlines()


async def version_rows(
    goalflow: GoalflowService, automation_id: str
) -> tuple[list[VersionRow], bool]:
    """The versions, newest first, each with its diff against the one before; and whether the
    automation has a draft."""
    found = await drafts.versions(goalflow, automation_id)
    running = await drafts.running_per_version(goalflow, automation_id, [v.version for v in found])
    rows = []
    for i, version in enumerate(found):
        diff = None
        if i > 0:
            diff = list(
                difflib.unified_diff(
                    _as_lines(found[i - 1]),
                    _as_lines(version),
                    f"v{found[i - 1].version}",
                    f"v{version.version}",
                    lineterm="",
                )
            )
        rows.append(
            VersionRow(
                version=version.version,
                published_at=version.published_at,
                steps=len(version.definition.steps),
                running=running[version.version],
                diff=diff,
            )
        )
    has_draft = (await drafts.current(goalflow, automation_id)).draft is not None
    return rows[::-1], has_draft


async def drafts_only(goalflow: GoalflowService) -> list[Any]:
    """Drafts of automations never published, for the list of automations."""
    catalog = await goalflow.catalog()
    published = {entry.automation_id for entry in catalog.automations}
    return [d for d in catalog.drafts if d.automation_id not in published]
