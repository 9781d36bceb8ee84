"""What a split and a holdout cost, in `goalflow bench cost`: one enrollment down a split's path
next to one down the if/else it replaces, and one held-out enrollment next to one through a bare
wait, each enrollment's history read back (all runs) and its billable actions counted by the same
rules as the reference work. The target: an experiment costs nothing beyond the steps it replaces.

The contacts are chosen, not drawn: assignment is a pure function of the automation and the
contact (workflows/experiments.py), so the bench picks a contact on path `a` and one held out.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from goalflow_bench import reference as ref
from goalflow_bench.actions import count_actions
from goalflow_bench.stack import Stack
from workflows.definition import Holdout, SplitStep
from workflows.experiments import is_held_out, split_path

SPLIT: dict[str, Any] = {
    "id": "ab",
    "type": "split",
    "paths": [{"id": "a", "weight": 50, "next": "w-a"}, {"id": "b", "weight": 50, "next": "w-b"}],
}
# What a split replaces: a branch on something the contact carries.
BRANCH: dict[str, Any] = {
    "id": "ab",
    "type": "if_else",
    "if": {"has_tag": "x"},
    "then": "w-a",
    "else": "w-b",
}
HOLDOUT: dict[str, Any] = {"percent": 50, "window": "PT1S"}
HELD_OUT: dict[str, Any] = {
    "name": "held out",
    "settings": {"holdout": HOLDOUT},
    "steps": [
        {"id": "hello", "type": "send_sms", "body": "hi"},
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "tag", "type": "add_tag", "tag": "x"},
    ],
}
# What a held-out enrollment does: nothing but wait out the holdout's window.
BARE_WAIT: dict[str, Any] = {
    "name": "bare wait",
    "steps": [{"id": "w", "type": "wait", "duration": "PT1S"}],
}


def two_ways(first: dict[str, Any]) -> dict[str, Any]:
    """`first` (a split or an if/else) choosing between two one-second waits."""
    return {
        "name": "two ways",
        "steps": [
            first,
            {"id": "w-a", "type": "wait", "duration": "PT1S"},
            {"id": "end-a", "type": "end"},
            {"id": "w-b", "type": "wait", "duration": "PT1S"},
        ],
    }


def contact_where(check: Callable[[str], bool], prefix: str) -> str:
    """A fresh contact id for which `check` holds (half of all ids do, for a 50/50 check)."""
    return next(c for c in (f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(10_000)) if check(c))


RunsOf = Callable[[Client, str], Awaitable[list[list[HistoryEvent]]]]


async def _actions(
    stack: Stack,
    runs_of: RunsOf,
    automation_id: str,
    definition: dict[str, Any],
    contact: dict[str, Any],
) -> dict[str, int]:
    """Publish, enroll `contact`, await the enrollment's end, count its actions."""
    published = await stack.http.put(f"/v1/automations/{automation_id}", json=definition)
    ref.check(published, f"PUT automation {automation_id}")
    enrolled = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": contact}
    )
    ref.check(enrolled, "POST enrollment")
    enrollment_id: str = enrolled.json()["enrollment_id"]
    view = await stack.client.get_workflow_handle(enrollment_id).result()
    if not (isinstance(view, dict) and view.get("status") == "completed"):
        raise ref.BenchError(f"enrollment {enrollment_id} ended {view!r:.200}")
    counted: Counter[str] = Counter()
    for run in await runs_of(stack.client, enrollment_id):
        counted += count_actions(run)
    return {**dict(sorted(counted.items())), "total": sum(counted.values())}


async def experiment_costs(stack: Stack, runs_of: RunsOf) -> dict[str, dict[str, int]]:
    """Actions of one enrollment each: `split` and the `if_else` it replaces, `held_out` and the
    `bare_wait` it amounts to; `runs_of` reads a workflow's history, every run."""
    run = uuid.uuid4().hex[:6]
    split_id, holdout_id = f"bench-split-{run}", f"bench-holdout-{run}"
    step = SplitStep.model_validate(SPLIT)
    on_a = contact_where(lambda c: split_path(split_id, c, step).id == "a", "split")
    holdout = Holdout.model_validate(HOLDOUT)
    held = contact_where(lambda c: is_held_out(holdout_id, c, holdout), "held")
    return {
        "split": await _actions(stack, runs_of, split_id, two_ways(SPLIT), {"id": on_a}),
        "if_else": await _actions(
            stack,
            runs_of,
            f"bench-branch-{run}",
            two_ways(BRANCH),
            {"id": f"branch-{run}", "tags": ["x"]},
        ),
        "held_out": await _actions(stack, runs_of, holdout_id, HELD_OUT, {"id": held}),
        "bare_wait": await _actions(
            stack, runs_of, f"bench-wait-{run}", BARE_WAIT, {"id": f"wait-{run}"}
        ),
    }
