"""What the crash drills (tests/e2e/test_drills.py) run on: real processes, a Temporal dev server of
their own, an SMTP sink that holds its reply, and the probes the drills poll.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from goalflow.cli.dev import stop_process
from goalflow.core.smtp_sink import append_message, email_record
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import free_port
from workflows.messages import ContactProfile, EnrollmentView

# --- processes ---------------------------------------------------------------------------------


def goalflow_command(*args: str) -> list[str]:
    """`goalflow ...` from this virtual environment."""
    script = Path(sys.executable).with_name("goalflow")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "goalflow.cli", *args]


def _die_with_parent() -> None:
    """Linux: SIGKILL the child if the test run itself dies, so no drill process outlives it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Process:
    """A goalflow process of our own, with its output in a log file for failure messages."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        # Settings of the shell running the tests must not leak into the drill.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GOALFLOW_", "TEMPORAL_"))}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                args,
                env={**base, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, in-flight work is simply gone."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        stop_process(self.popen)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Process] = []

    def worker(self, env: dict[str, str], name: str = "worker") -> Process:
        return self._start(name, goalflow_command("worker"), env)

    def api(self, port: int, env: dict[str, str], name: str = "api") -> Process:
        args = goalflow_command("api", "--host", "127.0.0.1", "--port", str(port))
        return self._start(name, args, env)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = Process(name, args, env, self.log_dir)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@dataclass
class DrillServer:
    """A Temporal dev server of the drills' own, and the one task queue they all use.

    Not the session's `dev_env`: the catalog workflow is one per namespace and runs on the task
    queue of whoever published first, so a drill whose workers are gone would leave it (and every
    later publish of other tests) without a worker. Drills run one after another on one queue,
    each stopping its workers at its end.
    """

    client: Client
    address: str
    queue: str


async def poller_identities(client: Client, task_queue: str) -> set[str]:
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity for poller in answer.pollers}


async def polling(client: Client, task_queue: str, worker: Process) -> None:
    """Wait until `worker` polls `task_queue` (the SDK's identity is "pid@host")."""

    def seen(identities: set[str]) -> bool:
        if worker.popen.poll() is not None:
            raise AssertionError(f"{worker.name} exited:\n{worker.output()}")
        return any(i.startswith(f"{worker.pid}@") for i in identities)

    await assert_eventually(lambda: poller_identities(client, task_queue), seen, within=60)


async def workflow_task_identities(client: Client, workflow_id: str) -> list[str]:
    """Who completed each workflow task of a workflow, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        event.workflow_task_completed_event_attributes.identity
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]


async def count_events(client: Client, workflow_id: str, kind: EventType.ValueType) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for event in history.events if event.event_type == kind)


# --- the SMTP sink that holds its reply --------------------------------------------------------


class HoldingSink:
    """An SMTP sink that stores each message as soon as it has it, then holds the 250 reply for
    `hold` seconds. A sender killed meanwhile never learns that its message went out: what a
    crash in mid-send looks like from the sending side. Messages whose reply never left (the
    connection dropped during the hold) are listed in `unconfirmed`."""

    def __init__(self, directory: Path, hold: float) -> None:
        self.directory = directory
        self.hold = hold
        self.holding: set[str] = set()
        self.unconfirmed: list[str] = []
        # When each message arrived (time.monotonic()), to tell what came before a kill.
        self.arrivals: dict[str, float] = {}
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def held(self) -> set[str]:
        with self._lock:
            return set(self.holding)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        record = email_record(envelope.original_content or b"", list(envelope.rcpt_tos))
        append_message(self.directory, record)
        message_id = str(record["message_id"])
        with self._lock:
            self.holding.add(message_id)
            self.arrivals.setdefault(message_id, time.monotonic())
        try:
            await asyncio.sleep(self.hold)
        except asyncio.CancelledError:
            with self._lock:
                self.unconfirmed.append(message_id)
            raise
        finally:
            with self._lock:
                self.holding.discard(message_id)
        return "250 Message accepted for delivery"

    def __enter__(self) -> HoldingSink:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- shared drill pieces -----------------------------------------------------------------------


async def publish(goalflow: GoalflowService, definition: dict[str, Any]) -> str:
    automation_id = new_id("drill")
    automation, _ = parse_automation(definition)
    await goalflow.publish(automation_id, automation)
    return automation_id


async def enroll_all(
    goalflow: GoalflowService, automation_id: str, contacts: list[str]
) -> list[str]:
    results = await asyncio.gather(
        *(
            goalflow.enroll(
                automation_id, ContactProfile(id=c, email=f"{c}@example.com", first_name="Ada")
            )
            for c in contacts
        )
    )
    assert all(r.created for r in results)
    return [r.enrollment_id for r in results]


async def views(goalflow: GoalflowService, enrollment_ids: list[str]) -> list[EnrollmentView]:
    return list(await asyncio.gather(*(goalflow.enrollment(e) for e in enrollment_ids)))


def timeline(view: EnrollmentView) -> list[tuple[str, str | None]]:
    return [(entry.kind, entry.step_id) for entry in view.timeline]


def waiting_at(step_id: str) -> Any:
    def check(found: list[EnrollmentView]) -> bool:
        return all(v.waiting is not None and v.current_step == step_id for v in found)

    return check


def reached(step_id: str) -> Any:
    """Every enrollment has waited at `step_id` (it may be past it already: a condition that
    stays true once met, so a slow poll cannot miss it)."""

    def check(found: list[EnrollmentView]) -> bool:
        return all(("waiting", step_id) in timeline(v) for v in found)

    return check


def all_ended(found: list[EnrollmentView]) -> bool:
    return all(v.status != "active" for v in found)


def probe_value(read: Any) -> Any:
    """An async probe for assert_eventually that reads a plain value."""

    async def probe() -> Any:
        return read()

    return probe


# A goal passed at once (unmet, continue) that every custom event meets afterwards: with
# `jump_from: above` nothing moves (R4), and each event leaves a goal_met entry with its id.
EVERY_EVENT = {
    "name": "every event",
    "steps": [
        {
            "id": "heard",
            "type": "goal",
            "any_of": [{"event": "custom"}],
            "if_unmet": {"action": "continue"},
        },
        {"id": "hold", "type": "wait", "duration": "P1D"},
    ],
}


def goal_met_ids(view: EnrollmentView) -> list[str]:
    return [e.detail["event_id"] for e in view.timeline if e.kind == "goal_met"]
