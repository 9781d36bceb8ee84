"""`python -m goalflow_bench.sandbox`: worker memory per cached workflow, and the time to create
a workflow instance, by sandbox setting.

Temporal's sandbox executes a workflow's module afresh for each workflow instance it keeps, so
that workflow code cannot share state between workflows or reach non-deterministic calls
unnoticed. goalflow's workflow modules import their deterministic, side-effect-free helpers
(`workflows.definition`, `workflows.messages`, `workflows.matching`, `workflows.action_table`,
…) passed through (`workflow.unsafe.imports_passed_through()`): one copy per process, not per
workflow. What is executed per workflow is the workflow module itself with the Temporal-facing
pieces it wires (`workflows/contact.py` with `contact_queue.py`, `contact_profile.py`,
`contact_enrollments.py`, `contact_triggers.py`, `contact_budget.py`; `workflows/enrollment.py`
with `actions.py`, `enrollment_migration.py`, `pause.py`, `visibility.py`, `reporting.py`), under
the sandbox's guard, from code objects compiled once per process
(`goalflow/core/workflow_code.py`).

This holds `--enrollments` contacts at a one-day wait (two cached workflows each: the contact and
its enrollment), in a worker process of its own per setting, and reports the worker's resident
memory per cached workflow and the time each workflow instance took to create (the runner's
`create_instance`, timed by a wrapper) for: the worker as shipped; the same without the
compile-once finder (the SDK's sandbox as it comes); the `workflows` package passed
through as a whole (the workflow modules too, so their code runs outside the guard); every module
passed through; and no sandbox at all. Each worker runs against one embedded Temporal dev server.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from goalflow.cli.binaries import temporal_cli
from goalflow.core.validation import parse_automation
from goalflow.core.workflow_code import sandboxed_runner
from goalflow_bench.report import rss_mb
from worker import WORKFLOWS
from workflows.contact import ContactWorkflowV2, contact_start
from workflows.enrollment import EnrollmentWorkflowV2
from workflows.messages import ContactProfile, EnrollRequest

HELD = parse_automation(
    {"name": "held", "steps": [{"id": "hold", "type": "wait", "duration": "P1D"}]}
)[0]
WARM_UP = 20


def _runner(variant: str) -> WorkflowRunner:
    if variant == "shipped":
        return sandboxed_runner()
    if variant == "without-compile-once":
        # The SDK's sandbox as it comes: each instance loads its modules' code again (from the
        # bytecode cache, or by compiling the source where there is none).
        return SandboxedWorkflowRunner()
    if variant == "workflows-package-passed-through":
        restrictions = SandboxRestrictions.default.with_passthrough_modules("workflows")
        return SandboxedWorkflowRunner(restrictions=restrictions)
    if variant == "all-modules-passed-through":
        restrictions = SandboxRestrictions.default.with_passthrough_all_modules()
        return SandboxedWorkflowRunner(restrictions=restrictions)
    if variant == "unsandboxed":
        return UnsandboxedWorkflowRunner()
    raise ValueError(f"unknown variant {variant!r}")


class TimedRunner(WorkflowRunner):
    """Another runner, with the time each workflow instance takes to create: for the sandbox,
    executing the workflow's module afresh, then the workflow object."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    def prepare_workflow(self, defn: Any) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        started = time.perf_counter()
        try:
            return self.inner.create_instance(det)
        finally:
            self.seconds.append(time.perf_counter() - started)

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


VARIANTS = (
    "shipped",
    "without-compile-once",
    "workflows-package-passed-through",
    "all-modules-passed-through",
    "unsandboxed",
)


async def _hold(client: Client, task_queue: str, prefix: str, count: int) -> None:
    """`count` contacts enrolled into HELD, returned once every enrollment is at its wait."""
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        contact_id = f"{prefix}-{n}"
        async with gate:
            enrolled = await client.execute_update_with_start_workflow(
                ContactWorkflowV2.enroll,
                EnrollRequest(
                    automation_id="held",
                    version=1,
                    automation=HELD,
                    contact=ContactProfile(id=contact_id),
                    search_attributes=False,
                ),
                start_workflow_operation=contact_start(contact_id, task_queue),
            )
            handle = client.get_workflow_handle(enrolled.enrollment_id)
            for _ in range(600):
                if (await handle.query(EnrollmentWorkflowV2.view)).waiting is not None:
                    return
                await asyncio.sleep(0.05)
            raise RuntimeError(f"{enrolled.enrollment_id} did not reach its wait in 30 s")

    await asyncio.gather(*(one(n) for n in range(count)))


async def _child(variant: str, address: str, count: int) -> dict[str, Any]:
    """One worker with `variant`'s runner: its RSS per cached workflow."""
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    task_queue = f"sandbox-{variant}-{uuid.uuid4().hex[:6]}"
    runner = TimedRunner(_runner(variant))
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[],
        workflow_runner=runner,
        max_cached_workflows=2 * (count + WARM_UP) + 100,
    )
    async with worker:
        await _hold(client, task_queue, f"warm-{task_queue}", WARM_UP)
        gc.collect()
        before = rss_mb(os.getpid()) or 0.0
        runner.seconds.clear()
        await _hold(client, task_queue, f"held-{task_queue}", count)
        gc.collect()
        after = rss_mb(os.getpid()) or 0.0
    cached = 2 * count
    created = [1000 * seconds for seconds in runner.seconds]
    return {
        "variant": variant,
        "cached_workflows": cached,
        "rss_before_mb": round(before, 1),
        "rss_holding_mb": round(after, 1),
        "kib_per_cached_workflow": round((after - before) * 1024 / cached, 1),
        "instances_created": len(created),
        "ms_per_instance": round(statistics.mean(created), 2) if created else None,
        "ms_per_instance_p50": round(statistics.median(created), 2) if created else None,
    }


async def main(count: int) -> list[dict[str, Any]]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=temporal_cli()
    )
    results = []
    async with env:
        address = env.client.service_client.config.target_host
        for variant in VARIANTS:
            print(f"[sandbox] {variant}: holding {count} contacts", file=sys.stderr)
            child = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "goalflow_bench.sandbox", "--child", variant],
                *["--address", address, "--enrollments", str(count)],
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await child.communicate()
            if child.returncode != 0:
                raise SystemExit(f"the {variant} worker failed ({child.returncode})")
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrollments", type=int, default=500)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.address, args.enrollments))))
        _exit_now()
    results = asyncio.run(main(args.enrollments))
    print(
        f"{'setting':34} {'cached':>7} {'RSS before':>11} {'holding':>9} {'KiB/workflow':>13}"
        f" {'ms/instance':>12} {'p50':>6}"
    )
    for r in results:
        print(
            f"{r['variant']:34} {r['cached_workflows']:>7} {r['rss_before_mb']:>9.1f}MB"
            f" {r['rss_holding_mb']:>7.1f}MB {r['kib_per_cached_workflow']:>13.1f}"
            f" {r['ms_per_instance']:>12} {r['ms_per_instance_p50']:>6}"
        )
    _exit_now()


def _exit_now() -> NoReturn:
    """Exit once the output is out. Seen on exit after these runs, in the command and in its
    worker processes: the Temporal runtime's threads abort interpreter finalization
    (PyGILState_Release, signal 6; once signal 11). Nothing is left to clean up."""
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    cli()
