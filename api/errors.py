"""The one place where the service layer's domain errors (`goalflow/service/errors.py`) become
HTTP answers.

Routes never catch them: `install` maps `NotFound` to 404, `Conflict` to 409, `TooLarge` to 422
and `Unavailable` to 503 for the whole app, and every Temporal error a route lets through to a
clear 503/409/404 (never a 500).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.slow_worker import WorkerTooSlow, raise_if_worker_too_slow
from goalflow.service.errors import Conflict, NotFound, TooLarge, Unavailable


async def not_found(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=404)


async def conflict(request: Request, err: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(err)}, status_code=409)


async def too_large(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, TooLarge)
    error = {"type": "too_large", "loc": err.loc, "msg": str(err), "input": None}
    return JSONResponse({"detail": [error]}, status_code=422)


async def unavailable(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, (Unavailable, WorkerTooSlow))
    return _answer(503, str(err), err.retry_after)


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(TooLarge, too_large)
    app.add_exception_handler(Unavailable, unavailable)
    app.add_exception_handler(WorkerTooSlow, unavailable)
    install_temporal(app)


# --- Temporal errors -------------------------------------------------------------------------
#
# A Temporal error that no route handled must still get a clear answer, never a 500: 503 with
# Retry-After where trying again later helps (Temporal unreachable, overloaded, slow, or a
# workflow whose task is failing until a fixed worker is deployed), 409 where the request
# contradicts what Temporal holds, 404 for a workflow that does not exist.

# Seconds a client should wait before retrying, by cause.
RETRY_UNREACHABLE = 2
RETRY_BUSY = 1
RETRY_STUCK = 30
UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


def _answer(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _first_line(text: str, limit: int = 300) -> str:
    return (text.splitlines() or [""])[0][:limit]


def temporal_rpc_answer(err: RPCError) -> JSONResponse:
    """The answer to a Temporal RPC error, by its gRPC status."""
    message = _first_line(err.message)
    code = err.status
    if "workflow task in failed state" in message.lower():
        # The workflow's code fails on every attempt (a bug, or a change that does not replay):
        # nothing is applied until a fixed worker runs it; then the same request succeeds.
        return _answer(
            503,
            "the workflow this request goes to cannot make progress (its workflow task keeps "
            f"failing); nothing was applied; retry later. Temporal: {message}",
            RETRY_STUCK,
        )
    if code == RPCStatusCode.FAILED_PRECONDITION and "closed before" in message:
        # Closed (terminated, usually by Temporal itself) in the middle of a workflow task: its
        # state cannot be read back, and asking again will not change that.
        return _answer(
            409,
            f"the workflow was terminated before it could record its state: {message}",
        )
    if code in UNREACHABLE:
        return _answer(503, f"Temporal is unreachable: {message}", RETRY_UNREACHABLE)
    if code in (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED):
        return _answer(503, f"Temporal is busy: {message}", RETRY_BUSY)
    if code == RPCStatusCode.NOT_FOUND:
        return _answer(404, f"not found in Temporal: {message}")
    if code in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.FAILED_PRECONDITION):
        return _answer(409, f"Temporal refused the request as things stand: {message}")
    if code in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        # The API's own Temporal credentials: an operator's problem, not the caller's.
        return _answer(503, f"goalflow is not allowed into Temporal: {message}")
    if code in (
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.OUT_OF_RANGE,
    ):
        # goalflow asked something this Temporal does not take: retrying will not change it.
        return _answer(503, f"Temporal could not serve the request: {message}")
    return _answer(503, f"Temporal could not serve the request: {message}", RETRY_UNREACHABLE)


async def temporal_rpc_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RPCError)
    return temporal_rpc_answer(err)


async def temporal_timeout(request: Request, err: Exception) -> JSONResponse:
    # An update or query that did not answer in time may still be applied: retrying with the
    # same ids is safe (events and enrollments are deduplicated).
    return _answer(
        503, "Temporal did not answer in time; retry the request (same ids are safe)", RETRY_BUSY
    )


async def workflow_refused(request: Request, err: Exception) -> JSONResponse:
    """A workflow answered the request with a failure no route expected."""
    try:
        raise_if_worker_too_slow(err)
    except WorkerTooSlow as slow:
        return await unavailable(request, slow)
    cause = getattr(err, "cause", None)
    message = getattr(cause, "message", None) or str(err)
    return _answer(409, f"the request was refused: {_first_line(message)}")


async def workflow_already_started(request: Request, err: Exception) -> JSONResponse:
    return _answer(409, f"already started: {_first_line(str(err))}")


async def temporal_connect_error(request: Request, err: Exception) -> JSONResponse:
    # The lazy client connects on first use; the SDK reports a refused connection as a plain
    # RuntimeError, not an RPCError.
    if str(err).startswith("Failed client connect"):
        return _answer(503, f"Temporal is unreachable: {_first_line(str(err))}", RETRY_UNREACHABLE)
    raise err


def install_temporal(app: FastAPI) -> None:
    app.add_exception_handler(RPCError, temporal_rpc_error)
    app.add_exception_handler(RPCTimeoutOrCancelledError, temporal_timeout)
    app.add_exception_handler(WorkflowUpdateFailedError, workflow_refused)
    app.add_exception_handler(WorkflowQueryFailedError, workflow_refused)
    app.add_exception_handler(WorkflowQueryRejectedError, workflow_refused)
    app.add_exception_handler(WorkflowFailureError, workflow_refused)
    app.add_exception_handler(WorkflowAlreadyStartedError, workflow_already_started)
    app.add_exception_handler(RuntimeError, temporal_connect_error)
