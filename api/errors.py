"""Domain errors the service raises, and the one place they become HTTP answers.

Routes never catch them: `install` maps `NotFound` to 404 and `Conflict` to 409 for the whole app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class NotFound(Exception):
    """The thing asked for does not exist (404)."""


class Conflict(Exception):
    """The request contradicts the state (409)."""


async def not_found(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=404)


async def conflict(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=409)


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
