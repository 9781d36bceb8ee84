"""Repeats of one tracking link: at most one event per link, kind and minute.

A bot (a link scanner, a security gateway, a replay attack) may request one tracking URL a
thousand times a minute. Every request is still answered (the click redirects, the pixel is a
GIF), but only the first of each minute becomes an event: the others cost no Temporal work at all,
not even the trigger-link lookup, whose answer is kept with the entry. Goals need one event, and
R9 keeps the first anyway.

The memory is this process's, bounded (least recently used entries go first when full): with
several API processes a link can make one event per process per minute, and a flood of more
distinct genuine tokens than the bound within a minute gets through (each token is still signed:
the flood is bounded by the links goalflow sent).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache

from goalflow.core.tracking import TrackingKind

WINDOW_SECONDS = 60.0
# About 200 bytes each: 20 MB at most.
MAX_ENTRIES = 100_000
# The value of an entry whose answer is not known yet (a lookup in flight).
PENDING = object()


class RecentLinks:
    """Which (kind, token) pairs were recorded within the window, with what their answer was."""

    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seen: TTLCache[tuple[str, bytes], Any] = TTLCache(
            maxsize=max_entries, ttl=window, timer=clock
        )

    @staticmethod
    def _key(kind: TrackingKind, token: str) -> tuple[str, bytes]:
        # A digest: tokens run to 4 KB, and the memory holds no token in clear.
        return kind.value, hashlib.sha256(token.encode()).digest()[:16]

    def claim(self, kind: TrackingKind, token: str) -> tuple[bool, Any]:
        """(True, PENDING) for the first request of the window, which records the event; else
        (False, the answer kept by `keep`, or PENDING). Synchronous: two concurrent requests
        cannot both be first."""
        key = self._key(kind, token)
        if key in self._seen:
            return False, self._seen[key]
        self._seen[key] = PENDING
        return True, PENDING

    def keep(self, kind: TrackingKind, token: str, answer: Any) -> None:
        """What the first request answered (a trigger link's URL), for the repeats."""
        key = self._key(kind, token)
        if key in self._seen:
            self._seen[key] = answer

    def forget(self, kind: TrackingKind, token: str) -> None:
        """The first request failed to record its event: the next one tries again."""
        self._seen.pop(self._key(kind, token), None)

    def __len__(self) -> int:
        return len(self._seen)
