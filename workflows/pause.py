"""The pause: a durable timer raced against a pending goal move.

Workflow code, run in the enrollment's sandbox. Long pauses through many events continue as new
here, at a pause, where the whole position is the enrollment's `waiting`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow


class Pause:
    """`moving`: whether a goal move is pending (it ends the pause); `should_continue_as_new`
    and `continue_as_new`: the workflow's own, called while paused."""

    def __init__(
        self,
        moving: Callable[[], bool],
        should_continue_as_new: Callable[[], bool],
        continue_as_new: Callable[[], Awaitable[None]],
    ) -> None:
        self.moving = moving
        self.should_continue_as_new = should_continue_as_new
        self.continue_as_new = continue_as_new

    async def wait(self, until: datetime | None, summary: str) -> bool:
        """Wait until `until` (None: no limit) unless a move comes first; True when one did
        (already pending: at once, no timer)."""
        while not self.moving():
            remaining = None if until is None else until - workflow.now()
            if remaining is not None and remaining <= timedelta(0):
                return False
            try:
                await workflow.wait_condition(
                    lambda: self.moving() or self.should_continue_as_new(),
                    timeout=remaining,
                    timeout_summary=summary,
                )
            except TimeoutError:
                return False
            if not self.moving():
                await self.continue_as_new()
        return True
