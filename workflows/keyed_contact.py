"""What the two keyed-hash directories share (workflows/phone_numbers.py: the contact a number
was last texted for; workflows/directory.py: the contact whose profile holds an address or a
number): an entity workflow that remembers one contact id, moved by updates, continues as new
when Temporal suggests it, and completes after `idle_seconds` without an update."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from temporalio import workflow


class KeyedContactState(Protocol):
    contact_id: str | None
    idle_seconds: float


async def hold_until_idle(state: KeyedContactState, updates: Callable[[], int]) -> str | None:
    """Run the entity: `updates()` counts the updates handled so far. Returns the contact id
    once `idle_seconds` passed without one."""
    while True:
        seen = updates()
        try:
            await workflow.wait_condition(
                lambda seen=seen: (  # type: ignore[misc]
                    updates() != seen or workflow.info().is_continue_as_new_suggested()
                ),
                timeout=timedelta(seconds=state.idle_seconds),
                timeout_summary="idle",
            )
        except TimeoutError:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if updates() == seen:
                return state.contact_id
            continue
        if workflow.info().is_continue_as_new_suggested():
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(state)
