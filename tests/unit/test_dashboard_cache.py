"""The automation page's counts are shared for a second: one counting per key in flight, kept
`ttl` seconds by the clock given, a failure never kept."""

from __future__ import annotations

import asyncio

import pytest

from api.dashboard_cache import SharedCounts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_requests_within_the_ttl_share_one_counting() -> None:
    clock = Clock()
    shared: SharedCounts[int] = SharedCounts(ttl=1.0, clock=clock)
    countings = 0
    release = asyncio.Event()

    async def count() -> int:
        nonlocal countings
        countings += 1
        await release.wait()
        return countings

    waiting = [asyncio.ensure_future(shared.get(("a", 1), count)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [1] * 5
    assert countings == 1

    clock.now += 0.9
    assert await shared.get(("a", 1), count) == 1
    assert await shared.get(("a", 2), count) == 2  # another version: its own counting
    clock.now += 0.2  # the first answer is 1.1 s old
    assert await shared.get(("a", 1), count) == 3
    assert countings == 3


async def test_a_failed_counting_is_not_kept() -> None:
    shared: SharedCounts[int] = SharedCounts(ttl=1.0, clock=Clock())
    answers: list[int | Exception] = [RuntimeError("visibility down"), 7]
    pending = iter(answers)

    async def count() -> int:
        answer = next(pending)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(RuntimeError):
        await shared.get(("a", 1), count)
    assert await shared.get(("a", 1), count) == 7
