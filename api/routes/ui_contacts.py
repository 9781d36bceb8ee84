"""The dashboard's pages about contacts: find one by the start of its id, see its profile, tags
and enrollments; and, in development mode, the outbox of what was sent to contacts, with each
email's HTML in a sandboxed frame and its text part.

Contacts are found through Temporal visibility: the running contact workflows whose id starts
with `contact:` and the prefix typed (at most CONTACT_LIMIT of them)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.dashboard_auth import Session
from api.dashboard_pages import PageNotFound, render, user
from api.deps import ServiceDep, SettingsDep
from api.schemas import CONTACT_ID_PATTERN
from goalflow.core.smtp_sink import outbox_messages
from goalflow.service.errors import NotFound
from goalflow.service.visibility import list_enrollments, quote
from workflows.messages import CONTACT_PREFIX

router = APIRouter(prefix="/ui", include_in_schema=False)

CONTACT_LIMIT = 50
ENROLLMENTS_SHOWN = 50
OUTBOX_LIMIT = 200
CONTACT_TYPES = "WorkflowType IN ('ContactWorkflowV2', 'ContactWorkflow')"
# Characters a visibility literal cannot carry exactly (goalflow/service/visibility.py): the
# filter names the prefix up to the first of them, and the rest is checked here.
_UNSAFE_IN_LITERALS = re.compile(r'["\\]')

# An email's HTML, shown inside the outbox page's sandboxed frame: no script, no form, nothing
# fetched but inline images (an open pixel would record an open), inline styles allowed since
# nothing can run; framed by the dashboard only.
MESSAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)
MESSAGE_HEADERS = {
    "Content-Security-Policy": MESSAGE_POLICY,
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
# The outbox page frames its messages (from this origin only); otherwise the dashboard's policy.
OUTBOX_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


async def find_contacts(goalflow: ServiceDep, prefix: str) -> tuple[list[str], bool]:
    """Ids of contacts starting with `prefix`, sorted, and whether there are more."""
    cut = _UNSAFE_IN_LITERALS.search(prefix)
    sent = prefix if cut is None else prefix[: cut.start()]
    query = (
        f"{CONTACT_TYPES} AND ExecutionStatus = 'Running' "
        f"AND WorkflowId STARTS_WITH {quote(CONTACT_PREFIX + sent)}"
    )
    found: list[str] = []
    async for execution in goalflow.client.list_workflows(query, page_size=CONTACT_LIMIT + 1):
        contact_id = execution.id.removeprefix(CONTACT_PREFIX)
        if contact_id.startswith(prefix) and contact_id not in found:
            found.append(contact_id)
        if len(found) > CONTACT_LIMIT:
            break
    return sorted(found[:CONTACT_LIMIT]), len(found) > CONTACT_LIMIT


@router.get("/contacts")
async def contacts_page(
    request: Request,
    goalflow: ServiceDep,
    prefix: str = "",
    session: Session = Depends(user),
) -> Response:
    problems: list[str] = []
    contacts: list[str] = []
    more = False
    if prefix and not re.fullmatch(CONTACT_ID_PATTERN, prefix):
        problems.append("problem.contact_id")
    elif prefix:
        contacts, more = await find_contacts(goalflow, prefix)
    context = {
        "prefix": prefix,
        "contacts": contacts,
        "more": more,
        "searched": bool(prefix),
        "problems": problems,
    }
    return render(request, "contacts.html", session, context, 400 if problems else 200)


@router.get("/contacts/{contact_id}")
async def contact_page(
    request: Request,
    contact_id: str,
    goalflow: ServiceDep,
    session: Session = Depends(user),
) -> Response:
    if not re.fullmatch(CONTACT_ID_PATTERN, contact_id):
        raise PageNotFound(f"contact {contact_id!r} not found")
    try:
        contact = await goalflow.contact(contact_id)
    except NotFound as err:
        raise PageNotFound(str(err)) from err
    items, next_page = await list_enrollments(
        goalflow.client,
        automation_id=None,
        contact_id=contact_id,
        status=None,
        page_size=ENROLLMENTS_SHOWN,
        page_token=None,
    )
    context = {"contact": contact, "items": items, "next_page": next_page}
    return render(request, "contact.html", session, context)


# --- dev outbox ------------------------------------------------------------------------------


@router.get("/outbox")
async def outbox_page(
    request: Request,
    settings: SettingsDep,
    contact_id: str = "",
    session: Session = Depends(user),
) -> Response:
    if not settings.dev_mode:
        raise PageNotFound("the outbox exists in development mode only")
    messages = outbox_messages(settings.outbox_dir)
    if contact_id:
        messages = [m for m in messages if m.get("contact_id") == contact_id]
    messages = messages[::-1][:OUTBOX_LIMIT]
    context = {"messages": messages, "contact_id": contact_id}
    response = render(request, "outbox.html", session, context)
    response.headers["Content-Security-Policy"] = OUTBOX_POLICY
    return response


@router.get("/outbox/html")
async def message_html(
    settings: SettingsDep, message_id: str = "", _: Session = Depends(user)
) -> Response:
    """An email's HTML as it was sent, for the outbox page's sandboxed frame."""
    if not settings.dev_mode:
        raise PageNotFound("the outbox exists in development mode only")
    for message in outbox_messages(settings.outbox_dir):
        if message_id and message.get("message_id") == message_id and message.get("html"):
            return HTMLResponse(str(message["html"]), headers=MESSAGE_HEADERS)
    raise PageNotFound(f"no message {message_id!r} in the outbox")
