"""Shared fixtures: one embedded Temporal dev server and one time-skipping server per session."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.binaries import temporal_cli
from goalflow.cli.dev import serving
from goalflow.core.outbound import LOOPBACK_NETWORKS
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink
from tests.helpers import temporal_test_server
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A real goalflow stack: the dev server, a worker, the app over HTTP, the SMTP sink."""

    url: str
    http: httpx.AsyncClient
    settings: Settings
    env: WorkflowEnvironment
    outbox_dir: Path


@asynccontextmanager
async def open_stack(
    env: WorkflowEnvironment, data_dir: Path, **extra: Any
) -> AsyncIterator[Stack]:
    """Bring a stack up on `env`: a worker on a task queue of its own, the app over HTTP, the
    SMTP sink. `extra` settings (by environment name) are added to the usual ones."""
    sink = SmtpSink(data_dir / "outbox", "127.0.0.1", free_port())
    sink.start()
    port = free_port()
    settings = Settings.model_validate(
        {
            "GOALFLOW_TASK_QUEUE": f"stack-{uuid.uuid4()}",
            "GOALFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
            "GOALFLOW_DEV": True,
            "GOALFLOW_DATA_DIR": str(data_dir),
            "GOALFLOW_MAX_BODY_BYTES": 1_000_000,
            **extra,
        }
    )
    try:
        async with (
            serving(env.client, settings, host="127.0.0.1", port=port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            yield Stack(f"http://127.0.0.1:{port}", http, settings, env, data_dir / "outbox")
    finally:
        sink.stop()


@pytest.fixture(scope="session")
async def stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, tmp_path_factory.mktemp("goalflow-data")) as opened:
        yield opened


# The dashboard's browser tests (tests/dashboard_browser.py has their helpers).


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    from tests.dashboard_browser import chromium

    async with chromium() as browser:
        yield browser


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized page that fails its test when a dialog opens (a script that should not
    have run) or the pages report a Content Security Policy violation."""
    from tests.dashboard_browser import csp_violations

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
