"""Tracking endpoints: where an email's links, open pixel and unsubscribe link come back.

Open (no API key, not under /v1): the HMAC-signed token is the credential. A token that does not
verify is a 404 and no event. The first request of a link (per kind) in a minute is recorded as
an event, durably, before the answer goes out, with a fresh event id; repeats within the minute
get the same answer and record nothing (api/recent_links.py), so a bot replaying a click costs no
Temporal work.
"""

from __future__ import annotations

import base64
import uuid
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import metrics
from api.contact_pages import NO_STORE, browser_language, contact_page, language_for
from api.deps import ServiceDep, SettingsDep
from api.recent_links import PENDING, RecentLinks
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from goalflow.service.contacts import GoalflowService

router = APIRouter(prefix="/t", tags=["tracking"])

# The smallest transparent GIF: 1×1, one colour.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@lru_cache(maxsize=8)
def _tracker(secret: str, public_url: str) -> Tracker:
    return Tracker(secret, public_url)


async def get_tracker(settings: SettingsDep) -> Tracker:
    return _tracker(settings.secret, settings.public_url)


TrackerDep = Annotated[Tracker, Depends(get_tracker)]
UNKNOWN_LINK: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "a token that is not genuine (forged, truncated, another kind): no "
        "event, and a page saying the link is not valid, in the browser's language"
    }
}


class UnknownLink(Exception):
    """A token that does not verify: the "link not valid" page, 404."""


async def get_recent_links(request: Request) -> RecentLinks:
    recent: RecentLinks = request.app.state.recent_links
    return recent


RecentDep = Annotated[RecentLinks, Depends(get_recent_links)]


def _claim(recent: RecentLinks, kind: TrackingKind, token: str) -> tuple[bool, Any]:
    """Whether this request is the first of the link's minute (and records the event); for a
    repeat, what the first one answered."""
    first, kept = recent.claim(kind, token)
    metrics.TRACKING.labels(kind=kind.name.lower(), result="recorded" if first else "repeat").inc()
    return first, kept


def _verified(tracker: Tracker, kind: TrackingKind, token: str) -> TrackedTarget:
    target = tracker.read(kind, token)
    if target is None:
        raise UnknownLink()
    return target


def _email_data(target: TrackedTarget, **extra: Any) -> dict[str, Any]:
    """What email events carry for goal criteria (`email_step`, `automation_id`, `url`)."""
    data: dict[str, Any] = {
        "email_step": target.step_id,
        "automation_id": target.automation_id,
        "enrollment_id": target.enrollment_id,
        **extra,
    }
    return {k: v for k, v in data.items() if v is not None}


async def _record(goalflow: GoalflowService, target: TrackedTarget, type: str, data: Any) -> None:
    await goalflow.send_event(target.contact_id, type, data, event_id=f"t-{uuid.uuid4().hex}")


@router.get("/c/{token}", response_class=RedirectResponse, status_code=302, responses=UNKNOWN_LINK)
async def click(
    token: str, request: Request, goalflow: ServiceDep, tracker: TrackerDep, recent: RecentDep
) -> Response:
    """A tracked link: the click becomes `email.clicked` (a link in an email) or
    `trigger_link.clicked` (a trigger link, also `email.clicked` when it was in an email), then
    302 to the link's URL. Repeats within a minute redirect the same and record nothing."""
    target = _verified(tracker, TrackingKind.CLICK, token)
    if target.link_id is None and target.url is None:
        raise UnknownLink()
    first, kept = _claim(recent, TrackingKind.CLICK, token)
    try:
        if target.link_id is None:
            url = target.url
            if first:
                await _record(goalflow, target, "email.clicked", _email_data(target, url=url))
        else:
            url = kept if kept is not PENDING else await _trigger_link_url(goalflow, target.link_id)
            if first:
                await _record_trigger_click(goalflow, target, url)
                recent.keep(TrackingKind.CLICK, token, url)
    except BaseException:
        if first:
            recent.forget(TrackingKind.CLICK, token)  # not recorded: the next request tries
        raise
    if url is None:
        # The click is real and recorded; there is just nowhere to send the visitor.
        language = await language_for(goalflow, target.contact_id, request)
        return contact_page(language, "gone", status_code=404)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


async def _trigger_link_url(goalflow: GoalflowService, link_id: str) -> str | None:
    # Looked up at click time: a trigger link's URL may change after the email went out.
    catalog = await goalflow.catalog()
    link = next((t for t in catalog.trigger_links if t.link_id == link_id), None)
    return link.url if link is not None else None


async def _record_trigger_click(
    goalflow: GoalflowService, target: TrackedTarget, url: str | None
) -> None:
    if target.channel == "email":
        await _record(
            goalflow,
            target,
            "email.clicked",
            _email_data(target, url=url, link_id=target.link_id),
        )
    data = {
        "link_id": target.link_id,
        "url": url,
        "automation_id": target.automation_id,
        "step_id": target.step_id,
        "enrollment_id": target.enrollment_id,
    }
    await _record(
        goalflow,
        target,
        "trigger_link.clicked",
        {k: v for k, v in data.items() if v is not None},
    )


async def _record_first(
    goalflow: GoalflowService,
    recent: RecentLinks,
    kind: TrackingKind,
    token: str,
    target: TrackedTarget,
    type: str,
) -> None:
    """Record the event of the link's first request of the minute; nothing for a repeat."""
    first, _ = _claim(recent, kind, token)
    if not first:
        return
    try:
        await _record(goalflow, target, type, _email_data(target))
    except BaseException:
        recent.forget(kind, token)
        raise


@router.get("/o/{token}", response_class=Response, responses=UNKNOWN_LINK)
async def open_pixel(
    token: str, goalflow: ServiceDep, tracker: TrackerDep, recent: RecentDep
) -> Response:
    """The open pixel: `email.opened` (once a minute at most), answered with a 1×1 GIF."""
    target = _verified(tracker, TrackingKind.OPEN, token)
    await _record_first(goalflow, recent, TrackingKind.OPEN, token, target, "email.opened")
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/u/{token}", response_class=HTMLResponse, responses=UNKNOWN_LINK)
async def confirm_unsubscribe(
    token: str, request: Request, goalflow: ServiceDep, tracker: TrackerDep
) -> HTMLResponse:
    """The unsubscribe link of an email: a page whose button unsubscribes (POST). Following the
    link records nothing, since link scanners follow every link of a message. In the contact's
    language (its `locale`, else the browser's)."""
    target = _verified(tracker, TrackingKind.UNSUBSCRIBE, token)
    language = await language_for(goalflow, target.contact_id, request)
    # Relative: the form posts back to the URL the page was read from, whatever its host.
    return contact_page(language, "confirm", action=f"./{token}")


@router.post("/u/{token}", response_class=HTMLResponse, responses=UNKNOWN_LINK)
async def unsubscribe(
    token: str, request: Request, goalflow: ServiceDep, tracker: TrackerDep, recent: RecentDep
) -> HTMLResponse:
    """Unsubscribe: `email.unsubscribed`; no further email reaches the contact from any
    automation. Posted by the page's form, or by a mail client with RFC 8058's one-click body
    `List-Unsubscribe=One-Click` (the email's `List-Unsubscribe-Post` header); the body is not
    needed."""
    target = _verified(tracker, TrackingKind.UNSUBSCRIBE, token)
    await _record_first(
        goalflow, recent, TrackingKind.UNSUBSCRIBE, token, target, "email.unsubscribed"
    )
    return contact_page(await language_for(goalflow, target.contact_id, request), "done")


def install(app: FastAPI) -> None:
    """The tracking routes, and the page a token that does not verify gets."""

    async def unknown_link(request: Request, err: Exception) -> Response:
        return contact_page(browser_language(request), "bad", status_code=404)

    app.add_exception_handler(UnknownLink, unknown_link)
    app.include_router(router)
