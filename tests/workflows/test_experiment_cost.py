"""What a split and a holdout cost in Temporal actions, counted from real enrollment histories
on the dev server (search attributes on) by `goalflow bench cost`'s counter, on its definitions:
a split costs what the branch it replaces costs, a held-out enrollment what a bare wait costs."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from goalflow_bench.actions import count_actions
from goalflow_bench.cost import runs_of
from goalflow_bench.experiment_cost import (
    BARE_WAIT,
    BRANCH,
    HELD_OUT,
    HOLDOUT,
    SPLIT,
    contact_where,
    two_ways,
)
from tests.support.helpers import WorkflowDriver, new_id, running_engine
from workflows.definition import Holdout, SplitStep
from workflows.experiments import is_held_out, split_path


@pytest.fixture
async def engine(dev_env: WorkflowEnvironment) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(dev_env) as engine:
        assert engine.search_attributes
        yield engine


async def actions(
    engine: WorkflowDriver, definition: dict[str, Any], contact_id: str, **kw: Any
) -> Counter[str]:
    """The enrollment's actions, from its ended history."""
    automation_id = kw.pop("automation_id")
    enrolled = await engine.enroll(definition, contact_id, automation_id=automation_id, **kw)
    final = await engine.result(enrolled.enrollment_id)
    assert final.status == "completed", final
    counted: Counter[str] = Counter()
    for run in await runs_of(engine.client, enrolled.enrollment_id):
        counted += count_actions(run)
    return counted


async def test_a_split_costs_what_the_branch_it_replaces_costs(engine: WorkflowDriver) -> None:
    automation = new_id("a")
    step = SplitStep.model_validate(SPLIT)
    on_a = contact_where(lambda c: split_path(automation, c, step).id == "a", "on-a")
    split = await actions(engine, two_ways(SPLIT), on_a, automation_id=automation)
    branch = await actions(
        engine, two_ways(BRANCH), new_id(), automation_id=new_id("a"), contact={"tags": ["x"]}
    )
    assert split == branch and split["timers"] == 1


async def test_a_held_out_enrollment_costs_what_a_bare_wait_costs(engine: WorkflowDriver) -> None:
    automation = new_id("a")
    held = contact_where(
        lambda c: is_held_out(automation, c, Holdout.model_validate(HOLDOUT)), "held"
    )
    held_out = await actions(engine, HELD_OUT, held, automation_id=automation)
    bare = await actions(engine, BARE_WAIT, new_id(), automation_id=new_id("a"))
    # One timer (the window), no activity, no search-attribute write: it starts with them.
    assert held_out == bare and set(held_out) == {"timers"}, held_out
