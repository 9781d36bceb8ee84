"""How the dashboard renders: its Jinja2 environment (autoescaped), filters, the 404 error,
the session dependencies every page uses, the page's language (api/i18n), and `render`, which
also sets a new session's cookie and remembers a language chosen with `?lang=`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.dashboard_auth import (
    LoginRequired,
    Session,
    logged_in,
    logged_out,
    new_session,
    read_session,
    set_cookie,
)
from api.deps import SettingsDep
from api.i18n import DEFAULT, NAMES, Language, from_accept_language, language_of, translator
from goalflow.core.settings import Settings
from goalflow.service.errors import NotFound

UI_DIR = Path(__file__).resolve().parent / "ui"

_env = Environment(
    loader=FileSystemLoader(UI_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
# For a value placed in a URL path or query: every character outside the unreserved set is
# percent-encoded (ids may hold anything but whitespace and "/").
_env.filters["urlpart"] = lambda value: urlquote(str(value), safe="")


def when(value: datetime | str | None) -> str:
    """A moment as UTC to the second; ISO text (the outbox's) is read first."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = when
# JSON shown as text (autoescaped like any other), readable: no \u escapes.
_env.filters["json"] = lambda value, indent=None: json.dumps(
    value, ensure_ascii=False, indent=indent, default=str
)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


_env.filters["percent"] = percent
templates = Jinja2Templates(env=_env)


class PageNotFound(Exception):
    """Rendered as the dashboard's 404 page."""


def version_param(raw: str | None) -> int | None:
    """A version number from a page's URL or form: None when not given, the 404 page when it
    cannot be one."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise PageNotFound(f"no version {raw!r}")
    return int(raw)


@contextmanager
def as_page_not_found() -> Iterator[None]:
    """The service's `NotFound` as the dashboard's 404 page (not the API's JSON answer)."""
    try:
        yield
    except NotFound as err:
        raise PageNotFound(str(err)) from err


async def visitor(request: Request, settings: SettingsDep) -> Session:
    """The visitor's session, created when there is none (its cookie is set on the answer)."""
    session = read_session(request, settings)
    if session is None:
        session = new_session()
        request.state.new_session = session
    return session


async def user(
    request: Request, settings: SettingsDep, session: Session = Depends(visitor)
) -> Session:
    """A visitor allowed to see the dashboard: anyone when no keys are set, else logged in with
    a session that was not logged out (by this process or any other)."""
    if not logged_in(session, settings):
        raise LoginRequired(request.url.path)
    if settings.api_key_list and await logged_out(request.app.state.goalflow.client, session):
        raise LoginRequired(request.url.path)
    return session


# The dashboard's language, once chosen with `?lang=`: a year, for the dashboard's paths only.
LANGUAGE_COOKIE = "goalflow_lang"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def dashboard_language(request: Request) -> tuple[Language, bool]:
    """The page's language and whether `?lang=` chose it now (then the cookie remembers it):
    `?lang=`, else the cookie, else `Accept-Language`, else English."""
    asked = language_of(request.query_params.get("lang"))
    if asked is not None:
        return asked, True
    remembered = language_of(request.cookies.get(LANGUAGE_COOKIE))
    accepted = from_accept_language(request.headers.get("accept-language"))
    return remembered or accepted or DEFAULT, False


def language_links(request: Request) -> list[tuple[Language, str, str]]:
    """The language switch: each language's name and this page's address in it."""
    # The path as it was sent (Starlette's is the raw one), anything unsafe in a link encoded.
    path = urlquote(request.url.path, safe="/:@!$&'()*+,;=-._~%")
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return [
        (code, name, f"{path}?{urlencode([*query, ('lang', code)])}")
        for code, name in NAMES.items()
    ]


def remember_language(response: Response, request: Request, language: Language) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_AGE,
        path="/ui",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def render(
    request: Request,
    name: str,
    session: Session,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    settings: Settings = request.app.state.settings
    language, chosen = dashboard_language(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": language,
            "t": translator(language),
            "language_links": language_links(request),
            "csrf_token": session.csrf,
            "auth": bool(settings.api_key_list),
            "signed_in": session.key is not None,
            "dev": settings.dev_mode,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Vary"] = "Accept-Language, Cookie"
    if chosen:
        remember_language(response, request, language)
    fresh = getattr(request.state, "new_session", None)
    if fresh is not None:
        set_cookie(response, request, settings, fresh)
    return response
