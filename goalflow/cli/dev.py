"""`goalflow dev`: the embedded Temporal dev server, a worker, the API and the SMTP sink in one
process tree, with state kept in the data dir across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.client import Client

from goalflow.cli.binaries import temporal_cli
from goalflow.core.namespace import cli_type, prepare_namespace
from goalflow.core.outbound import LOOPBACK_NETWORKS
from goalflow.core.settings import Settings
from goalflow.core.temporal import connect
from workflows.search_attributes import SEARCH_ATTRIBUTES


class PortTaken(SystemExit):
    pass


@dataclass
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    smtp_port: int = 1025
    data_dir: Path = Path(".goalflow")


def ensure_port_free(host: str, port: int, what: str, flag: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PortTaken(
                f"goalflow dev: port {port} on {host} ({what}) is taken: {err.strerror}. "
                f"Stop what uses it or choose another with {flag}."
            ) from err


# SQLite's write-ahead log instead of its default rollback journal: each commit appends to one
# file and syncs it once, where the rollback journal writes every page twice with several syncs.
# `synchronous=full` keeps every acknowledged commit on disk (an accepted event survives a power
# cut). `goalflow bench throughput --contacts 200`, back to back: 6.0 → 9.8 enrollments/s, server
# CPU per unit 127 → 96 ms (docs/benchmarks.md).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")


def start_temporal(options: DevOptions) -> subprocess.Popen[bytes]:
    """The embedded dev server on a SQLite file in the data dir, with its web UI."""
    args = [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str(options.data_dir / "temporal.db"),
        "--ip",
        options.host,
        "--port",
        str(options.temporal_port),
        "--ui-port",
        str(options.ui_port),
        "--log-level",
        "warn",
    ]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}={cli_type(key.indexed_value_type)}"]
    log = (options.data_dir / "temporal.log").open("ab")
    # A session of its own: Ctrl-C reaches us, and we stop Temporal last, cleanly.
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def wait_for_temporal(settings: Settings, server: subprocess.Popen[bytes] | None) -> Client:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            return await connect(settings)
        except Exception as err:  # not up yet
            if server is not None and server.poll() is not None:
                raise SystemExit(
                    f"goalflow dev: the Temporal dev server exited ({server.returncode}); "
                    "see temporal.log in the data dir"
                ) from err
            if asyncio.get_running_loop().time() > deadline:
                raise SystemExit(f"goalflow dev: Temporal did not answer: {err}") from err
            await asyncio.sleep(0.25)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: whoever runs the stack stops every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(
    client: Client,
    settings: Settings,
    *,
    host: str,
    port: int = 0,
    sock: socket.socket | None = None,
    worker: bool = True,
    shutdown_timeout: float | None = None,
    **uvicorn_options: Any,
) -> AsyncIterator[asyncio.Task[None]]:
    """The goalflow worker (unless the caller runs its own) and the API over real HTTP on one
    Temporal client: the bring-up `goalflow dev`, `goalflow bench` and the test fixtures share.
    Yields once the API answers, the task serving it; on exit the API stops, then the worker."""
    from api.main import create_app
    from worker import build_worker

    async with contextlib.AsyncExitStack() as stack:
        if worker:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            await stack.enter_async_context(build_worker(client, settings, http))
        config = uvicorn.Config(
            create_app(settings, client),
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=settings.http_keep_alive_seconds,
            **uvicorn_options,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if task.done():
            task.result()
            raise SystemExit("goalflow: the API did not start")
        try:
            yield task
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=shutdown_timeout)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def run_dev(options: DevOptions) -> None:
    from goalflow.core.smtp_sink import SmtpSink

    options.data_dir.mkdir(parents=True, exist_ok=True)
    external = os.environ.get("TEMPORAL_ADDRESS")
    ensure_port_free(options.host, options.port, "the API", "--port")
    ensure_port_free(options.host, options.smtp_port, "the SMTP sink", "--smtp-port")
    if not external:
        ensure_port_free(options.host, options.temporal_port, "Temporal", "--temporal-port")
        ensure_port_free(options.host, options.ui_port, "the Temporal UI", "--ui-port")

    public_url = os.environ.get("GOALFLOW_PUBLIC_URL", f"http://{options.host}:{options.port}")
    temporal_ui_url = os.environ.get("GOALFLOW_TEMPORAL_UI_URL") or (
        None if external else f"http://{options.host}:{options.ui_port}"
    )
    settings = Settings.model_validate(
        {
            **{k: v for k, v in os.environ.items() if k.isupper()},
            "TEMPORAL_ADDRESS": external or f"{options.host}:{options.temporal_port}",
            "GOALFLOW_PUBLIC_URL": public_url,
            "GOALFLOW_TEMPORAL_UI_URL": temporal_ui_url,
            "GOALFLOW_SMTP_URL": f"smtp://{options.host}:{options.smtp_port}",
            "GOALFLOW_DEV": True,
            "GOALFLOW_DATA_DIR": str(options.data_dir),
            # The worker's namespace check creates missing search attributes (an external server).
            "GOALFLOW_REGISTER_SEARCH_ATTRIBUTES": os.environ.get(
                "GOALFLOW_REGISTER_SEARCH_ATTRIBUTES", "true"
            ),
            # On a laptop, webhook steps may call this machine (unless told otherwise).
            "GOALFLOW_OUTBOUND_ALLOWED_NETWORKS": os.environ.get(
                "GOALFLOW_OUTBOUND_ALLOWED_NETWORKS", LOOPBACK_NETWORKS
            ),
        }
    )
    temporal = None if external else start_temporal(options)
    sink = SmtpSink(options.data_dir / "outbox", options.host, options.smtp_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await wait_for_temporal(settings, temporal)
        await prepare_namespace(client, register=settings.register_search_attributes)
        sink.start()
        async with serving(
            client, settings, host=options.host, port=options.port, shutdown_timeout=15
        ) as api:
            _print_urls(options, settings, external)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({api, stopping}, return_when=asyncio.FIRST_COMPLETED)
            print("goalflow dev: stopping…", flush=True)
    finally:
        sink.stop()
        if temporal is not None:
            stop_process(temporal)
    print("goalflow dev: stopped", flush=True)


def _print_urls(options: DevOptions, settings: Settings, external: str | None) -> None:
    api = f"http://{options.host}:{options.port}"
    lines = [
        "goalflow dev is running",
        f"  Dashboard      {api}/ui",
        f"  API            {api}   (docs: {api}/docs)",
        f"  Temporal       {settings.temporal_address}"
        + ("   (external)" if external else "   (embedded dev server)"),
    ]
    if settings.temporal_ui_url:
        lines.append(f"  Temporal UI    {settings.temporal_ui_url}")
    lines += [
        f"  SMTP sink      smtp://{options.host}:{options.smtp_port}"
        f"   (outbox: {api}/v1/dev/outbox)",
        f"  data dir       {options.data_dir}",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
