"""A real goalflow stack for tests: the dev server, a worker, the app over HTTP, the SMTP sink."""

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
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.dev import serving
from goalflow.core.outbound import LOOPBACK_NETWORKS
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import SmtpSink

if TYPE_CHECKING:
    pass

# As under `goalflow dev`: webhook steps in tests call receivers on this machine. Set in the
# environment so that every Settings() of every test, and every process a test starts, sees it;
# tests of the outbound guard build their own policy.
os.environ.setdefault("GOALFLOW_OUTBOUND_ALLOWED_NETWORKS", LOOPBACK_NETWORKS)


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
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                timeout=30,
                # The client drops idle connections long before the server does (its keep-alive
                # is GOALFLOW_HTTP_KEEP_ALIVE_SECONDS, 75 s): a request sent on a connection the
                # server is closing at that moment is reset (ReadError).
                limits=httpx.Limits(keepalive_expiry=1.0),
            ) as http,
        ):
            yield Stack(f"http://127.0.0.1:{port}", http, settings, env, data_dir / "outbox")
    finally:
        sink.stop()


def own_stack(name: str) -> Any:
    """A module-scoped `stack` fixture for a module of its own: its own task queue, so its own
    catalog of automations. For modules that publish triggers any contact may meet (on every
    contact created, every new appointment, a field every test may set): on the shared stack
    they would enroll, and email, the contacts of the tests that run after them.

        stack = own_stack("walkthrough")
    """

    @pytest.fixture(scope="module")
    async def stack(
        dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[Stack]:
        async with open_stack(dev_env, tmp_path_factory.mktemp(name)) as opened:
            yield opened

    return stack
