"""The dashboard's "Move running enrollments" (R19 in docs/automations.md): from an older version
of an automation to another, the plan per step (where each step's enrollments go, how many rest
there now, the steps with nowhere to go), a confirm that starts the durable migration job, and
the job's progress. The same plan and job as `POST /v1/automations/{id}/migrations`."""

from __future__ import annotations

import re
from typing import Any, get_args
from urllib.parse import quote as urlquote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from api.dashboard_auth import Session, check_csrf, read_form
from api.dashboard_pages import PageNotFound, as_page_not_found, render, user, version_param
from api.deps import ServiceDep
from api.migrations import MigrationPlan, Migrations, MigrationUnavailable, require_running
from api.schemas import JOB_ID_PATTERN
from goalflow.service.contacts import GoalflowService
from workflows.migration import Unmapped

router = APIRouter(prefix="/ui", include_in_schema=False)

UNMAPPED: tuple[str, ...] = get_args(Unmapped)


def _problems(err: RequestValidationError) -> list[str]:
    return [str(problem.get("msg", "")) for problem in err.errors()]


async def _plan(
    goalflow: GoalflowService, automation_id: str, from_version: int, to_version: int | None
) -> tuple[MigrationPlan | None, list[str]]:
    try:
        with as_page_not_found():
            planned = await Migrations(goalflow).plan(automation_id, from_version, to_version, {})
    except RequestValidationError as err:
        return None, _problems(err)
    return planned[0], []


@router.get("/automations/{automation_id}/migrate")
async def migrate_page(
    request: Request,
    automation_id: str,
    goalflow: ServiceDep,
    from_version: str | None = None,
    to_version: str | None = None,
    session: Session = Depends(user),
) -> Response:
    """The plan of moving `from_version`'s running enrollments, and the confirm."""
    start = version_param(from_version)
    if start is None:
        raise PageNotFound("say which version to move from (?from_version=N)")
    plan, problems = await _plan(goalflow, automation_id, start, version_param(to_version))
    return _render_plan(request, session, automation_id, start, plan, problems)


def _render_plan(
    request: Request,
    session: Session,
    automation_id: str,
    from_version: int,
    plan: MigrationPlan | None,
    problems: list[str],
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "automation_id": automation_id,
        "from_version": from_version,
        "plan": plan,
        "problems": problems,
        "unmapped_choices": UNMAPPED,
    }
    return render(request, "migrate.html", session, context, status_code)


@router.post("/automations/{automation_id}/migrate")
async def start_migration(
    request: Request, automation_id: str, goalflow: ServiceDep, session: Session = Depends(user)
) -> Response:
    """Confirmed: the durable job starts; its progress page follows."""
    form = await read_form(request)
    check_csrf(session, form)
    start = version_param(form.get("from_version"))
    if start is None:
        raise PageNotFound("say which version to move from")
    to_version = version_param(form.get("to_version"))
    unmapped = form.get("unmapped", "stay")
    if unmapped not in UNMAPPED:
        raise PageNotFound(f"no choice {unmapped!r} for steps with nowhere to go")
    migrations = Migrations(goalflow)
    try:
        with as_page_not_found():
            plan, definition, step_map = await migrations.plan(automation_id, start, to_version, {})
            require_running(plan, start)
            migration_id = await migrations.start(
                automation_id,
                plan,
                definition,
                step_map,
                "end" if unmapped == "end" else "stay",
            )
    except RequestValidationError as err:
        shown, _ = await _plan(goalflow, automation_id, start, to_version)
        return _render_plan(request, session, automation_id, start, shown, _problems(err), 422)
    return RedirectResponse(f"/ui/migrations/{urlquote(migration_id, safe='')}", 303)


@router.get("/migrations/{migration_id}")
async def migration_page(
    request: Request, migration_id: str, goalflow: ServiceDep, session: Session = Depends(user)
) -> Response:
    """A migration's progress; the page reloads itself every 2 s while the job runs."""
    if not re.fullmatch(JOB_ID_PATTERN, migration_id):
        raise PageNotFound(f"no migration {migration_id!r}")
    problems: list[str] = []
    view = None
    try:
        with as_page_not_found():
            view = await Migrations(goalflow).view(migration_id)
    except MigrationUnavailable as err:
        problems.append(str(err))
    context = {"migration_id": migration_id, "view": view, "problems": problems}
    return render(request, "migration.html", session, context)
