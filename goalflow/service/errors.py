"""The service layer's domain errors: plain exceptions, no HTTP.

The API turns each into its answer in one place (`api/errors.py`: `NotFound` 404, `Conflict` 409,
`TooLarge` 422, `Unavailable` and `goalflow.core.slow_worker.WorkerTooSlow` 503); the client and
the CLI see them as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.slow_worker import raise_if_worker_too_slow


class NotFound(Exception):
    """The thing asked for does not exist (404)."""


class Conflict(Exception):
    """The request contradicts the state (409)."""


class TooLarge(Exception):
    """What the request would make is past a limit (422, at `loc`, as a validation error)."""

    def __init__(self, loc: list[str], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Unavailable(Exception):
    """No worker answered in time (they are all down or busy): try again shortly (503)."""

    retry_after = 2


class NotAnswered(Unavailable):
    """An update no worker answered within the API's wait: nothing may have been applied yet,
    or it will be once a worker comes; the same request again (same ids) applies it once."""

    retry_after = 1


T = TypeVar("T")


async def answered(call: Awaitable[T], seconds: float, what: str) -> T:
    """`call`'s answer, or `NotAnswered` (503) when no worker gives it within `seconds`: a
    request to a contact whose workflow no running worker serves must not hold the API (and the
    caller) for as long as the client would wait."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    # The SDK answers a cancelled update call with its own error, not CancelledError.
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise NotAnswered(
        f"no worker answered the {what} within {seconds:g} s (workers down, busy, or not "
        "polling this task queue); retry shortly: the same request with the same ids is "
        "applied once"
    )


@contextmanager
def missing_as_not_found(
    message: str,
    *,
    also: tuple[type[BaseException], ...] = (),
    statuses: tuple[RPCStatusCode, ...] = (RPCStatusCode.NOT_FOUND,),
) -> Iterator[None]:
    """Temporal's answer that a workflow does not exist (an RPC error with one of `statuses`, or
    one of the `also` errors) raised as `NotFound(message)`; every other error as it is."""
    try:
        yield
    except RPCError as err:
        if err.status in statuses:
            raise NotFound(message) from err
        raise
    except also as err:
        raise_if_worker_too_slow(err)
        raise NotFound(message) from err


def is_missing(err: BaseException) -> bool:
    """Whether Temporal answered that the workflow does not exist."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND
