"""Request bodies the handlers cannot take, answered with a 4xx before they reach them.

- A body larger than `GOALFLOW_MAX_BODY_BYTES` is 413, whether it declares its length or is sent
  in chunks (the declared length is refused without reading the body).
- JSON text holding a lone UTF-16 surrogate (`"\\ud800"`, or its raw bytes) is 422. Python's
  `json` accepts it, but the string cannot be encoded as UTF-8 again, so it would fail later in
  the response, the data converter or Temporal itself as a 500.
- `NaN`, `Infinity` and numbers too large for a float (`1e999`) are 422: they are not JSON
  (RFC 8259); Python's `json` reads them as floats that no JSON answer can carry, so even the
  422 that echoes them would fail as a 500.
- JSON nested deeper than `MAX_JSON_DEPTH` levels is 422. Nothing goalflow takes needs more, and
  past about 200 levels pydantic's serializer (so Temporal's data converter) gives up: a 500.

`PageHeaders` (at the end) adds the framing and Content Security Policy headers of the HTML pages.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Any escaped code unit in D800–DFFF; valid pairs match too and are checked after parsing.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_DEPTH = 64
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_CHEAP_PASSES = 8
# What could read as a non-finite float; bodies with none of these are not parsed here.
_MAYBE_NOT_FINITE = re.compile(rb"NaN|Infinity|[0-9][eE][+]?[0-9]{3}|[0-9]{309}")


class BodyGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await _answer(scope, receive, send, 400, "invalid Content-Length")
                return
            if int(length) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and is_json(headers.get("content-type")):
            problem = _unicode_problem(body) or _depth_problem(body) or _number_problem(body)
            if problem is not None:
                await _answer(scope, receive, send, 422, [problem])
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.max_body_bytes} bytes (GOALFLOW_MAX_BODY_BYTES)"
        await _answer(scope, receive, send, 413, detail)


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: Any) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this content type as JSON."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _unicode_problem(body: bytes) -> dict[str, Any] | None:
    """A FastAPI-style error for a body that is not valid Unicode JSON text, else None."""
    try:
        body.decode("utf-8")  # strict: raw surrogates and stray bytes fail here
    except UnicodeDecodeError as err:
        return {
            "type": "json_invalid",
            "loc": ["body", err.start],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "body is not valid UTF-8"},
        }
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None  # malformed JSON: FastAPI reports it with its position
    path = _lone_surrogate(value)
    if path is None:
        return None
    return {
        "type": "string_unicode",
        "loc": ["body", *path],
        "msg": "Input should be a valid string: it holds a lone UTF-16 surrogate",
        "input": None,
    }


def _lone_surrogate(value: Any) -> list[int | str] | None:
    """The path to the first string (or object key) that is not encodable as UTF-8."""
    stack: list[tuple[Any, list[int | str]]] = [(value, [])]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            if not _encodable(current):
                return path
        elif isinstance(current, dict):
            for key in current:
                if not _encodable(key):
                    return [*path, key.encode("utf-8", "backslashreplace").decode()]
            # Reversed onto the stack: the first offending field in document order wins.
            stack.extend((item, [*path, key]) for key, item in reversed(current.items()))
        elif isinstance(current, list):
            stack.extend((item, [*path, i]) for i, item in reversed(list(enumerate(current))))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth_problem(body: bytes) -> dict[str, Any] | None:
    """A FastAPI-style error for JSON nested deeper than MAX_JSON_DEPTH, else None."""
    # Most bodies are shallow: peeling empty pairs off the brackets a few times (at most two
    # levels a pass) leaves nothing. Brackets inside strings count too, so this can only
    # overestimate the depth; a body it does not empty is measured properly.
    brackets = body.translate(None, _NOT_BRACKET)
    for _ in range(_CHEAP_PASSES):
        peeled = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(peeled) == len(brackets):
            return None
        brackets = peeled
    try:
        too_deep = _depth(json.loads(body)) > MAX_JSON_DEPTH
    except RecursionError:
        too_deep = True
    except ValueError:
        return None  # malformed JSON: FastAPI reports it with its position
    if not too_deep:
        return None
    return {
        "type": "json_too_deep",
        "loc": ["body"],
        "msg": f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
        "input": None,
    }


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _refuse_constant(text: str) -> float:
    raise _NotFinite(text)


def _number_problem(body: bytes) -> dict[str, Any] | None:
    """A FastAPI-style error for NaN, Infinity or a float that overflows, else None."""
    if not _MAYBE_NOT_FINITE.search(body):
        return None
    try:
        json.loads(body, parse_float=_finite, parse_constant=_refuse_constant)
    except _NotFinite as err:
        return {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": f"{str(err)[:40]} is not a finite JSON number"},
        }
    except (ValueError, RecursionError):
        return None  # malformed JSON: FastAPI reports it
    return None


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON value (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, level = stack.pop()
        items = current.values() if isinstance(current, dict) else current
        if isinstance(current, dict | list):
            deepest = max(deepest, level)
            stack.extend((item, level + 1) for item in items if isinstance(item, dict | list))
    return deepest


# --- headers of the HTML pages ------------------------------------------------------------------

# The dashboard's pages load their script, styles and JSON fragments from the API itself and
# nothing else; no page may be framed (clickjacking of its forms).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Where the policy applies: the dashboard and the pages a contact opens from an email.
_PAGE_PREFIXES = ("/ui/", "/t/")


class PageHeaders:
    """`X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and a Content Security Policy
    on every answer under /ui and /t/; a route that sets its own policy (the unsubscribe pages,
    for their inline style) keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/ui" or path.startswith(_PAGE_PREFIXES)):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", PAGE_POLICY)
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("x-content-type-options", "nosniff")
            await send(message)

        await self.app(scope, receive, with_headers)
