"""Bad input (docs/reliability.md): a 4xx with a clear message, never a 5xx, never a stuck workflow.

1. Schema fuzzing: schemathesis generates requests for every operation of the OpenAPI spec,
   valid and invalid, against a `goalflow api` that requires an API key (its own Temporal dev
   server and `goalflow worker`, so that the sync fuzz tests do not wait on the session's event
   loop). Checks: no 5xx, and every route that accepts the key refuses its absence with a 401.
2. Hand-made hostile input against the test stack: deep nesting, huge step lists, templates that
   would run or allocate without end, unicode ids, malformed and oversized bodies, forged
   tracking tokens; then a look at the workflows they touched: none failed, none stuck.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus

from api.main import create_app
from goalflow.cli.dev import DevOptions, start_temporal, stop_process
from goalflow.core.settings import Settings
from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from goalflow.service.contacts import GoalflowService
from tests.support.drills_harness import Processes
from tests.support.helpers import assert_eventually, new_id
from tests.support.provider_signing import SECRETS
from tests.support.stack import Stack, free_port
from workflows.messages import contact_workflow_id

API_KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JSON = {"content-type": "application/json"}

# --- 1. schema fuzzing -------------------------------------------------------------------------


@dataclass
class FuzzTarget:
    url: str
    temporal_address: str


def _poll(check: Any, process: Any, within: float = 90) -> None:
    """Until `check()` holds (connection errors count as not yet); fail with the process's log
    if it exits or time runs out."""
    deadline = time.monotonic() + within
    while True:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        assert process.popen.poll() is None and time.monotonic() < deadline, process.output()
        time.sleep(0.2)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """`goalflow api` with GOALFLOW_API_KEYS set and a `goalflow worker`, on a Temporal dev
    server of their own."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    options = DevOptions(temporal_port=free_port(), ui_port=free_port(), data_dir=data_dir)
    port = free_port()
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}",
        "GOALFLOW_TASK_QUEUE": "fuzz",
        "GOALFLOW_API_KEYS": API_KEY,
        "GOALFLOW_DEV": "true",
        "GOALFLOW_DATA_DIR": str(data_dir),
        "GOALFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GOALFLOW_MAX_BODY_BYTES": "100000",
        # Nothing listens here: emails of fuzzed automations fail and are retried, harmlessly.
        "GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        # Every provider webhook enabled, so that fuzzed hook requests reach its verification.
        **SECRETS,
    }
    server = start_temporal(options)
    processes = Processes(data_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        api = processes.api(port, env)
        _poll(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, api)
        # Only now: `goalflow worker` exits if Temporal does not answer when it starts.
        worker = processes.worker(env)
        ready = {"name": "ready", "steps": [{"id": "e", "type": "end"}]}
        publish = f"{url}/v1/automations/ready"
        _poll(lambda: httpx.put(publish, json=ready, headers=AUTH).status_code < 300, worker)
        yield FuzzTarget(url, env["TEMPORAL_ADDRESS"])
    finally:
        processes.stop_all()
        stop_process(server)


# The spec the fuzzed API serves, built from the same code without starting anything (a lazy
# `schemathesis.pytest.from_fixture` schema does not work with pytest 9).
FUZZ_SETTINGS = Settings.model_validate({"GOALFLOW_API_KEYS": API_KEY, "GOALFLOW_DEV": True})
schema = schemathesis.openapi.from_dict(create_app(FUZZ_SETTINGS).openapi())


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_schema_fuzzing_finds_no_server_error(fuzz_target: FuzzTarget, case: Any) -> None:
    case.call_and_validate(
        base_url=fuzz_target.url,
        headers=AUTH,
        checks=[not_a_server_error, ignored_auth],
        timeout=30,
    )


async def test_fuzzing_left_no_failed_or_stuck_workflow(fuzz_target: FuzzTarget) -> None:
    """After the fuzzing above (file order): every workflow on the fuzzed server is sound."""
    client = await Client.connect(fuzz_target.temporal_address)
    ids = [w.id async for w in client.list_workflows("")]
    assert ids, "the fuzzing started no workflow: it reached nothing behind the API"
    problems = [p for p in await asyncio.gather(*(workflow_trouble(client, i) for i in ids)) if p]
    assert problems == []


# --- 2. hand-made hostile input ----------------------------------------------------------------


def nested_condition(depth: int) -> str:
    """JSON text of an if_else condition `depth` levels deep (all/any/not in turn); built as
    text because the encoder itself would give up on it."""
    kinds = ['{"all":[', '{"any":[', '{"not":']
    opens = "".join(kinds[i % 3] for i in range(depth))
    closes = "".join("}" if i % 3 == 2 else "]}" for i in reversed(range(depth)))
    return opens + '{"has_tag":"vip"}' + closes


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


END = {"id": "e", "type": "end"}


def with_deep(document: dict[str, Any], deep: str) -> str:
    """JSON text of `document` with its "@deep@" string replaced by the text `deep`."""
    return json.dumps(document).replace('"@deep@"', deep)


async def test_deep_nesting_is_4xx_not_500(stack: Stack) -> None:
    http = stack.http
    for depth in (300, 1000, 20000):
        deep = nested_object(depth)
        condition = nested_condition(depth)
        branch = {"id": "b", "type": "if_else", "if": "@deep@", "then": "e", "else": "e"}
        hook = {"id": "w", "type": "webhook", "url": "https://example.com", "body": "@deep@"}
        bodies: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/v1/events", {"contact_id": "deep", "type": "custom", "data": "@deep@"}),
            ("POST", "/v1/events/batch", {"events": [{"contact_id": "deep", "data": "@deep@"}]}),
            (
                "POST",
                f"/v1/automations/{new_id('a')}/enrollments",
                {"contact": {"id": "deep", "fields": "@deep@"}},
            ),
            ("PUT", f"/v1/automations/{new_id('a')}", {"name": "deep", "steps": [hook]}),
        ]
        requests = [(m, p, with_deep(b, deep)) for m, p, b in bodies]
        requests.append(
            (
                "PUT",
                f"/v1/automations/{new_id('a')}",
                with_deep(
                    {"name": "deep", "steps": [branch, {"id": "e", "type": "end"}]}, condition
                ),
            )
        )
        for method, path, body in requests:
            answer = await http.request(method, path, content=body, headers=JSON)
            assert 400 <= answer.status_code < 500, (depth, path, answer.status_code)
            assert answer.json()["detail"], (depth, path)

    # Nesting that a definition really uses is fine, and runs.
    automation = new_id("a")
    steps = [
        {"id": "b", "type": "if_else", "if": "@deep@", "then": "yes", "else": "no"},
        {"id": "yes", "type": "add_tag", "tag": "matched"},
        {"id": "stop", "type": "end"},
        {"id": "no", "type": "end"},
    ]
    body = with_deep({"name": "nested", "steps": steps}, nested_condition(12))
    published = await http.put(f"/v1/automations/{automation}", content=body, headers=JSON)
    assert published.status_code == 201, published.text
    contact = new_id("nested")
    enrolled = await http.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": contact, "tags": ["vip"]}},
    )
    assert enrolled.status_code == 201, enrolled.text
    final = await _ended(stack, enrolled.json()["enrollment_id"])
    assert final["status"] == "completed"
    assert "matched" in (await http.get(f"/v1/contacts/{contact}")).json()["tags"]


async def test_step_lists_up_to_500_steps(stack: Stack) -> None:
    def steps(n: int) -> list[dict[str, Any]]:
        """n steps that branch on a tag and go on to the next (the last one ends)."""
        chain: list[dict[str, Any]] = [
            {"id": f"s{i}", "type": "if_else", "if": {"has_tag": "vip"}, "then": f"s{i + 1}"}
            for i in range(n - 1)
        ]
        for step in chain:
            step["else"] = step["then"]
        return [*chain, {"id": f"s{n - 1}", "type": "end"}]

    too_many = await stack.http.put(
        f"/v1/automations/{new_id('a')}", json={"name": "big", "steps": steps(501)}
    )
    assert too_many.status_code == 422
    [error] = too_many.json()["detail"]
    assert error["loc"] == ["body", "steps"] and error["type"] == "too_long"
    way_too_many = await stack.http.put(
        f"/v1/automations/{new_id('a')}", json={"name": "big", "steps": steps(20_000)}
    )
    assert way_too_many.status_code in (413, 422)

    automation = new_id("a")
    fits = await stack.http.put(
        f"/v1/automations/{automation}", json={"name": "big", "steps": steps(500)}
    )
    assert fits.status_code == 201, fits.text
    enrolled = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": new_id("big")}}
    )
    final = await _ended(stack, enrolled.json()["enrollment_id"], within=60)
    assert final["status"] == "completed" and final["current_step"] == "s499"
    assert await workflow_trouble(stack.env.client, final["enrollment_id"]) is None


# Templates that compile but would compute, allocate or loop without end when rendered (or when
# Jinja folds their constants at publish).
RUNAWAY_TEMPLATES = {
    "huge-power": "{{ 2 ** 1000000000 }}",
    "huge-repeat": "{{ (9999999999)|string * 99999999 }}",
    "huge-list": "{{ [1] * 1000000000 }}",
    "nested-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "loop-over-repeat": "{% for c in 'x' * 100000 %}{% for d in 'y' * 100000 %}{% endfor %}"
    "{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "doubling": "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
}


async def test_runaway_templates_fail_the_step_and_nothing_hangs(stack: Stack) -> None:
    """Publishing answers at once; sending fails that one step, visibly, without holding up the
    worker; the enrollment carries on."""
    http = stack.http
    steps: list[dict[str, Any]] = []
    for name, template in RUNAWAY_TEMPLATES.items():
        started = time.monotonic()
        step = {"id": name, "type": "send_email", "subject": "s", "html": template}
        answer = await http.put(
            f"/v1/automations/{new_id('a')}", json={"name": name, "steps": [step]}
        )
        assert answer.status_code in (201, 422), (name, answer.text[:300])
        assert time.monotonic() - started < 5, f"publishing {name} took too long"
        if answer.status_code == 201:
            steps.append(step)
    steps.append({"id": "after", "type": "add_tag", "tag": "survived"})

    automation = new_id("a")
    published = await http.put(
        f"/v1/automations/{automation}", json={"name": "runaway", "steps": steps}
    )
    assert published.status_code == 201, published.text
    contact = new_id("runaway")
    enrolled = await http.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": contact, "email": f"{contact}@example.com"}},
    )
    assert enrolled.status_code == 201, enrolled.text
    final = await _ended(stack, enrolled.json()["enrollment_id"], within=90)
    assert final["status"] == "completed"
    for step in steps[:-1]:
        [done] = [
            e
            for e in final["timeline"]
            if e["kind"] == "step_completed" and e["step_id"] == step["id"]
        ]
        assert done["detail"].get("result") == "failed", (step["id"], done)
        assert done["detail"]["error_type"] == "TemplateFailed", (step["id"], done)
    assert "survived" in (await http.get(f"/v1/contacts/{contact}")).json()["tags"]
    for workflow_id in (final["enrollment_id"], contact_workflow_id(contact)):
        assert await workflow_trouble(stack.env.client, workflow_id) is None


UNICODE_IDS = [
    "ünïcødé",
    "😀-contact",
    "日本語の連絡先",
    "\u202eevil",
    "e\u0301",
    "a" * 200,
    "x.y@z",
]
BAD_IDS = ["", "a" * 201, "with space", "tab\t", "nul\x00", "slash/id", "\x7f"]


async def test_unicode_ids_round_trip_and_bad_ids_are_4xx(stack: Stack) -> None:
    http = stack.http
    automation = new_id("a")
    definition = {
        "name": "unicode ✓ 名前",
        "steps": [
            {
                "id": "g",
                "type": "goal",
                "any_of": [{"event": "custom", "name": "名前"}],
                "if_unmet": {"action": "wait"},
                "on_met": {"action": "end"},
            }
        ],
    }
    assert (await http.put(f"/v1/automations/{automation}", json=definition)).status_code == 201
    for contact in UNICODE_IDS:
        contact = f"{contact[:190]}-{uuid.uuid4().hex[:6]}"
        enrolled = await http.post(
            f"/v1/automations/{automation}/enrollments",
            json={
                "contact": {"id": contact, "first_name": "Zoë 🚀", "fields": {"ключ": "значение"}}
            },
        )
        assert enrolled.status_code == 201, (contact, enrolled.text)
        enrollment_id = enrolled.json()["enrollment_id"]
        sent = await http.post(
            "/v1/events",
            json={
                "id": f"ид-{contact}"[:200],
                "contact_id": contact,
                "type": "custom",
                "data": {"name": "名前"},
            },
        )
        assert sent.status_code == 202, sent.text
        final = await _ended(stack, enrollment_id)
        assert final["status"] == "completed" and final["contact_id"] == contact
        assert final["goals"][0]["event_id"] == f"ид-{contact}"[:200]
        found = await http.get(f"/v1/contacts/{quote(contact, safe='')}")
        assert found.status_code == 200 and found.json()["contact_id"] == contact
        assert await workflow_trouble(stack.env.client, enrollment_id) is None

    for bad in BAD_IDS:
        sent = await http.post("/v1/events", json={"contact_id": bad, "type": "custom"})
        assert sent.status_code == 422, (bad, sent.text)
        assert sent.json()["detail"][0]["loc"] == ["body", "contact_id"]
        found = await http.get(f"/v1/contacts/{quote(bad, safe='')}")
        assert found.status_code in (404, 405), (bad, found.status_code)
    for bad in ["Ünïcode", "😀", "UPPER", "-dash", "a" * 65]:
        answer = await http.put(f"/v1/automations/{quote(bad, safe='')}", json=definition)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["path", "automation_id"]
        assert (await http.get(f"/v1/automations/{quote(bad, safe='')}")).status_code == 404
    bad_step = {"name": "x", "steps": [{"id": "schritt-ü", "type": "end"}]}
    answer = await http.put(f"/v1/automations/{new_id('a')}", json=bad_step)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "steps", 0, "id"]


BODY_ROUTES = [
    ("PUT", "/v1/automations/{a}"),
    ("POST", "/v1/automations/{a}/enrollments"),
    ("POST", "/v1/automations/{a}/enrollments/bulk"),
    ("POST", "/v1/events"),
    ("POST", "/v1/events/batch"),
    ("POST", "/v1/contacts/{c}/tags"),
    ("PUT", "/v1/trigger-links/{l}"),
]


async def test_malformed_and_oversized_bodies_on_every_body_route(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    for method, template in BODY_ROUTES:
        path = template.format(a=new_id("a"), c=new_id("c"), l=new_id("l"))
        for content in (b'{"contact_id": ', b"[1, 2", b"\x00\x01\x02", b"{}}", b"NaN"):
            answer = await stack.http.request(method, path, content=content, headers=JSON)
            assert answer.status_code == 422, (path, content, answer.text)
            assert answer.json()["detail"]
        huge = b'{"x": "' + b"x" * limit + b'"}'
        answer = await stack.http.request(method, path, content=huge, headers=JSON)
        assert answer.status_code == 413, (path, answer.status_code)


@pytest.fixture
async def roomy(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The stack's app and worker, but taking bodies up to the default 10 MB."""
    settings = stack.settings.model_copy(update={"max_body_bytes": 10 * 1024 * 1024})
    app = create_app(settings, stack.env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://goalflow", timeout=60
        ) as http:
            yield http


async def test_events_contacts_and_definitions_too_big_for_temporal_are_422(
    roomy: httpx.AsyncClient,
) -> None:
    """Temporal refuses payloads past 2 MB: a 2.5 MB event was a 500 (and a failed workflow
    task) and a 5 MB one a misleading 503. Each item is capped well below, body limit or not."""
    blob = "x" * (2_500_000)
    sent = await roomy.post(
        "/v1/events", json={"contact_id": new_id("big"), "type": "custom", "data": {"b": blob}}
    )
    assert sent.status_code == 422, sent.status_code
    assert sent.json()["detail"][0]["loc"] == ["body", "data"]
    batch = await roomy.post(
        "/v1/events/batch",
        json={"events": [{"contact_id": new_id("big"), "type": "custom", "data": {"b": blob}}]},
    )
    assert batch.status_code == 202 and batch.json()["rejected"][0]["index"] == 0

    html = "<p>" + "x" * 490_000 + "</p>"
    mails = [{"id": f"m{i}", "type": "send_email", "subject": "s", "html": html} for i in range(5)]
    too_big = await roomy.put(f"/v1/automations/{new_id('a')}", json={"name": "x", "steps": mails})
    assert too_big.status_code == 422, too_big.status_code
    assert too_big.json()["detail"][0]["loc"] == ["body"]

    automation = new_id("a")
    assert (
        await roomy.put(f"/v1/automations/{automation}", json={"name": "x", "steps": [END]})
    ).status_code == 201
    enrolled = await roomy.post(
        f"/v1/automations/{automation}/enrollments",
        json={"contact": {"id": new_id("big"), "fields": {"b": blob}}},
    )
    assert enrolled.status_code == 422, enrolled.status_code
    assert enrolled.json()["detail"][0]["loc"] == ["body", "contact"]

    contact = new_id("big")
    fits = await roomy.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"b": blob[:900_000]}}
    )
    assert fits.status_code == 202, fits.text


async def test_forged_tracking_tokens_are_404_and_no_event(stack: Stack) -> None:
    http = stack.http
    goalflow = GoalflowService(stack.env.client, stack.settings.task_queue)
    contact = new_id("forged")
    assert (await http.post(f"/v1/contacts/{contact}/tags", json={"add": ["x"]})).status_code == 202
    await assert_eventually(lambda: goalflow.contact(contact), lambda v: v.events_seen == 1)
    target = TrackedTarget(contact_id=contact, automation_id="a", step_id="s", url="https://e.x")
    genuine = Tracker(stack.settings.secret, stack.url)
    other_key = Tracker("not-the-secret", stack.url)
    forged = {
        "c": [
            other_key.token(TrackingKind.CLICK, target),
            genuine.token(TrackingKind.OPEN, target),  # genuine, but for another kind of link
            genuine.token(TrackingKind.CLICK, target)[:-3] + "xyz",
            "x" * 5000,
            "😀",
        ],
    }
    forged["o"] = [other_key.token(TrackingKind.OPEN, target), *forged["c"][2:]]
    forged["u"] = [other_key.token(TrackingKind.UNSUBSCRIBE, target), *forged["c"]]
    for kind, tokens in forged.items():
        for token in tokens:
            for method in ("GET", "POST") if kind == "u" else ("GET",):
                answer = await http.request(method, f"/t/{kind}/{quote(token, safe='')}")
                assert answer.status_code == 404, (kind, token[:20], answer.status_code)
                assert "This link is not valid" in answer.text
    # A genuine unsubscribe link is an event, applied after any the forged ones would have made:
    # once it shows, the count says whether anything else got through.
    unsubscribe = genuine.token(TrackingKind.UNSUBSCRIBE, target)
    assert (await http.post(f"/t/u/{unsubscribe}")).status_code == 200
    view = await assert_eventually(lambda: goalflow.contact(contact), lambda v: v.unsubscribed)
    assert view.events_seen == 2
    assert await workflow_trouble(stack.env.client, contact_workflow_id(contact)) is None


# --- failed or stuck workflows -----------------------------------------------------------------

# Workflow task failures that mean a bug (an exception in workflow code, non-determinism, a bad
# command), as opposed to the benign ones Temporal uses for races (a signal during completion).
_BUG_CAUSES = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
}


async def workflow_trouble(client: Client, workflow_id: str) -> str | None:
    """Why a workflow is failed or stuck, or None when it is neither."""
    handle = client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    if description.status == WorkflowExecutionStatus.FAILED:
        return f"{workflow_id}: failed"
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            continue
        cause = event.workflow_task_failed_event_attributes.cause
        name = WorkflowTaskFailedCause.Name(cause)
        if cause in _BUG_CAUSES or "_BAD_" in name:
            failure = event.workflow_task_failed_event_attributes.failure.message
            return f"{workflow_id}: workflow task failed ({name}): {failure[:300]}"
    return None


async def _ended(stack: Stack, enrollment_id: str, within: float = 30) -> dict[str, Any]:
    async def view() -> dict[str, Any]:
        answer = await stack.http.get(f"/v1/enrollments/{quote(enrollment_id, safe=':')}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    return await assert_eventually(view, lambda v: v["status"] != "active", within=within)
