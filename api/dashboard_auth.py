"""Sessions of the dashboard: a signed cookie, a login with an API key, CSRF tokens.

Every visitor of `/ui` carries one session cookie (signed with `GOALFLOW_SECRET`, HttpOnly,
SameSite=Strict) holding a random CSRF token and, once logged in, a fingerprint of the API key
used. With no `GOALFLOW_API_KEYS` the dashboard is open and the session only carries the CSRF
token. Forms that change something (pause, resume, cancel, login, logout) send the token back; a
form whose token is missing or does not match the session's is refused (403). The fingerprint
is checked against the current keys on every request: removing a key ends its sessions.

Logging out ends the session everywhere, not only in the browser that logged out: a logged-in
session carries a random id, and logout records that id in Temporal (a `DashboardLogoutWorkflow`
with the id `dashboard-logout:{session id}`, workflows/sessions.py) until the session would have
expired. Every API process checks for that record before serving a logged-in page, so a copy of
the cookie is refused by all of them at once. The record lives in Temporal because the API keeps
no state of its own and several processes may serve the same dashboard; it costs one describe
call per logged-in request and one workflow per logout, which ends by itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.settings import Settings
from goalflow.core.tracking import secret_list
from workflows.sessions import LOGOUT_PREFIX, DashboardLogoutWorkflow

COOKIE = "goalflow_session"
# A dashboard session lasts a working day; after that the key is asked for again.
MAX_AGE_SECONDS = 12 * 3600
MAX_FORM_BYTES = 16 * 1024


class CsrfRefused(Exception):
    """A state-changing form without the session's CSRF token (403)."""


class LoginRequired(Exception):
    """Keys are set and the request carries no valid session (login form, or 401 for JSON)."""


@dataclass(frozen=True)
class Session:
    csrf: str
    key: str | None = None  # fingerprint of the API key logged in with; None when open
    # A logged-in session's random id, what logout revokes; None for a visitor.
    id: str | None = None
    # When the cookie was signed (seconds since the epoch): it expires MAX_AGE_SECONDS later.
    signed_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"c": self.csrf, "k": self.key, "s": self.id}

    @property
    def expires_at(self) -> float:
        return (self.signed_at or time.time()) + MAX_AGE_SECONDS


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # Timed (the session expires), so not goalflow.core.tracking.serializer; it rotates the
    # same way: the first secret signs, all verify (itsdangerous signs with the last of its list).
    keys = list(reversed(secret_list(settings.secret)))
    return URLSafeTimedSerializer(
        keys, salt="goalflow-dashboard-session", signer_kwargs={"digest_method": hashlib.sha256}
    )


def fingerprint(settings: Settings, api_key: str) -> str:
    """What the cookie keeps of an API key: an HMAC under the signing secret, never the key."""
    signing = secret_list(settings.secret)[0]
    digest = hmac.new(signing.encode(), api_key.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def matching_key(settings: Settings, given: str) -> str | None:
    """The fingerprint of `given` when it is one of the API keys (constant time), else None."""
    matched = False
    for key in settings.api_key_list:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return fingerprint(settings, given) if matched else None


def read_session(request: Request, settings: Settings) -> Session | None:
    """The request's session when its cookie is genuine, fresh and (with keys set) logged in
    with a key that is still valid."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data, signed = _serializer(settings).loads(
            raw, max_age=MAX_AGE_SECONDS, return_timestamp=True
        )
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    key, session_id = data.get("k"), data.get("s")
    if settings.api_key_list:
        valid = {fingerprint(settings, k) for k in settings.api_key_list}
        # A logged-in session without an id could not be logged out: a visitor too.
        if not isinstance(key, str) or key not in valid or not isinstance(session_id, str):
            return Session(csrf=data["c"])  # a visitor, not logged in
        return Session(csrf=data["c"], key=key, id=session_id, signed_at=signed.timestamp())
    return Session(csrf=data["c"], key=key if isinstance(key, str) else None)


def logged_in(session: Session | None, settings: Settings) -> bool:
    return not settings.api_key_list or (session is not None and session.key is not None)


def new_session(key: str | None = None) -> Session:
    """A visitor's session, or (with `key`) a logged-in one with an id of its own."""
    session_id = secrets.token_urlsafe(18) if key is not None else None
    return Session(csrf=secrets.token_urlsafe(32), key=key, id=session_id)


def _logout_id(session_id: str) -> str:
    return f"{LOGOUT_PREFIX}{session_id}"


async def logged_out(client: Client, session: Session) -> bool:
    """Whether `session` was logged out (by any API process): its logout record exists."""
    if session.id is None:
        return False
    try:
        await client.get_workflow_handle(_logout_id(session.id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise  # Temporal unavailable: a 503 (api/errors.py), not a page served on a guess
    return True


async def record_logout(client: Client, task_queue: str, session: Session) -> None:
    """Revoke `session` for every API process until it would have expired anyway."""
    if session.id is None:
        return  # a visitor, or no keys: nothing a copied cookie could open
    remaining = max(session.expires_at - time.time(), 1.0)
    # Logged out before: the record is there already.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            DashboardLogoutWorkflow.run,
            session.expires_at,
            id=_logout_id(session.id),
            task_queue=task_queue,
            static_summary="dashboard session logged out",
            # Ends on its own even with no worker to run it.
            execution_timeout=timedelta(seconds=remaining + 60),
        )


def set_cookie(response: Response, request: Request, settings: Settings, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        _serializer(settings).dumps(session.as_dict()),
        max_age=MAX_AGE_SECONDS,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/ui", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the dashboard's forms are a token and a field or two)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise CsrfRefused("form too large")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as err:
        raise CsrfRefused("unreadable form") from err
    return {name: values[0] for name, values in parsed.items()}


def check_csrf(session: Session | None, form: dict[str, str]) -> None:
    given = form.get("csrf_token", "")
    if session is None or not given or not hmac.compare_digest(given, session.csrf):
        raise CsrfRefused("missing or invalid CSRF token")
