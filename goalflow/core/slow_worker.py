"""A query that failed because the worker was too busy, not because the workflow said no.

The Temporal SDK runs a workflow's code in a thread and gives it 2 s to finish an activation; past
that it fails the activation with "[TMPRL1101] Potential deadlock detected". A query answered so
is not the workflow's answer: its process did not give the workflow a turn in time (a burst of
activations sharing one interpreter, a starved machine). The same query a moment later answers.
Code that reads a failed query as "no such workflow" or "a worker without that query" asks
`raise_if_worker_too_slow` first, so a busy worker never becomes a 404, an empty answer, or a
second contact for an address that has one.
"""

from __future__ import annotations

# The SDK's code for workflow code that did not finish within its deadline.
TOO_SLOW_MARK = "[TMPRL1101]"


class WorkerTooSlow(Exception):
    """The worker could not run the workflow's code for a query in time: ask again shortly (the
    API answers 503 with Retry-After)."""

    retry_after = 1


def raise_if_worker_too_slow(err: BaseException) -> None:
    """`WorkerTooSlow` when `err`, a failed query, is the worker's being too busy."""
    text = str(err)
    if TOO_SLOW_MARK in text:
        raise WorkerTooSlow(
            "the worker was too busy to run the workflow's code in time; nothing was applied; "
            f"retry shortly. Temporal: {(text.splitlines() or [''])[0][:300]}"
        ) from err
