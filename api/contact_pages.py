"""The small HTML pages a contact opens from an email (unsubscribe, its confirmation, a link
that is gone or not valid), in the contact's language: its `locale` profile field, else what its
browser asks for (`Accept-Language`), else English (api/i18n).

One inline style, allowed by the pages' Content Security Policy through its hash; no script; no
framing (api/middleware.py sets the same framing headers on every /t/ answer)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from html import escape
from typing import Literal

from fastapi import Request
from fastapi.responses import HTMLResponse
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from api.i18n import Language, contact_language, from_accept_language, translator
from goalflow.service.contacts import GoalflowService
from goalflow.service.errors import NotFound

# Every answer depends on the request being seen: never served from a cache.
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}
PAGE_STYLE = "body{font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em}"
_STYLE_HASH = base64.b64encode(hashlib.sha256(PAGE_STYLE.encode()).digest()).decode()
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # The page's words depend on the browser's languages when the contact has no locale.
    "Vary": "Accept-Language",
}
# How long a page waits for the contact's profile before it falls back to the browser's language.
PROFILE_WAIT_SECONDS = 2.0

PageKind = Literal["confirm", "done", "gone", "bad"]


async def language_for(goalflow: GoalflowService, contact_id: str, request: Request) -> Language:
    """The contact's page language: its `locale`, else Accept-Language, else English."""
    locale: object = None
    try:
        view = await asyncio.wait_for(goalflow.contact(contact_id), PROFILE_WAIT_SECONDS)
    except (NotFound, RPCError, WorkflowQueryFailedError, TimeoutError):
        view = None  # the page still shows, in the browser's language
    if view is not None:
        locale = view.fields.get("locale")
    return contact_language(locale, request.headers.get("accept-language"))


def browser_language(request: Request) -> Language:
    """For a page with no contact (a link that is not valid): Accept-Language, else English."""
    return from_accept_language(request.headers.get("accept-language")) or "en"


def contact_page(
    language: Language, kind: PageKind, action: str | None = None, status_code: int = 200
) -> HTMLResponse:
    """One of the contact's pages; `action` is where the confirmation's form posts."""
    t = translator(language)

    def say(key: str) -> str:
        return escape(t(f"contact_page.{kind}_{key}"))

    body = f"<h1>{say('heading')}</h1>\n"
    if kind in ("confirm", "done", "bad"):
        body += f"<p>{say('text')}</p>\n"
    if kind == "confirm":
        assert action is not None
        body += (
            f'<form method="post" action="{escape(action, quote=True)}">\n'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">\n'
            f'<button type="submit">{say("button")}</button>\n</form>\n'
        )
    robots = '<meta name="robots" content="noindex">\n' if kind == "confirm" else ""
    page = (
        f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{PAGE_STYLE}</style>\n{robots}<title>{say('title')}</title></head>\n"
        f"<body>\n{body}</body></html>\n"
    )
    return HTMLResponse(page, status_code=status_code, headers=PAGE_HEADERS)
