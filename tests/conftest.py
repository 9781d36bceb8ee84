"""Shared fixtures: one embedded Temporal dev server and one time-skipping server per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.binaries import temporal_cli
from goalflow.core.outbound import LOOPBACK_NETWORKS
from tests.support.helpers import temporal_test_server
from tests.support.stack import Stack, open_stack
from workflows.search_attributes import SEARCH_ATTRIBUTES

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

# As under `goalflow dev`: webhook steps in tests call receivers on this machine. Set in the
# environment so that every Settings() of every test, and every process a test starts, sees it;
# tests of the outbound guard build their own policy.
os.environ.setdefault("GOALFLOW_OUTBOUND_ALLOWED_NETWORKS", LOOPBACK_NETWORKS)


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ],
    )
    async with env:
        yield env


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: its clock is global, and one test's timers
    must not hold up another's skipping."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, tmp_path_factory.mktemp("goalflow-data")) as opened:
        yield opened


# The dashboard's browser tests (tests/support/dashboard_browser.py has their helpers).


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    from tests.support.dashboard_browser import chromium

    async with chromium() as browser:
        yield browser


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized page that fails its test when a dialog opens (a script that should not
    have run) or the pages report a Content Security Policy violation."""
    from tests.support.dashboard_browser import csp_violations

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    violations = await csp_violations(page)
    yield page
    await context.close()
    assert not dialogs, f"a script ran on the page: {dialogs}"
    # The pages' own scripts and styles pass their Content Security Policy.
    assert not violations, violations


LAYERS = ("unit", "workflows", "api", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its layer, the folder below tests/ it lives in, so that
    `pytest -m unit` (or workflows, api, e2e) runs one layer."""
    for item in items:
        parts = item.path.relative_to(Path(__file__).parent).parts
        if parts and parts[0] in LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
