"""A goalflow stack for one benchmark run: the embedded Temporal dev server (unless
TEMPORAL_ADDRESS is given), the SMTP sink, a goalflow worker, the floor worker and the API served
over real HTTP, as `goalflow dev` and the test fixtures assemble them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.worker import Worker

from goalflow.core.settings import Settings
from goalflow_bench.floor import FloorWorkflow

HOST = "127.0.0.1"


@dataclass
class StackOptions:
    temporal_address: str | None = None  # an existing server; None starts the embedded one
    namespace: str = "default"
    worker_process: bool = False  # run the workers as `goalflow worker` subprocesses
    # A directory the stack keeps (the embedded server's SQLite file, the outbox) instead of a
    # temporary one: a later run on it starts where this one stopped (see `_kept`).
    keep: Path | None = None


@dataclass
class Stack:
    url: str
    http: httpx.AsyncClient  # to the API, for the benchmark's own requests
    client: Client  # the Temporal client (shared with the in-process worker and API)
    settings: Settings
    floor_task_queue: str
    data_dir: Path
    embedded: bool
    worker_process: bool
    worker_pid: int  # the goalflow worker's process (ours when in-process)
    temporal_pid: int | None  # the embedded server's process
    extra_pids: tuple[int, ...] = ()  # worker subprocesses
    # Queries sent through `client` (by the API and the benchmark), by query name and the kind
    # of workflow asked (`get on automation`): queries leave no trace in any history.
    queries: Counter[str] = field(default_factory=Counter)

    def python_pids(self) -> list[int]:
        """Our process (driver, API, and the workers when in-process) and any worker process."""
        return sorted({os.getpid(), self.worker_pid, *self.extra_pids})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class QueryCounter(Interceptor):
    """A client interceptor counting the queries the client sends. Each one is a query received
    by a worker, which Temporal Cloud bills as an action."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        # The same queries per (query, workflow id), for tests that share a namespace.
        self.by_workflow: Counter[tuple[str, str]] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _CountingOutbound(next, self)


class _CountingOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, counter: QueryCounter) -> None:
        super().__init__(next)
        self.counter = counter

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        kind = input.id.split(":", 1)[0] if ":" in input.id else input.id
        self.counter.counts[f"{input.query} on {kind}"] += 1
        self.counter.by_workflow[(input.query, input.id)] += 1
        return await super().query_workflow(input)


async def _wait_for_pollers(client: Client, task_queue: str, process: subprocess.Popen[bytes]):
    """A subprocess worker is ready once it polls its task queue."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if described.pollers:
            return
        if process.poll() is not None:
            raise SystemExit(f"goalflow bench: a worker exited ({process.returncode})")
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit("goalflow bench: a worker did not start polling within 60 s")
        await asyncio.sleep(0.1)


def _spawn(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        list(args), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


@asynccontextmanager
async def open_stack(options: StackOptions) -> AsyncIterator[Stack]:
    from goalflow.cli.dev import (
        DevOptions,
        serving,
        start_temporal,
        stop_process,
        wait_for_temporal,
    )
    from goalflow.core.namespace import prepare_namespace
    from goalflow.core.smtp_sink import SmtpSink

    if options.keep is not None and options.temporal_address is not None:
        raise SystemExit("goalflow bench: --keep keeps the embedded server; unset TEMPORAL_ADDRESS")
    if options.keep is not None:
        data_dir = options.keep
        data_dir.mkdir(parents=True, exist_ok=True)
        kept = _kept(data_dir)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="goalflow-bench-"))
        kept = _fresh()
    # The API's socket is bound now and handed to uvicorn: no other process can take the port
    # between choosing it and serving on it (the tests run beside other stacks).
    api_socket = socket.socket()
    api_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    api_socket.bind((HOST, 0))
    api_port = int(api_socket.getsockname()[1])
    smtp_port = free_port()
    temporal: subprocess.Popen[bytes] | None = None
    processes: list[subprocess.Popen[bytes]] = []
    sink = SmtpSink(data_dir / "outbox", HOST, smtp_port)
    try:
        async with AsyncExitStack() as stack:
            address = options.temporal_address
            if address is None:
                dev = DevOptions(
                    HOST, api_port, kept["temporal_port"], kept["ui_port"], smtp_port, data_dir
                )
                temporal = start_temporal(dev)
                address = f"{HOST}:{dev.temporal_port}"
            values = {
                "TEMPORAL_ADDRESS": address,
                "TEMPORAL_NAMESPACE": options.namespace,
                "GOALFLOW_TASK_QUEUE": kept["task_queue"],
                "GOALFLOW_PUBLIC_URL": f"http://{HOST}:{api_port}",
                "GOALFLOW_SMTP_URL": f"smtp://{HOST}:{smtp_port}",
                "GOALFLOW_SECRET": kept["secret"],
                "GOALFLOW_DEV": "true",
                "GOALFLOW_DATA_DIR": str(data_dir),
                "GOALFLOW_LOG_FORMAT": "console",
            }
            settings = Settings.model_validate(values)
            connected = await wait_for_temporal(settings, temporal)
            queries = QueryCounter()
            config = connected.config()
            config["interceptors"] = [*config["interceptors"], queries]
            client = Client(**config)
            if temporal is None:
                await prepare_namespace(client, register=True)
            sink.start()
            floor_queue = kept["floor_task_queue"]
            if options.worker_process:
                env = {**os.environ, **values}
                worker = _spawn(
                    [sys.executable, "-m", "goalflow.cli", "worker"], env, data_dir / "worker.log"
                )
                processes.append(worker)
                floor = _spawn(
                    [sys.executable, "-m", "goalflow_bench.floor_worker", floor_queue],
                    env,
                    data_dir / "floor-worker.log",
                )
                processes.append(floor)
                await _wait_for_pollers(client, settings.task_queue, worker)
                await _wait_for_pollers(client, floor_queue, floor)
                worker_pid = worker.pid
            else:
                await stack.enter_async_context(
                    Worker(client, task_queue=floor_queue, workflows=[FloorWorkflow])
                )
                worker_pid = os.getpid()
            await stack.enter_async_context(
                serving(
                    client,
                    settings,
                    host=HOST,
                    port=api_port,
                    sock=api_socket,
                    worker=not options.worker_process,
                    access_log=False,
                    # A request stuck in Temporal must not hold the teardown forever.
                    timeout_graceful_shutdown=5,
                )
            )
            url = f"http://{HOST}:{api_port}"
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=120, limits=limits)
            )
            yield Stack(
                url=url,
                http=http,
                client=client,
                settings=settings,
                floor_task_queue=floor_queue,
                data_dir=data_dir,
                embedded=temporal is not None,
                temporal_pid=temporal.pid if temporal is not None else None,
                extra_pids=tuple(process.pid for process in processes),
                worker_process=options.worker_process,
                worker_pid=worker_pid,
                queries=queries.counts,
            )
    finally:
        for process in processes:
            stop_process(process)
        sink.stop()
        if temporal is not None:
            stop_process(temporal)
        api_socket.close()
        if options.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def _fresh() -> dict[str, Any]:
    """What names a stack: its task queues, its secret and the embedded server's ports."""
    return {
        "task_queue": f"bench-{uuid.uuid4().hex[:8]}",
        "floor_task_queue": f"bench-floor-{uuid.uuid4().hex[:8]}",
        "secret": uuid.uuid4().hex,
        "temporal_port": free_port(),
        "ui_port": free_port(),
    }


def _kept(data_dir: Path) -> dict[str, Any]:
    """A kept stack's names, chosen on its first run and reused by every later one: the
    workflows it holds wait on its task queues, and the server's file was made on its ports."""
    path = data_dir / "stack.json"
    if path.exists():
        kept: dict[str, Any] = json.loads(path.read_text())
        for port in ("temporal_port", "ui_port"):
            with socket.socket() as sock:
                # As the server binds it: connections of a stopped run in TIME_WAIT don't count.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((HOST, kept[port]))
                except OSError:
                    raise SystemExit(
                        f"goalflow bench: port {kept[port]} of the kept stack in {data_dir} is "
                        "taken; stop what holds it (an earlier run's server?) and run again"
                    ) from None
        return kept
    kept = _fresh()
    path.write_text(json.dumps(kept))
    return kept
