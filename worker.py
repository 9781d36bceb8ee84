"""The worker: what runs on the task queue. `python worker.py` = `goalflow worker`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import httpx
import structlog
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Worker

from activities.contacts import ContactActivities
from activities.dry_run import DryRunActivities
from activities.email import EmailActivities, SmtpConfig
from activities.migrations import MigrationActivities
from activities.reporting import ReportingActivities
from activities.sms import SmsActivities, sms_provider
from activities.triggers import TriggerActivities
from activities.webhook import WebhookActivities
from goalflow.core.namespace import NamespaceNotReady, prepare_namespace
from goalflow.core.production import UnsafeProductionSettings, require_production_ready
from goalflow.core.send_budget import MessageBudget
from goalflow.core.settings import Settings, get_settings
from goalflow.core.sms_recipients import PhoneDirectory
from goalflow.core.tracking import Tracker
from goalflow.core.workflow_code import sandboxed_runner
from workflows.automation import AutomationWorkflow, CatalogWorkflow
from workflows.bulk import BulkChunkWorkflow, BulkEnrollWorkflow
from workflows.contact import ContactWorkflowV2
from workflows.directory import ProfileKeyWorkflow
from workflows.drafts import DraftWorkflow
from workflows.dry_run import DryRunWorkflow
from workflows.enrollment import EnrollmentWorkflowV2
from workflows.migration_job import MigrationJobWorkflow
from workflows.phone_numbers import PhoneWorkflow
from workflows.reporting import OutcomeReportWorkflow
from workflows.sessions import DashboardLogoutWorkflow
from workflows.v1_types import ContactWorkflow, EnrollmentWorkflow

log = structlog.get_logger("goalflow.worker")

# Activities in flight get this long to finish once the worker is asked to stop.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# The process exits this long after being asked to stop, whatever is still running: a workflow
# task stuck in code that never yields (the SDK cannot interrupt a call that does not return to
# Python) would otherwise keep the shutdown, and the exit that joins its thread, waiting forever.
SHUTDOWN_DEADLINE = GRACEFUL_SHUTDOWN + timedelta(seconds=10)

WORKFLOWS: Sequence[type] = (
    ContactWorkflowV2,
    EnrollmentWorkflowV2,
    # The first types, for contacts and enrollments started before the V2 types existed.
    ContactWorkflow,
    EnrollmentWorkflow,
    AutomationWorkflow,
    CatalogWorkflow,
    BulkEnrollWorkflow,
    BulkChunkWorkflow,
    PhoneWorkflow,
    DashboardLogoutWorkflow,
    ProfileKeyWorkflow,
    DraftWorkflow,
    DryRunWorkflow,
    MigrationJobWorkflow,
    OutcomeReportWorkflow,
)


def activity_functions(
    settings: Settings,
    http: httpx.AsyncClient,
    client: Client | None = None,
    task_queue: str | None = None,
) -> list[Any]:
    """Every activity, bound to its clients (except those that call Temporal: see below).
    With `client`, SMS recipients are recorded (on `task_queue`) for attributing replies."""
    webhooks = WebhookActivities(settings.webhook_secret, settings.outbound_policy)
    tracker = Tracker(settings.secret, settings.public_url)
    queue = task_queue or settings.task_queue
    # R20: with the worker's client, sends ask the contact's message budget.
    budget = MessageBudget(client, queue) if client else None
    smtp = SmtpConfig.from_url(settings.smtp_url)
    emails = EmailActivities(smtp, tracker, settings.email_from, budget)
    directory = PhoneDirectory(client, queue, settings.secret) if client else None
    texts = SmsActivities(sms_provider(settings, http), tracker, directory, budget)
    reports = ReportingActivities(
        settings.reporting_webhook_url,
        settings.reporting_webhook_secret or settings.webhook_secret,
        settings.outbound_policy,
    )
    return [webhooks.send_webhook, emails.send_email, texts.send_sms, reports.report_outcome]


def _activity_name(fn: Any) -> str | None:
    definition = getattr(fn, "__temporal_activity_definition", None)
    return getattr(definition, "name", None)


def client_activities(
    client: Client, task_queue: str, secret: str | None = None, report_outcomes: bool = False
) -> list[Any]:
    """Activities that call Temporal itself, bound to the worker's own client."""
    return [
        ContactActivities(client, secret=secret, report_outcomes=report_outcomes).enroll_batch,
        TriggerActivities(client, task_queue, report_outcomes).match_triggers,
        DryRunActivities(client).dry_run_page,
        *_migration_activities(client),
    ]


def _migration_activities(client: Client) -> list[Any]:
    moves = MigrationActivities(client)
    return [moves.list_migration_page, moves.move_enrollments]


def build_worker(
    client: Client,
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    task_queue: str | None = None,
    activities: Sequence[Any] | None = None,
) -> Worker:
    queue = task_queue or settings.task_queue
    chosen = list(
        activities if activities is not None else activity_functions(settings, http, client, queue)
    )
    # Unless replaced by a fake of the same name, every worker runs those that need its client.
    given = {_activity_name(fn) for fn in chosen}
    chosen += [
        fn
        for fn in client_activities(
            client, queue, settings.secret, bool(settings.reporting_webhook_url)
        )
        if _activity_name(fn) not in given
    ]
    return Worker(
        client,
        task_queue=queue,
        workflows=list(WORKFLOWS),
        activities=chosen,
        # Each workflow module compiled once per process, executed afresh per workflow.
        workflow_runner=sandboxed_runner(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Heartbeats (bulk batches) are sent at most every 2 s rather than at 80% of the
        # heartbeat timeout: a loaded worker keeps a wide margin before the timeout.
        max_heartbeat_throttle_interval=timedelta(seconds=2),
        max_cached_workflows=settings.worker_cache_size,
    )


async def run_worker(settings: Settings | None = None, client: Client | None = None) -> None:
    """Run until SIGINT/SIGTERM, then let activities in flight finish (graceful shutdown).
    Raises NamespaceNotReady, before polling, when the namespace lacks search attributes."""
    from goalflow.core.temporal import connect_patiently

    settings = settings or get_settings()
    require_production_ready(settings, "worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        # Started before Temporal (a deploy, a cluster restart): wait for it rather than exit.
        client = client or await connect_patiently(settings, worker_runtime(settings), stop=stop)
        if client is None:
            return  # stopped while waiting
        await prepare_namespace(client, register=settings.register_search_attributes)
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            worker = build_worker(client, settings, http)
            async with worker:
                log.info("worker polling", task_queue=settings.task_queue)
                await stop.wait()
                _exit_after(SHUTDOWN_DEADLINE)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _exit_after(deadline: timedelta) -> None:
    """From now on, leave the process at `deadline` at the latest (a daemon timer: it fires
    even while the event loop or the interpreter's exit waits on a stuck thread)."""

    def leave() -> None:
        log.error(
            "worker shutdown exceeded its deadline; exiting with workflow tasks still running",
            deadline_seconds=deadline.total_seconds(),
        )
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(deadline.total_seconds(), leave)
    timer.daemon = True
    timer.start()


def worker_runtime(settings: Settings) -> Runtime:
    """The SDK core's own log lines go through Python logging (so they are structured too);
    with GOALFLOW_WORKER_METRICS_PORT, the SDK's metrics and goalflow's worker-side counters are
    served in Prometheus text on that port, on every interface."""
    port = settings.worker_metrics_port
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            ),
            metrics=PrometheusConfig(bind_address=f"0.0.0.0:{port}") if port else None,
        )
    )


def _main() -> None:
    from goalflow.core.logging import configure_logging

    configure_logging(get_settings().log_format)
    try:
        asyncio.run(run_worker())
    except (UnsafeProductionSettings, NamespaceNotReady) as err:
        raise SystemExit(str(err)) from None


if __name__ == "__main__":
    from goalflow.core.exiting import run_and_exit

    run_and_exit(_main)
