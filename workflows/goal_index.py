"""The goal criteria of one definition, grouped once by what an event must be to meet them.

`goals_met_by` used to try every criterion of every goal step on every event: with hundreds of
goal steps that is thousands of criteria per event, and an enrollment that receives a batch of
events spent seconds in one workflow task. The index is built once per definition object (an
enrollment keeps its definition for its whole run) and hands an event only the criteria that can
meet it: those that listen for its type and, for `custom` criteria that name an event, its name.
The criteria it hands out are checked exactly as before, so the goals met are the same.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from datetime import timedelta

from workflows.definition import Automation, CustomCriterion, GoalCriterion, GoalStep
from workflows.durations import parse_duration
from workflows.events import ContactEvent

# (position of the goal step, index of the criterion in the step, criterion, its lookback as a
# duration)
Entry = tuple[int, int, GoalCriterion, timedelta | None]


class GoalIndex:
    __slots__ = ("by_type", "named")

    def __init__(self, automation: Automation) -> None:
        self.by_type: dict[str, list[Entry]] = {}
        # custom criteria with a `name`, by that name: only an event of that name can meet them
        self.named: dict[str, list[Entry]] = {}
        for position, step in enumerate(automation.steps):
            if not isinstance(step, GoalStep):
                continue
            for index, criterion in enumerate(step.criteria):
                lookback = parse_duration(criterion.lookback) if criterion.lookback else None
                entry = (position, index, criterion, lookback)
                if isinstance(criterion, CustomCriterion) and criterion.name is not None:
                    self.named.setdefault(criterion.name, []).append(entry)
                else:
                    self.by_type.setdefault(criterion.event, []).append(entry)

    def candidates(self, event: ContactEvent) -> Iterator[Entry]:
        """The criteria that may meet `event`: every other one rejects it on its type or name."""
        yield from self.by_type.get(event.type, ())
        if event.type == "custom":
            name = event.data.get("name")
            # A criterion's name is a string: no other value equals it.
            if isinstance(name, str):
                yield from self.named.get(name, ())


_indexes: dict[int, GoalIndex] = {}
_lock = threading.Lock()


def goal_index(automation: Automation) -> GoalIndex:
    """The index of `automation`, built on first use and dropped with the object."""
    key = id(automation)
    found = _indexes.get(key)
    if found is not None:
        return found
    built = GoalIndex(automation)
    with _lock:
        found = _indexes.get(key)
        if found is not None:
            return found
        _indexes[key] = built
        # The id can only be reused once the object is gone, and then the entry is gone too.
        weakref.finalize(automation, _indexes.pop, key, None)
    return built
