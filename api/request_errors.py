"""422 answers that help: what was wrong, without handing a large body back.

FastAPI's own answer echoes each error's `input`, which can be the whole body (a missing field's
input is the object around it): a 2 MB event came back whole. Each echo is cut to
`MAX_INPUT_ECHO` bytes of JSON, at most `MAX_ECHO_TOTAL` for the answer; what is cut says how
large it was.

A body sent without `Content-Type: application/json` (curl's `-d` sends a form content type) is
not parsed as JSON at all, and FastAPI would only say "Input should be a valid dictionary": the
answer says what the request lacked instead. Messages are put in words
(goalflow/service/error_words.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json

from api.middleware import is_json
from goalflow.service.error_words import worded

MAX_INPUT_ECHO = 1024
MAX_ECHO_TOTAL = 4096
_PREVIEW_CHARS = 100
# What pydantic says when the body it got is not an object (a string, here: the raw text).
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type", "list_type"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)


async def _invalid_request(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    errors = jsonable_encoder(err.errors())
    content_type = request.headers.get("content-type")
    if not is_json(content_type) and any(_body_not_parsed(e) for e in errors):
        errors = [_wrong_content_type(content_type)]
    return JSONResponse({"detail": trimmed(worded(errors, err.body))}, status_code=422)


def trimmed(errors: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors with each `input` at most MAX_INPUT_ECHO bytes of JSON, MAX_ECHO_TOTAL in
    all; a longer one becomes a short string that starts like it and says its size."""
    budget = MAX_ECHO_TOTAL
    answer = []
    for error in errors:
        if "input" in error:
            size = len(to_json(error["input"]))
            if size > min(MAX_INPUT_ECHO, budget):
                preview = to_json(error["input"])[:_PREVIEW_CHARS].decode("utf-8", "replace")
                error = {**error, "input": f"{preview}… ({size} bytes as JSON, not echoed)"}
                size = _PREVIEW_CHARS + 40
            budget = max(budget - size, 0)
        answer.append(error)
    return answer


def _body_not_parsed(error: dict[str, Any]) -> bool:
    return (
        tuple(error.get("loc", ())) == ("body",)
        and error.get("type") in _NOT_AN_OBJECT
        and isinstance(error.get("input"), str | bytes)
    )


def _wrong_content_type(content_type: str | None) -> dict[str, Any]:
    had = f"Content-Type: {content_type}" if content_type else "no Content-Type"
    return {
        "type": "content_type",
        "loc": ["body"],
        "msg": f"the body must be JSON sent with Content-Type: application/json; this request "
        f"had {had} (curl: add -H 'content-type: application/json')",
        "input": None,
    }
