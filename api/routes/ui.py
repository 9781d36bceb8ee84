"""The dashboard at /ui: server-rendered pages over the same service layer as the JSON API.

Pages are HTML (Jinja2, autoescaped); counts refresh through small JSON fragments
(`…/counts.json`) that `static/dashboard.js` polls. Sessions, login and CSRF tokens are in
`api/dashboard_auth.py`, templates and rendering in `api/dashboard_pages.py`; what the pages
show is read by `api/dashboard.py`.
"""

from __future__ import annotations

import asyncio
import re
from html import escape
from typing import Any, get_args
from urllib.parse import quote as urlquote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature

from api import dashboard
from api.dashboard_auth import (
    CsrfRefused,
    LoginRequired,
    Session,
    check_csrf,
    clear_cookie,
    matching_key,
    new_session,
    read_form,
    read_session,
    record_logout,
    set_cookie,
)
from api.dashboard_pages import (
    UI_DIR,
    PageNotFound,
    as_page_not_found,
    dashboard_language,
    percent,
    render,
    user,
    version_param,
    visitor,
    when,
)
from api.deps import ServiceDep, SettingsDep
from api.explain import explain
from api.i18n import translator
from api.routes import builder, ui_contacts, ui_migrations
from api.schemas import CONTACT_ID_PATTERN
from api.timeline_words import TimelineWords
from goalflow.core.settings import Settings
from goalflow.core.tracking import signer as secret_signer
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import NotFound
from goalflow.service.visibility import BadPageToken, enrollment_query, list_enrollments
from workflows.definition import STEP_ID_PATTERN, GoalStep
from workflows.messages import ENROLLMENT_PREFIX, AutomationLifecycle, EnrollmentStatus

STATUSES: tuple[str, ...] = get_args(EnrollmentStatus)
PAGE_SIZE = 50


router = APIRouter(prefix="/ui", include_in_schema=False)


def _known_automation(automation_id: str) -> str:
    if not re.fullmatch(STEP_ID_PATTERN, automation_id):
        raise PageNotFound(f"automation {automation_id!r} not found")
    return automation_id


# --- automations -----------------------------------------------------------------------------


def _row_counts(rows: list[dashboard.AutomationRow]) -> dict[str, str]:
    counts: dict[str, str] = {}
    for row in rows:
        key = row.entry.automation_id
        for name, value in row.funnel.as_dict().items():
            counts[f"{key}:{name}"] = _shown(name, value)
    return counts


def _shown(name: str, value: int | float | None) -> str:
    if name == "conversion":
        return percent(value)
    return "—" if value is None else str(value)


@router.get("")
@router.get("/")
async def automations_page(
    request: Request, goalflow: ServiceDep, session: Session = Depends(user)
) -> Response:
    rows, unpublished = await asyncio.gather(
        dashboard.automation_rows(goalflow), builder.drafts_only(goalflow)
    )
    context = {"rows": rows, "drafts": unpublished}
    return render(request, "automations.html", session, context)


@router.get("/automations.json")
async def automations_counts(goalflow: ServiceDep, _: Session = Depends(user)) -> JSONResponse:
    rows = await dashboard.automation_rows(goalflow)
    return JSONResponse({"counts": _row_counts(rows)})


def _step_counts_json(
    funnel: dashboard.Funnel, steps: dict[str, dashboard.StepCount]
) -> dict[str, str]:
    counts = {f"funnel:{name}": _shown(name, v) for name, v in funnel.as_dict().items()}
    for step_id, count in steps.items():
        counts[f"step:{step_id}:here"] = str(count.here)
        counts[f"step:{step_id}:reached"] = _shown("reached", count.reached)
        if count.met is not None:
            counts[f"step:{step_id}:met"] = str(count.met)
    return counts


@router.get("/automations/{automation_id}")
async def automation_page(
    request: Request,
    automation_id: str,
    goalflow: ServiceDep,
    version: str | None = None,
    session: Session = Depends(user),
) -> Response:
    with as_page_not_found():
        shown = await dashboard.automation_page(
            goalflow, _known_automation(automation_id), version_param(version)
        )
    history, has_draft = await builder.version_rows(goalflow, automation_id)
    return render(
        request,
        "automation.html",
        session,
        {
            "automation_id": automation_id,
            "shown": shown,
            "found": shown.found,
            "versions": list(range(shown.latest_version, 0, -1)),
            "flow": dashboard.flow(shown.found.definition),
            "history": history,
            "has_draft": has_draft,
            "path_counts": dashboard.path_counts(shown.experiments),
        },
    )


@router.get("/automations/{automation_id}/counts.json")
async def automation_counts(
    automation_id: str,
    goalflow: ServiceDep,
    version: str | None = None,
    _: Session = Depends(user),
) -> JSONResponse:
    with as_page_not_found():
        found, funnel, counts = await dashboard.automation_counts(
            goalflow, _known_automation(automation_id), version_param(version)
        )
        paths = dashboard.path_counts(await dashboard.experiments(goalflow, found))
    shown = _step_counts_json(funnel, counts) | {key: str(n) for key, n in paths.items()}
    return JSONResponse({"counts": shown})


@router.post("/automations/{automation_id}/{action}")
async def change_state(
    request: Request,
    automation_id: str,
    action: str,
    goalflow: ServiceDep,
    session: Session = Depends(user),
) -> Response:
    """Pause or resume (R17 in docs/automations.md), from the automation's page."""
    check_csrf(session, await read_form(request))
    states: dict[str, AutomationLifecycle] = {"pause": "paused", "resume": "active"}
    if action not in states:
        raise PageNotFound(f"no action {action!r}")
    with as_page_not_found():
        await goalflow.set_state(_known_automation(automation_id), states[action])
    return RedirectResponse(f"/ui/automations/{urlquote(automation_id, safe='')}", 303)


# --- enrollments -----------------------------------------------------------------------------


@router.get("/enrollments")
async def enrollments_page(
    request: Request,
    goalflow: ServiceDep,
    settings: SettingsDep,
    automation_id: str = "",
    contact_id: str = "",
    status: str = "",
    page: str = "",
    session: Session = Depends(user),
) -> Response:
    problems = []
    if automation_id and not re.fullmatch(STEP_ID_PATTERN, automation_id):
        problems.append("problem.automation_id")
    if contact_id and not re.fullmatch(CONTACT_ID_PATTERN, contact_id):
        problems.append("problem.contact_id")
    if status and status not in STATUSES:
        problems.append("problem.status")
    items: list[Any] = []
    next_page = None
    if not problems:
        wanted: Any = status or None
        query = enrollment_query(automation_id or None, contact_id or None, wanted)
        signer = secret_signer(settings.secret, salt=f"goalflow-ui-enrollments:{query}")
        try:
            token = signer.unsign(page).decode() if page else None
            items, next_token = await list_enrollments(
                goalflow.client,
                automation_id=automation_id or None,
                contact_id=contact_id or None,
                status=wanted,
                page_size=PAGE_SIZE,
                page_token=token,
            )
        except (BadSignature, BadPageToken, ValueError):
            problems.append("problem.page_link")
        else:
            next_page = signer.sign(next_token).decode() if next_token else None
    return render(
        request,
        "enrollments.html",
        session,
        {
            "automation_id": automation_id,
            "contact_id": contact_id,
            "status": status,
            "statuses": STATUSES,
            "items": items,
            "next_page": next_page,
            "problems": problems,
        },
        status_code=400 if problems else 200,
    )


async def _enrollment(goalflow: ServiceDep, enrollment_id: str) -> Any:
    if not enrollment_id.startswith(ENROLLMENT_PREFIX):
        raise PageNotFound(f"enrollment {enrollment_id!r} not found")
    with as_page_not_found():
        return await goalflow.enrollment(enrollment_id)


def temporal_link(settings: Settings, workflow_id: str) -> str | None:
    if not settings.temporal_ui_url:
        return None
    base = settings.temporal_ui_url.rstrip("/")
    namespace = urlquote(settings.temporal_namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{urlquote(workflow_id, safe='')}"


@router.get("/enrollments/{enrollment_id}")
async def enrollment_page(
    request: Request,
    enrollment_id: str,
    goalflow: ServiceDep,
    settings: SettingsDep,
    session: Session = Depends(user),
) -> Response:
    view = await _enrollment(goalflow, enrollment_id)
    steps, contact = await dashboard.enrollment_details(goalflow, view)
    language, _ = dashboard_language(request)
    words = TimelineWords(translator(language), steps, contact, when)
    return render(
        request,
        "enrollment.html",
        session,
        {
            "view": view,
            "context_data": view.context,
            "temporal_url": temporal_link(settings, enrollment_id),
            "step_names": {step.id: step.name for step in steps.values() if step.name},
            # Each goal's kind and the matches each criterion needs, for its progress.
            "goal_needs": {
                step.id: (step.kind, [c.needed for c in step.criteria])
                for step in steps.values()
                if isinstance(step, GoalStep)
            },
            "timeline": [(entry, words.sentence(entry)) for entry in view.timeline],
            "why": await _why(goalflow, view.contact_id, view.automation_id, enrollment_id),
        },
    )


async def _why(
    goalflow: GoalflowService, contact_id: str, automation_id: str, enrollment_id: str
) -> dict[str, Any] | None:
    """The "Why?" section: explain's entries and this enrollment's goals with their near
    misses (None when the contact cannot be read)."""
    try:
        found = await explain(goalflow, contact_id, automation_id)
    except NotFound:
        return None
    goals = [g for g in found.goals if g.enrollment_id == enrollment_id]
    return {"entries": found.entries, "goals": goals}


@router.post("/enrollments/{enrollment_id}/cancel")
async def cancel_enrollment(
    request: Request,
    enrollment_id: str,
    goalflow: ServiceDep,
    session: Session = Depends(user),
) -> Response:
    check_csrf(session, await read_form(request))
    await _enrollment(goalflow, enrollment_id)
    await goalflow.cancel(enrollment_id)
    return RedirectResponse(f"/ui/enrollments/{urlquote(enrollment_id, safe='')}", 303)


# --- login -----------------------------------------------------------------------------------


def _safe_next(raw: str | None) -> str:
    """Where to go after logging in: a dashboard path, never another site."""
    if raw and raw.startswith("/ui") and "//" not in raw and "\\" not in raw:
        return raw
    return "/ui"


@router.get("/login")
async def login_page(
    request: Request,
    settings: SettingsDep,
    next: str = "/ui",
    session: Session = Depends(visitor),
) -> Response:
    if not settings.api_key_list:
        return RedirectResponse(_safe_next(next), 303)
    return render(request, "login.html", session, {"next": _safe_next(next), "error": None})


@router.post("/login")
async def login(
    request: Request, settings: SettingsDep, session: Session = Depends(visitor)
) -> Response:
    form = await read_form(request)
    check_csrf(session, form)
    target = _safe_next(form.get("next"))
    key = matching_key(settings, form.get("api_key", ""))
    if key is None:
        error = "login.wrong_key"
        context = {"next": target, "error": error}
        return render(request, "login.html", session, context, status_code=401)
    response = RedirectResponse(target, 303)
    # A fresh CSRF token with the login, so a token seen before it is worth nothing after.
    set_cookie(response, request, settings, new_session(key))
    return response


@router.post("/logout")
async def logout(
    request: Request, goalflow: ServiceDep, session: Session = Depends(visitor)
) -> Response:
    check_csrf(session, await read_form(request))
    # Revoked for every API process, not only forgotten by this browser (a copy of the cookie
    # is refused too): api/dashboard_auth.py.
    await record_logout(goalflow.client, goalflow.task_queue, session)
    response = RedirectResponse("/ui/login", 303)
    clear_cookie(response, request)
    return response


@router.get("/{rest:path}")
async def unknown_page(rest: str, _: Session = Depends(visitor)) -> Response:
    raise PageNotFound(f"no page at /ui/{rest}")


# --- wiring ----------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Mount the dashboard: static files, pages, and the answers to its own errors."""

    async def not_found(request: Request, err: Exception) -> Response:
        settings: Settings = request.app.state.settings
        session = (
            getattr(request.state, "new_session", None)
            or read_session(request, settings)
            or new_session()
        )
        return render(request, "not_found.html", session, {"message": str(err)}, 404)

    async def csrf_refused(request: Request, err: Exception) -> Response:
        language, _ = dashboard_language(request)
        t = translator(language)
        return HTMLResponse(
            f'<!doctype html><html lang="{language}"><title>{escape(t("refused.title"))}</title>'
            f"<h1>{escape(t('refused.title'))}</h1><p>{escape(t('refused.text'))} "
            f'<a href="/ui">{escape(t("refused.back"))}</a>.</p></html>',
            status_code=403,
        )

    async def login_required(request: Request, err: Exception) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"detail": "log in to the dashboard first"}, status_code=401)
        # The login form in place of the page (401: nothing without a key); it comes back here.
        settings: Settings = request.app.state.settings
        session = getattr(request.state, "new_session", None) or read_session(request, settings)
        page = request.url.path if request.method == "GET" else "/ui"
        context = {"next": _safe_next(page), "error": None}
        return render(request, "login.html", session or new_session(), context, 401)

    app.add_exception_handler(PageNotFound, not_found)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(LoginRequired, login_required)
    app.mount("/ui/static", StaticFiles(directory=UI_DIR / "static"), name="ui-static")
    # Before the pages: /ui/automations/new is not an automation's page.
    app.include_router(builder.router)
    # Before `router`, whose last route answers every other /ui path with the 404 page.
    app.include_router(ui_contacts.router)
    app.include_router(ui_migrations.router)
    app.include_router(router)
