"""The worker takes its cache size from the settings, and refuses one too small for local
activities."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import KIB_PER_CACHED_WORKFLOW, MIN_WORKER_CACHE_MB, Settings
from worker import build_worker


async def test_cache_size_comes_from_the_setting(dev_env: WorkflowEnvironment) -> None:
    async with httpx.AsyncClient() as http:
        default = build_worker(dev_env.client, Settings(), http, task_queue="cache-a")
        chosen = build_worker(
            dev_env.client,
            Settings.model_validate({"GOALFLOW_WORKER_CACHED_WORKFLOWS": 250}),
            http,
            task_queue="cache-b",
        )
    assert default.config().get("max_cached_workflows") == 1000
    assert chosen.config().get("max_cached_workflows") == 250


@pytest.mark.parametrize("size", [0, 1, 99])
def test_a_cache_too_small_for_local_activities_is_refused(size: int) -> None:
    with pytest.raises(ValidationError, match="GOALFLOW_WORKER_CACHED_WORKFLOWS"):
        Settings.model_validate({"GOALFLOW_WORKER_CACHED_WORKFLOWS": size})


async def test_cache_size_from_a_memory_budget(dev_env: WorkflowEnvironment) -> None:
    budget = Settings.model_validate({"GOALFLOW_WORKER_CACHE_MB": 200})
    async with httpx.AsyncClient() as http:
        worker = build_worker(dev_env.client, budget, http, task_queue="cache-mb")
    assert worker.config().get("max_cached_workflows") == 200 * 1024 // KIB_PER_CACHED_WORKFLOW
    assert worker.config().get("max_cached_workflows") == 1024


def test_a_memory_budget_too_small_or_beside_a_count_is_refused() -> None:
    with pytest.raises(ValidationError, match="GOALFLOW_WORKER_CACHE_MB"):
        Settings.model_validate({"GOALFLOW_WORKER_CACHE_MB": MIN_WORKER_CACHE_MB - 1})
    smallest = Settings.model_validate({"GOALFLOW_WORKER_CACHE_MB": MIN_WORKER_CACHE_MB})
    assert smallest.worker_cache_size >= 100
    with pytest.raises(ValidationError, match="not both"):
        Settings.model_validate(
            {"GOALFLOW_WORKER_CACHE_MB": 400, "GOALFLOW_WORKER_CACHED_WORKFLOWS": 500}
        )
