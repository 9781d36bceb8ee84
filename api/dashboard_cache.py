"""The automation page's counts, shared for a second.

The page and its counts fragment (fetched every 3 s by each open page) cost a dozen visibility
count queries per automation. Requests for the same automation and version within `TTL`
seconds share one set of answers, and requests that arrive while that set is being counted wait
for it instead of counting again: with any number of open pages, an automation costs at most one
set of count queries per second per API process. Visibility already lags by about a second, so
the counts shown are no staler than they were.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str, int]

TTL = 1.0  # seconds


class SharedCounts(Generic[T]):
    """Answers by key, each kept `ttl` seconds from when its counting started; one counting in
    flight per key. A counting that fails is not kept."""

    def __init__(self, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[Key, tuple[float, asyncio.Future[T]]] = {}

    async def get(self, key: Key, count: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        found = self._entries.get(key)
        if found is not None:
            started, future = found
            failed = future.done() and future.exception() is not None
            if now - started < self.ttl and not failed:
                return await asyncio.shield(future)
        # Expired entries of other keys go too: the dict holds only the last second's.
        for stale in [k for k, (s, _) in self._entries.items() if now - s >= self.ttl]:
            del self._entries[stale]
        future = asyncio.ensure_future(count())
        self._entries[key] = (now, future)
        return await asyncio.shield(future)


# One per Temporal client (the API's), so that two stacks in one process never share answers.
_BY_CLIENT: weakref.WeakKeyDictionary[object, SharedCounts[object]] = weakref.WeakKeyDictionary()


def shared_counts(client: object) -> SharedCounts[object]:
    found = _BY_CLIENT.get(client)
    if found is None:
        found = _BY_CLIENT[client] = SharedCounts()
    return found
