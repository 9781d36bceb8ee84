"""/metrics and the worker's metrics port move by the right amounts; logs are structured
(acceptance 4 of issue 5)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.main import create_app
from goalflow.core.logging import configure_logging
from goalflow.core.settings import Settings
from tests.support.helpers import WorkflowDriver, assert_eventually, new_id
from tests.support.stack import Stack, free_port
from worker import build_worker, worker_runtime

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

GOAL = {
    "name": "metrics",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "g", "type": "goal", "any_of": [{"event": "custom", "name": "go"}]},
        {"id": "after", "type": "wait", "duration": "P1D"},
    ],
}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Samples:
    answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


async def test_api_counters_move_by_the_traffic(stack: Stack) -> None:
    http = stack.http
    automation = new_id("metrics")
    assert (await http.put(f"/v1/automations/{automation}", json=GOAL)).status_code == 201
    contacts = [new_id() for _ in range(3)]
    before = await scrape(http)

    for contact in contacts:
        answer = await http.post(
            f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
        )
        assert answer.status_code == 201
    again = await http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contacts[0]}}
    )
    assert again.status_code == 200
    ids = [uuid.uuid4().hex for _ in range(4)]
    for event_id in [*ids, ids[0], ids[1]]:
        event = {"id": event_id, "contact_id": contacts[0], "type": "custom", "data": {}}
        assert (await http.post("/v1/events", json=event)).status_code == 202
    bulk = await http.post(
        f"/v1/automations/{automation}/enrollments/bulk",
        json={"contacts": [{"id": new_id()}, {"id": new_id()}, {"nope": 1}]},
    )
    assert bulk.status_code == 202
    missing = await http.get("/v1/enrollments/enr:nothing:here:1")
    assert missing.status_code == 404

    after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("goalflow_enrollments_total", result="created") == 3
    assert delta("goalflow_enrollments_total", result="existing") == 1
    assert delta("goalflow_events_total", result="accepted") == 4
    assert delta("goalflow_events_total", result="duplicate") == 2
    assert delta("goalflow_bulk_jobs_total") == 1
    assert delta("goalflow_bulk_rows_total", result="valid") == 2
    assert delta("goalflow_bulk_rows_total", result="invalid") == 1
    route = "/v1/automations/{automation_id}/enrollments"
    requests = "goalflow_http_requests_total"
    assert delta(requests, method="POST", route=route, status="201") == 3
    assert delta(requests, method="POST", route=route, status="200") == 1
    assert delta(requests, method="POST", route="/v1/events", status="202") == 6
    get_one = "/v1/enrollments/{enrollment_id}"
    assert delta(requests, method="GET", route=get_one, status="404") == 1
    # The raw path (an id) never becomes a label.
    assert not any("enr:nothing" in str(labels) for _, labels in after)
    latency = "goalflow_http_request_duration_seconds_count"
    assert delta(latency, method="POST", route="/v1/events") == 6


async def test_metrics_stay_open_when_api_keys_are_set() -> None:
    app = create_app(Settings.model_validate({"GOALFLOW_API_KEYS": "k1"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        assert (await http.get("/v1/automations")).status_code == 401
        samples = await scrape(http)
    assert value(samples, "goalflow_http_requests_total", route="/v1/automations", status="401")


async def test_worker_port_counts_goals_met_and_enrollments_started(stack: Stack) -> None:
    """The worker's runtime serves the Temporal SDK metrics and goalflow's worker-side counters
    (recorded in workflow code, never again on replay)."""
    env = stack.env
    port = free_port()
    settings = Settings.model_validate({"GOALFLOW_WORKER_METRICS_PORT": port})
    runtime = worker_runtime(settings)
    client = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    task_queue = f"metrics-{uuid.uuid4()}"
    automation = new_id("metrics")
    contacts = [new_id() for _ in range(3)]
    async with (
        httpx.AsyncClient() as http,
        build_worker(client, settings, http, task_queue=task_queue, activities=[]),
    ):
        engine = WorkflowDriver(env, task_queue, search_attributes=True)
        enrolled = [
            await engine.enroll(GOAL, contact, automation_id=automation) for contact in contacts
        ]
        for contact in contacts[:2]:
            await engine.send(contact, "custom", {"name": "go"})
            await engine.send(contact, "custom", {"name": "go"})  # met once, counted once
        for result in enrolled[:2]:
            await engine.until(result.enrollment_id, lambda v: v.goals[0].met)

        async def counts() -> tuple[float, float, bool]:
            samples = await scrape(http, f"http://127.0.0.1:{port}/metrics")
            # Exposed as `goalflow_goals_met`; the parser names counter samples `..._total`.
            return (
                value(samples, "goalflow_goals_met_total", automation_id=automation, goal="g"),
                value(samples, "goalflow_enrollments_started_total", automation_id=automation),
                any(name.startswith("temporal_workflow_") for name, _ in samples),
            )

        # Two goals met (the repeated event met nothing new), three enrollments started.
        assert await assert_eventually(counts, lambda c: c[0] >= 2) == (2, 3, True)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """goalflow's logging set up for JSON into a buffer; the previous setup restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("json")
    ours = [h for h in root.handlers if getattr(h, "_goalflow", False)]
    for handler in ours:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    try:
        yield buffer
    finally:
        for handler in ours:
            root.removeHandler(handler)
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        structlog.reset_defaults()


async def test_one_json_line_per_request_without_secrets(json_logs: io.StringIO) -> None:
    app = create_app(Settings.model_validate({"GOALFLOW_API_KEYS": "sekrit-key"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        await http.get("/healthz")
        await http.get("/v1/enrollments/enr:a:b:1", headers={"Authorization": "Bearer wrong"})
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    requests = [line for line in lines if line["event"] == "request"]
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [
        ("GET", "/healthz", 200),
        ("GET", "/v1/enrollments/{enrollment_id}", 401),
    ]
    assert all(isinstance(r["duration_ms"], float) and r["level"] == "info" for r in requests)
    text = json_logs.getvalue()
    assert "sekrit-key" not in text and "Bearer" not in text and "enr:a:b:1" not in text
