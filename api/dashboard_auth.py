"""Sessions of the dashboard: a signed cookie, a login with an API key, CSRF tokens.

Every visitor of `/ui` carries one session cookie (signed with `GOALFLOW_SECRET`, HttpOnly,
SameSite=Strict) holding a random CSRF token and, once logged in, a fingerprint of the API key
used. With no `GOALFLOW_API_KEYS` the dashboard is open and the session only carries the CSRF
token. Forms that change something (pause, resume, cancel, login, logout) send the token back; a
form whose token is missing or does not match the session's is refused (403). The fingerprint
is checked against the current keys on every request: removing a key ends its sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from goalflow.settings import Settings
from goalflow.tracking import secret_list

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

    def as_dict(self) -> dict[str, Any]:
        return {"c": self.csrf, "k": self.key}


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # Timed (the session expires), so not goalflow.tracking.serializer; it rotates the same way:
    # the first secret signs, all verify (itsdangerous signs with the last of its list).
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
        data = _serializer(settings).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    key = data.get("k")
    if settings.api_key_list:
        valid = {fingerprint(settings, k) for k in settings.api_key_list}
        if not isinstance(key, str) or key not in valid:
            return Session(csrf=data["c"])  # a visitor, not logged in
    return Session(csrf=data["c"], key=key if isinstance(key, str) else None)


def logged_in(session: Session | None, settings: Settings) -> bool:
    return not settings.api_key_list or (session is not None and session.key is not None)


def new_session(key: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(32), key=key)


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
