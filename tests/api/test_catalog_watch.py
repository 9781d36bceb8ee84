"""An API process's copy of the catalog (the trigger set) is pushed, not polled: it watches the
catalog workflow's history and asks for the trigger set only when the catalog changed. Idle, it
makes no catalog query at all; a publish by another process reaches it with one query.

On the session's stack (its worker serves the catalog workflow of its task queue)."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import Client

from goalflow.core.trigger_cache import TriggerCache
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from goalflow_bench.stack import QueryCounter
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.messages import catalog_workflow_id

# Seconds watched for queries on an idle system: the copy used to query once a second.
IDLE = 3.0


def _definition(tag: str) -> dict[str, object]:
    return {
        "name": "watched",
        "triggers": [{"event": "contact.tag_added", "tag": tag}],
        "steps": [{"id": "w", "type": "wait", "duration": "P1D"}],
    }


async def test_a_watched_copy_asks_nothing_while_idle_and_learns_of_a_publish(
    stack: Stack,
) -> None:
    queue = stack.settings.task_queue
    other_process = GoalflowService(stack.env.client, queue)
    first, second = new_id("watched"), new_id("watched")
    await other_process.publish(first, parse_automation(_definition(first))[0])

    counter = QueryCounter()
    config = stack.env.client.config()
    config["interceptors"] = [*config["interceptors"], counter]
    cache = TriggerCache(Client(**config), queue)
    catalog = catalog_workflow_id(queue)

    def trigger_set_queries() -> int:
        return counter.by_workflow[("trigger_set", catalog)]

    watching = asyncio.create_task(cache.run())
    try:
        await assert_eventually(lambda: _now(cache), lambda c: c.watching and first in c.entries)
        assert trigger_set_queries() == 1  # the one that began the watch

        # Idle: no query, and a request's `current()` asks nothing either.
        await asyncio.sleep(IDLE)
        assert (await cache.current()) is cache
        assert trigger_set_queries() == 1

        # Another process publishes: the watch sees the update and asks once.
        await other_process.publish(second, parse_automation(_definition(second))[0])
        await assert_eventually(lambda: _now(cache), lambda c: second in c.entries)
        assert [a.entry.automation_id for a in cache.armed if a.entry.automation_id in (
            first, second)] == sorted([first, second])  # fmt: skip
        assert trigger_set_queries() == 2
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    assert cache.watching is False


async def _now(cache: TriggerCache) -> TriggerCache:
    return cache
