"""The worker's counters of R20: sends deferred and skipped by the message budget, per channel."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.core.send_budget import MessageBudget
from goalflow.core.settings import Settings
from tests.api.test_metrics import scrape, value
from tests.support.helpers import WorkflowDriver, assert_eventually, new_id
from tests.support.stack import free_port
from tests.workflows.test_message_budget import Outbox, automation, set_policy, waiting_for
from worker import build_worker, worker_runtime


async def test_deferred_and_skipped_sends_are_counted_per_channel(
    dev_env: WorkflowEnvironment,
) -> None:
    port = free_port()
    settings = Settings.model_validate({"GOALFLOW_WORKER_METRICS_PORT": port})
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=worker_runtime(settings),
    )
    task_queue = f"budget-metrics-{uuid.uuid4()}"
    outbox = Outbox()
    outbox.budget = MessageBudget(client, task_queue)
    text = {"id": "text", "type": "send_sms", "body": "hi"}
    phone = {"phone": "+14155550100"}
    async with (
        httpx.AsyncClient() as http,
        build_worker(
            client,
            settings,
            http,
            task_queue=task_queue,
            activities=[outbox.send_email, outbox.send_sms],
        ),
    ):
        engine = WorkflowDriver(dev_env, task_queue, search_attributes=True)
        await set_policy(engine, outbox, {"sms": {"max": 1, "per": "P1D"}})
        contact = new_id()
        first = await engine.enroll(automation(text), contact, automation_id="m1", contact=phone)
        await engine.until(first.enrollment_id, lambda v: v.status == "completed")
        skipped = await engine.enroll(
            automation(text, when_capped="skip"), contact, automation_id="m2", contact=phone
        )
        await engine.until(skipped.enrollment_id, lambda v: v.status == "completed")
        deferred = await engine.enroll(automation(text), contact, automation_id="m3", contact=phone)
        await engine.until(deferred.enrollment_id, waiting_for("budget"))

        async def counts() -> tuple[float, float, float]:
            samples = await scrape(http, f"http://127.0.0.1:{port}/metrics")
            return (
                value(samples, "goalflow_sends_deferred_total", channel="sms", reason="budget"),
                value(samples, "goalflow_sends_skipped_total", channel="sms", reason="budget"),
                value(samples, "goalflow_sends_deferred_total", channel="email", reason="budget"),
            )

        assert await assert_eventually(counts, lambda c: c[0] >= 1) == (1, 1, 0)
        await client.get_workflow_handle(deferred.enrollment_id).cancel()
