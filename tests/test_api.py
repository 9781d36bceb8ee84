"""The HTTP API of DESIGN §4, driven over real HTTP against a real stack (issue 3, acceptance 1-2).

Every route, every error case, R12 and R13, and the enroll-then-event race. Visibility (the
enrollment list) lags, so it is polled with `assert_eventually`; everything else answers from the
workflows themselves and is asserted at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.main import create_app
from api.service import chunked, contact_event, event_chunks
from tests.conftest import Stack, free_port
from tests.helpers import assert_eventually, new_id

# --- definitions -----------------------------------------------------------------------------

# A day's wait, cut short by a `custom` "buy" event, which meets the goal that ends the run.
TIMER_THEN_GOAL: dict[str, Any] = {
    "name": "timer then goal",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "P1D"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "on_met": {"action": "end"},
        },
    ],
}


def held_at_goal(criterion: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A goal first, held until met (or two days), then a tag step that marks the way through."""
    return {
        "name": "held at goal",
        "settings": settings,
        "steps": [
            {
                "id": "goal",
                "type": "goal",
                "any_of": [criterion],
                "if_unmet": {"action": "wait", "timeout": "P2D"},
            },
            {"id": "mark", "type": "add_tag", "tag": "went-through"},
        ],
    }


ENDS_AT_ONCE: dict[str, Any] = {"name": "ends at once", "steps": [{"id": "stop", "type": "end"}]}

ENROLLMENT_FIELDS = {
    "enrollment_id",
    "automation_id",
    "version",
    "contact_id",
    "status",
    "current_step",
    "waiting",
    "goals",
    "timeline",
    "outcome",
    "context",
}

# --- helpers ---------------------------------------------------------------------------------


async def publish(http: httpx.AsyncClient, definition: dict[str, Any]) -> str:
    automation_id = new_id("a")
    answer = await http.put(f"/v1/automations/{automation_id}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation_id


async def enroll(
    http: httpx.AsyncClient, automation_id: str, contact_id: str, **extra: Any
) -> httpx.Response:
    return await http.post(
        f"/v1/automations/{automation_id}/enrollments",
        json={"contact": {"id": contact_id, **extra.pop("contact", {})}, **extra},
    )


async def enrolled(http: httpx.AsyncClient, automation_id: str, contact_id: str) -> str:
    answer = await enroll(http, automation_id, contact_id)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["enrollment_id"])


async def view(http: httpx.AsyncClient, enrollment_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/enrollments/{enrollment_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def until(http: httpx.AsyncClient, enrollment_id: str, **expected: Any) -> dict[str, Any]:
    """Poll the enrollment until each given field has the given value."""
    return await assert_eventually(
        lambda: view(http, enrollment_id),
        lambda v: all(v[k] == value for k, value in expected.items()),
    )


async def send(
    http: httpx.AsyncClient, contact_id: str, type: str, **fields: Any
) -> dict[str, Any]:
    answer = await http.post("/v1/events", json={"contact_id": contact_id, "type": type, **fields})
    assert answer.status_code == 202, answer.text
    receipt: dict[str, Any] = answer.json()
    return receipt


def kinds(found: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(entry["kind"], entry["step_id"]) for entry in found["timeline"]]


def locs(answer: httpx.Response) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [error["loc"] for error in answer.json()["detail"]]


def near(value: str, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    return abs(datetime.fromisoformat(value) - expected) < slack


# --- health, docs, schema --------------------------------------------------------------------


async def test_health_and_readiness(stack: Stack) -> None:
    for path in ("/healthz", "/readyz"):
        answer = await stack.http.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ok"}


@pytest.fixture
async def unreachable() -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a client for a Temporal server that is not there."""
    client = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=pydantic_data_converter, lazy=True
    )
    app = create_app(None, client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://goalflow") as http:
            yield http


async def test_readyz_is_503_when_temporal_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    answer = await unreachable.get("/readyz")
    assert answer.status_code == 503
    assert "Temporal is unreachable" in answer.json()["detail"]
    assert (await unreachable.get("/healthz")).json() == {"status": "ok"}


async def test_v1_routes_are_503_not_500_when_temporal_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    answers = [
        await unreachable.get("/v1/automations/anything"),
        await unreachable.post("/v1/events", json={"contact_id": "c", "type": "custom"}),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert "Temporal" in answer.json()["detail"]


async def test_schema_docs_and_openapi(stack: Stack) -> None:
    schema = await stack.http.get("/v1/schema/automation")
    assert schema.status_code == 200
    body = schema.json()
    assert body["title"] == "Automation"
    assert {"name", "steps", "settings"} <= set(body["properties"])
    assert body["required"] == ["name", "steps"] or set(body["required"]) == {"name", "steps"}
    text = json.dumps(body)
    for step_type in ("send_email", "wait", "goal", "if_else", "webhook", "end"):
        assert f'"{step_type}"' in text

    docs = await stack.http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()

    spec = (await stack.http.get("/openapi.json")).json()
    expected = {
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/v1/automations": {"get"},
        "/v1/automations/{automation_id}": {"put", "get"},
        "/v1/automations/{automation_id}/enrollments": {"post"},
        "/v1/enrollments": {"get"},
        "/v1/enrollments/{enrollment_id}": {"get", "delete"},
        "/v1/events": {"post"},
        "/v1/events/batch": {"post"},
        "/v1/contacts/{contact_id}": {"get"},
        "/v1/contacts/{contact_id}/tags": {"post"},
        "/v1/trigger-links": {"get"},
        "/v1/trigger-links/{link_id}": {"put"},
        "/v1/schema/automation": {"get"},
    }
    for path, methods in expected.items():
        assert path in spec["paths"], path
        assert methods <= set(spec["paths"][path]), (path, spec["paths"][path].keys())


# --- automations -----------------------------------------------------------------------------


async def test_publish_versions_get_and_list(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("a")
    url = f"/v1/automations/{automation_id}"

    first = await http.put(url, json=TIMER_THEN_GOAL)
    assert first.status_code == 201
    assert first.json()["automation_id"] == automation_id
    assert first.json()["version"] == 1

    # The same definition (keys in another order) is the same version.
    reordered = {"steps": TIMER_THEN_GOAL["steps"], "name": TIMER_THEN_GOAL["name"]}
    again = await http.put(url, json=reordered)
    assert again.status_code == 200
    assert (again.json()["automation_id"], again.json()["version"]) == (automation_id, 1)

    changed = {**TIMER_THEN_GOAL, "name": "renamed"}
    second = await http.put(url, json=changed)
    assert second.status_code == 201
    assert second.json()["version"] == 2
    # Re-publishing version 1's body is a new version: only the latest is compared.
    third = await http.put(url, json=TIMER_THEN_GOAL)
    assert (third.status_code, third.json()["version"]) == (201, 3)

    latest = (await http.get(url)).json()
    assert (latest["automation_id"], latest["version"], latest["name"]) == (
        automation_id,
        3,
        "timer then goal",
    )
    assert [s["id"] for s in latest["steps"]] == ["pause", "bought"]
    assert latest["steps"][0] == {"id": "pause", "type": "wait", "duration": "P1D"}

    v2 = await http.get(url, params={"version": 2})
    assert v2.status_code == 200
    assert (v2.json()["version"], v2.json()["name"]) == (2, "renamed")

    assert (await http.get(url, params={"version": 4})).status_code == 404
    assert locs(await http.get(url, params={"version": 0})) == [["query", "version"]]
    assert locs(await http.get(url, params={"version": "two"})) == [["query", "version"]]

    listed = await http.get("/v1/automations")
    assert listed.status_code == 200
    entries = {e["automation_id"]: e for e in listed.json()["automations"]}
    assert entries[automation_id]["latest_version"] == 3
    assert entries[automation_id]["name"] == "timer then goal"


async def test_unknown_automation_is_404(stack: Stack) -> None:
    for path in (f"/v1/automations/{new_id('a')}", "/v1/automations/Not-An-Id"):
        answer = await stack.http.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert "not found" in answer.json()["detail"]


async def test_publish_warns_about_undefined_trigger_links(stack: Stack) -> None:
    definition = {
        "name": "links",
        "steps": [
            {
                "id": "mail",
                "type": "send_email",
                "subject": "Hi",
                "html": "<a href=\"{{ trigger_link('nowhere-yet') }}\">go</a>",
            }
        ],
    }
    answer = await stack.http.put(f"/v1/automations/{new_id('a')}", json=definition)
    assert answer.status_code == 201
    assert any("nowhere-yet" in warning for warning in answer.json()["warnings"])


def step(**fields: Any) -> dict[str, Any]:
    return {"id": "s", "type": "wait", "duration": "P1D", **fields}


BAD_DEFINITIONS: list[tuple[str, dict[str, Any], list[list[Any]]]] = [
    (
        "unknown field in a step",
        {"name": "x", "steps": [step(colour="red")]},
        [["body", "steps", 0, "colour"]],
    ),
    (
        "unknown top-level field",
        {"name": "x", "steps": [step()], "owner": "me"},
        [["body", "owner"]],
    ),
    (
        "unknown step type",
        {"name": "x", "steps": [{"id": "s", "type": "fax"}]},
        [["body", "steps", 0, "type"]],
    ),
    (
        "unknown goal event",
        {
            "name": "x",
            "steps": [{"id": "g", "type": "goal", "any_of": [{"event": "email.exploded"}]}],
        },
        [["body", "steps", 0, "any_of", 0, "event"]],
    ),
    ("duplicate step ids", {"name": "x", "steps": [step(), step()]}, [["body", "steps", 1, "id"]]),
    (
        "goto a missing step",
        {
            "name": "x",
            "steps": [
                {
                    "id": "g",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "on_met": {"action": "goto", "step": "nowhere"},
                }
            ],
        },
        [["body", "steps", 0, "on_met", "step"]],
    ),
    (
        "bad duration",
        {"name": "x", "steps": [step(duration="soon")]},
        [["body", "steps", 0, "duration"]],
    ),
    ("empty steps", {"name": "x", "steps": []}, [["body", "steps"]]),
    ("missing name", {"steps": [step()]}, [["body", "name"]]),
    (
        "loop without a wait",
        {
            "name": "x",
            "steps": [
                {"id": "tag", "type": "add_tag", "tag": "t"},
                {
                    "id": "again",
                    "type": "if_else",
                    "if": {"has_tag": "t"},
                    "then": "tag",
                    "else": "tag",
                },
            ],
        },
        [["body", "steps", 1, "else"], ["body", "steps", 1, "then"]],
    ),
    (
        "template that does not compile",
        {
            "name": "x",
            "steps": [{"id": "m", "type": "send_email", "subject": "Hi", "html": "{{ x"}],
        },
        [["body", "steps", 0, "html"]],
    ),
    ("not an object", [1, 2, 3], [["body"]]),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [pytest.param(d, e, id=name) for name, d, e in BAD_DEFINITIONS],
)
async def test_bad_definitions_are_422_with_the_path(
    stack: Stack, definition: Any, expected: list[list[Any]]
) -> None:
    answer = await stack.http.put(f"/v1/automations/{new_id('a')}", json=definition)
    assert sorted(locs(answer)) == sorted(expected)
    assert all(error["msg"] for error in answer.json()["detail"])


async def test_bad_automation_id_on_publish_is_422(stack: Stack) -> None:
    answer = await stack.http.put("/v1/automations/Has Spaces", json=TIMER_THEN_GOAL)
    assert locs(answer) == [["path", "automation_id"]]


# --- enrollments -----------------------------------------------------------------------------


async def test_enroll_get_and_goal_met_by_event(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    contact_id = new_id()
    answer = await enroll(http, automation_id, contact_id, contact={"email": "c@example.com"})
    assert answer.status_code == 201
    created = answer.json()
    enrollment_id = created["enrollment_id"]
    assert {k: created[k] for k in ("automation_id", "version", "contact_id", "status")} == {
        "automation_id": automation_id,
        "version": 1,
        "contact_id": contact_id,
        "status": "active",
    }

    waiting = await until(http, enrollment_id, current_step="pause")
    assert set(waiting) == ENROLLMENT_FIELDS
    assert (waiting["status"], waiting["outcome"], waiting["version"]) == ("active", None, 1)
    assert waiting["waiting"]["kind"] == "timer"
    assert near(waiting["waiting"]["until"], datetime.now(UTC) + timedelta(days=1))
    assert waiting["goals"] == [
        {"step_id": "bought", "met": False, "met_at": None, "event_id": None}
    ]
    assert kinds(waiting) == [("entered", None), ("step_started", "pause"), ("waiting", "pause")]
    assert all({"at", "kind", "step_id", "detail"} == set(e) for e in waiting["timeline"])

    receipt = await send(http, contact_id, "custom", id="evt-buy", data={"name": "buy"})
    assert receipt == {"event_id": "evt-buy", "contact_id": contact_id, "duplicate": False}

    done = await until(http, enrollment_id, status="completed")
    assert (done["outcome"], done["current_step"], done["waiting"]) == ("goal_met", "bought", None)
    [goal] = done["goals"]
    assert (goal["step_id"], goal["met"], goal["event_id"]) == ("bought", True, "evt-buy")
    assert near(goal["met_at"], datetime.now(UTC))
    assert kinds(done) == [
        ("entered", None),
        ("step_started", "pause"),
        ("waiting", "pause"),
        ("goal_met", "bought"),
        ("step_completed", "pause"),
        ("moved", "bought"),
        ("step_completed", "bought"),
        ("ended", None),
    ]
    assert done["timeline"][4]["detail"] == {"cut_short": True}


async def test_waiting_for_a_goal_and_exiting_unmet(stack: Stack) -> None:
    http = stack.http
    held = await publish(http, held_at_goal({"event": "custom", "name": "never"}))
    enrollment_id = await enrolled(http, held, new_id())
    found = await assert_eventually(
        lambda: view(http, enrollment_id), lambda v: v["waiting"] is not None
    )
    assert (found["status"], found["current_step"]) == ("active", "goal")
    assert found["waiting"]["kind"] == "goal"
    assert found["waiting"]["goal"] == "goal"
    assert near(found["waiting"]["until"], datetime.now(UTC) + timedelta(days=2))

    exits = await publish(
        http,
        {
            "name": "exits",
            "steps": [
                {
                    "id": "gate",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "if_unmet": {"action": "end"},
                }
            ],
        },
    )
    exited = await until(http, await enrolled(http, exits, new_id()), status="exited")
    assert exited["outcome"] == "goal_unmet"
    assert kinds(exited)[-2:] == [("goal_unmet", "gate"), ("ended", None)]

    times_out = await publish(
        http,
        {
            "name": "times out",
            "steps": [
                {
                    "id": "gate",
                    "type": "goal",
                    "any_of": [{"event": "custom"}],
                    "if_unmet": {"action": "wait", "timeout": "PT1S", "on_timeout": "end"},
                }
            ],
        },
    )
    timed_out = await until(http, await enrolled(http, times_out, new_id()), status="exited")
    assert timed_out["outcome"] == "goal_unmet"
    assert kinds(timed_out) == [
        ("entered", None),
        ("waiting", "gate"),
        ("timed_out", "gate"),
        ("ended", None),
    ]
    assert timed_out["timeline"][2]["detail"] == {"on_timeout": "end"}


async def test_enroll_errors(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)

    unknown = await enroll(http, new_id("a"), new_id())
    assert unknown.status_code == 404
    assert "not found" in unknown.json()["detail"]
    assert (await enroll(http, "No Such Id", new_id())).status_code == 404
    assert (await enroll(http, automation_id, new_id(), version=2)).status_code == 404

    base = f"/v1/automations/{automation_id}/enrollments"
    assert locs(await http.post(base, json={"contact": {"email": "x@example.com"}})) == [
        ["body", "contact", "id"]
    ]
    assert locs(await http.post(base, json={})) == [["body", "contact"]]
    assert locs(await http.post(base, json={"contact": {"id": "c", "age": 3}})) == [
        ["body", "contact", "age"]
    ]
    assert locs(await http.post(base, json={"contact": {"id": "has space"}})) == [
        ["body", "contact", "id"]
    ]
    assert locs(await http.post(base, json={"contact": {"id": "c"}, "version": 0})) == [
        ["body", "version"]
    ]


async def test_r13_one_active_enrollment_and_reentry(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()

    # Without allow_reentry: the active one while active, 409 once it ended.
    once = await publish(http, held_at_goal({"event": "custom", "name": "x"}))
    first = await enroll(http, once, contact_id)
    assert first.status_code == 201
    repeat = await enroll(http, once, contact_id)
    assert repeat.status_code == 200
    assert repeat.json()["created"] is False
    assert repeat.json()["enrollment_id"] == first.json()["enrollment_id"]
    cancelled = await http.delete(f"/v1/enrollments/{first.json()['enrollment_id']}")
    assert cancelled.json() == {"status": "cancelled"}
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    refused = await enroll(http, once, contact_id)
    assert refused.status_code == 409
    assert "re-entry" in refused.json()["detail"]

    # Concurrent requests for one contact: one enrollment, the others answer it.
    racer = new_id()
    answers = await asyncio.gather(*(enroll(http, once, racer) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert len({a.json()["enrollment_id"] for a in answers}) == 1

    # Completed on its own, same rule.
    ends = await publish(http, ENDS_AT_ONCE)
    ended_id = await enrolled(http, ends, contact_id)
    assert (await until(http, ended_id, status="completed"))["outcome"] == "ended"
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    assert (await enroll(http, ends, contact_id)).status_code == 409

    # With allow_reentry: a new enrollment after the first ended, never two at once.
    again = await publish(http, held_at_goal({"event": "custom", "name": "x"}, allow_reentry=True))
    one = await enrolled(http, again, contact_id)
    same = await enroll(http, again, contact_id)
    assert (same.status_code, same.json()["enrollment_id"]) == (200, one)
    await http.delete(f"/v1/enrollments/{one}")
    await assert_eventually(
        lambda: contact(http, contact_id), lambda c: not c["active_enrollments"]
    )
    two = await enroll(http, again, contact_id)
    assert two.status_code == 201
    assert two.json()["enrollment_id"] != one
    assert (await contact(http, contact_id))["active_enrollments"] == [
        {"enrollment_id": two.json()["enrollment_id"], "automation_id": again, "version": 1}
    ]


async def test_r12_running_enrollment_keeps_its_version(stack: Stack) -> None:
    http = stack.http
    automation_id = new_id("a")
    url = f"/v1/automations/{automation_id}"

    def version(mark: str) -> dict[str, Any]:
        definition = held_at_goal({"event": "custom", "name": "go"})
        definition["steps"][1] = {"id": f"mark-{mark}", "type": "add_tag", "tag": mark}
        return definition

    assert (await http.put(url, json=version("v1"))).json()["version"] == 1
    old_contact = new_id()
    old = await enrolled(http, automation_id, old_contact)
    await until(http, old, current_step="goal")

    assert (await http.put(url, json=version("v2"))).json()["version"] == 2
    new_contact = new_id()
    new = await enroll(http, automation_id, new_contact)
    assert new.json()["version"] == 2
    pinned = await enroll(http, automation_id, new_id(), version=1)
    assert pinned.json()["version"] == 1

    await send(http, old_contact, "custom", data={"name": "go"})
    done = await until(http, old, status="completed")
    assert done["version"] == 1
    assert ("step_completed", "mark-v1") in kinds(done)
    assert (await contact(http, old_contact))["tags"] == ["v1"]

    await send(http, new_contact, "custom", data={"name": "go"})
    done_new = await until(http, new.json()["enrollment_id"], status="completed")
    assert ("step_completed", "mark-v2") in kinds(done_new)


async def test_get_enrollment_unknown_ids_are_404(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()
    await send(http, contact_id, "custom")  # a contact workflow exists under "contact:<id>"
    automation_id = await publish(http, TIMER_THEN_GOAL)
    for enrollment_id in (
        f"enr:{automation_id}:{contact_id}:1",
        "enr:nope",
        "nothing-like-an-id",
        f"contact:{contact_id}",
        f"automation:{automation_id}",
        "goalflow-catalog",
        "enr:" + "x" * 3000,
        "enr:%00",
        "enr:%E2%98%83",
    ):
        for method in ("GET", "DELETE"):
            answer = await http.request(method, f"/v1/enrollments/{enrollment_id}")
            assert answer.status_code == 404, (method, enrollment_id[:40], answer.text[:200])
            assert "not found" in answer.json()["detail"] or "not an" in answer.json()["detail"]


async def test_cancel_and_final_status(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    enrollment_id = await enrolled(http, automation_id, new_id())
    await until(http, enrollment_id, current_step="pause")

    cancelled = await http.delete(f"/v1/enrollments/{enrollment_id}")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"status": "cancelled"}
    found = await view(http, enrollment_id)
    assert (found["status"], found["outcome"], found["waiting"]) == (
        "cancelled",
        "cancelled",
        None,
    )
    assert kinds(found)[-1] == ("ended", None)
    assert ("step_completed", "pause") not in kinds(found)
    again = await http.delete(f"/v1/enrollments/{enrollment_id}")
    assert (again.status_code, again.json()) == (200, {"status": "cancelled"})

    ends = await publish(http, ENDS_AT_ONCE)
    completed = await enrolled(http, ends, new_id())
    await until(http, completed, status="completed")
    answer = await http.delete(f"/v1/enrollments/{completed}")
    assert (answer.status_code, answer.json()) == (200, {"status": "completed"})


async def test_list_enrollments_with_filters_and_pages(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    buyer, waiter = new_id(), "o'brien+" + new_id()  # a quote must not break the query
    bought = await enrolled(http, automation_id, buyer)
    waits = await enrolled(http, automation_id, waiter)
    dropped = await enrolled(http, automation_id, new_id())
    await send(http, buyer, "custom", data={"name": "buy"})
    await until(http, bought, status="completed")
    assert (await http.delete(f"/v1/enrollments/{dropped}")).json() == {"status": "cancelled"}

    async def listed(**params: Any) -> dict[str, Any]:
        answer = await http.get("/v1/enrollments", params=params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def ids(page: dict[str, Any]) -> set[str]:
        return {e["enrollment_id"] for e in page["enrollments"]}

    everything = await assert_eventually(
        lambda: listed(automation_id=automation_id),
        lambda page: ids(page) == {bought, waits, dropped},
    )
    summaries = {e["enrollment_id"]: e for e in everything["enrollments"]}
    assert summaries[waits]["contact_id"] == waiter
    assert summaries[waits]["automation_id"] == automation_id
    assert summaries[waits]["version"] == 1
    assert summaries[waits]["status"] == "active"

    assert ids(
        await assert_eventually(
            lambda: listed(automation_id=automation_id, status="completed"),
            lambda page: ids(page) == {bought},
        )
    ) == {bought}
    assert ids(
        await assert_eventually(
            lambda: listed(automation_id=automation_id, status="cancelled"),
            lambda page: ids(page) == {dropped},
        )
    ) == {dropped}
    assert ids(await listed(automation_id=automation_id, status="exited")) == set()
    active = await listed(automation_id=automation_id, status="active")
    assert ids(active) == {waits}
    assert ids(await listed(contact_id=waiter)) == {waits}
    assert ids(await listed(contact_id=buyer, status="active")) == set()
    assert ids(await listed(automation_id=new_id("a"))) == set()

    first = await listed(automation_id=automation_id, page_size=1)
    assert len(first["enrollments"]) == 1
    assert first["next_page_token"]
    second = await listed(
        automation_id=automation_id, page_size=1, next_page_token=first["next_page_token"]
    )
    third = await listed(
        automation_id=automation_id, page_size=1, next_page_token=second["next_page_token"]
    )
    assert ids(first) | ids(second) | ids(third) == {bought, waits, dropped}
    # A token is good only for the filters it was issued for.
    elsewhere = await http.get(
        "/v1/enrollments", params={"next_page_token": first["next_page_token"], "page_size": 1}
    )
    assert locs(elsewhere) == [["query", "next_page_token"]]

    for params, loc in (
        ({"status": "sleeping"}, ["query", "status"]),
        ({"page_size": 0}, ["query", "page_size"]),
        ({"page_size": 10**9}, ["query", "page_size"]),
        ({"next_page_token": "!!!"}, ["query", "next_page_token"]),
        ({"next_page_token": "AAAA"}, ["query", "next_page_token"]),
        ({"contact_id": "a b"}, ["query", "contact_id"]),
        ({"automation_id": "x'); DROP"}, ["query", "automation_id"]),
    ):
        answer = await http.get("/v1/enrollments", params=params)
        assert locs(answer) == [loc], params


# --- events ----------------------------------------------------------------------------------


async def test_events_duplicates_and_errors(stack: Stack) -> None:
    http = stack.http
    contact_id = new_id()
    event = {"id": "e-1", "contact_id": contact_id, "type": "custom", "data": {"name": "x"}}
    first = await http.post("/v1/events", json=event)
    assert (first.status_code, first.json()) == (
        202,
        {"event_id": "e-1", "contact_id": contact_id, "duplicate": False},
    )
    again = await http.post("/v1/events", json=event)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    # Sent concurrently, one id is still accepted once.
    racing = {**event, "id": "e-race"}
    answers = await asyncio.gather(*(http.post("/v1/events", json=racing) for _ in range(10)))
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
    # The id is per contact.
    other = await http.post("/v1/events", json={**event, "contact_id": new_id()})
    assert other.json()["duplicate"] is False
    generated = await send(
        http,
        contact_id,
        "appointment.status_changed",
        occurred_at="2026-01-02T03:04:05Z",
        data={"status": "confirmed"},
    )
    assert generated["event_id"] and generated["event_id"] != "e-1"

    cases: list[tuple[dict[str, Any], list[list[Any]]]] = [
        ({"contact_id": contact_id, "type": "email.exploded"}, [["body", "type"]]),
        ({"type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "a/b", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": "a\u0000b", "type": "custom"}, [["body", "contact_id"]]),
        ({"contact_id": contact_id, "type": "custom", "colour": 1}, [["body", "colour"]]),
        ({"contact_id": contact_id, "type": "custom", "data": []}, [["body", "data"]]),
        ({"contact_id": contact_id, "type": "custom", "id": ""}, [["body", "id"]]),
        (
            {"contact_id": contact_id, "type": "custom", "occurred_at": "yesterday"},
            [["body", "occurred_at"]],
        ),
    ]
    for body, expected in cases:
        assert locs(await http.post("/v1/events", json=body)) == expected, body


async def test_event_batch(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    buyer, other = new_id(), new_id()
    enrollment_id = await enrolled(http, automation_id, buyer)
    await send(http, other, "custom", id="seen-before")

    events: list[Any] = [
        {"id": "b-1", "contact_id": buyer, "type": "custom", "data": {"name": "look"}},
        {"contact_id": buyer, "type": "not.a.type"},
        {"id": "b-1", "contact_id": buyer, "type": "custom"},  # repeated in the batch
        {"type": "custom"},
        "not an object",
        {"id": "seen-before", "contact_id": other, "type": "custom"},  # seen in an earlier call
        {"id": "b-2", "contact_id": buyer, "type": "custom", "data": {"name": "buy"}},
        {"contact_id": other, "type": "contact.updated", "data": {"fields": {"plan": "pro"}}},
    ]
    answer = await http.post("/v1/events/batch", json={"events": events})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (3, 2)
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert "type" in body["rejected"][0]["reason"]
    assert "contact_id" in body["rejected"][1]["reason"]
    assert (
        "dictionary" in body["rejected"][2]["reason"] or "object" in body["rejected"][2]["reason"]
    )

    done = await until(http, enrollment_id, status="completed")
    assert done["goals"][0]["event_id"] == "b-2"
    assert (await contact(http, other))["fields"] == {"plan": "pro"}

    empty = await http.post("/v1/events/batch", json={"events": []})
    assert empty.json() == {"accepted": 0, "duplicates": 0, "rejected": []}
    too_many = [{"contact_id": "c", "type": "custom"}] * 1001
    assert locs(await http.post("/v1/events/batch", json={"events": too_many})) == [
        ["body", "events"]
    ]
    assert locs(await http.post("/v1/events/batch", json={})) == [["body", "events"]]


async def test_event_batch_of_large_events_goes_in_several_updates_in_order(
    stack: Stack,
) -> None:
    http = stack.http
    buyer = new_id()
    # Three 300 KB events of one contact: more than one update's worth (EVENT_BATCH_BYTES).
    # Each sets the field `last`; applied in order, it ends at 2.
    padding = "x" * 300_000
    events: list[dict[str, Any]] = [
        {
            "id": f"big-{n}",
            "contact_id": buyer,
            "type": "contact.updated",
            "data": {"fields": {"last": n, "padding": padding}},
        }
        for n in range(3)
    ]
    as_sent = [contact_event(buyer, e["type"], e["data"], event_id=e["id"]) for e in events]
    chunks = event_chunks(as_sent)
    assert [[e.id for e in chunk] for chunk in chunks] == [["big-0"], ["big-1"], ["big-2"]]

    first = await http.post("/v1/events/batch", json={"events": events})
    assert first.status_code == 202, first.text
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = await http.post("/v1/events/batch", json={"events": events})
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    for _ in range(100):
        fields = (await contact(http, buyer))["fields"]
        if fields.get("last") == 2:
            break
        await asyncio.sleep(0.2)
    assert fields["last"] == 2


def test_chunked_cuts_by_bytes_and_by_count() -> None:
    sized = [("a", 4), ("b", 4), ("big", 50), ("c", 1), ("d", 1), ("e", 1)]
    assert chunked(sized, 10) == [["a", "b"], ["big"], ["c", "d", "e"]]
    assert chunked(sized, 10, max_items=2) == [["a", "b"], ["big"], ["c", "d"], ["e"]]
    assert chunked([], 10, max_items=2) == []


def test_event_chunks_keep_order_and_fill_up_to_the_limit() -> None:
    events = [
        contact_event("c", "custom", {"p": "x" * size}, event_id=f"e{n}")
        for n, size in enumerate([10, 10, 400, 10, 10])
    ]
    one = len(events[0].model_dump_json())
    chunks = event_chunks(events, 2 * one + 10)
    assert [[e.id for e in chunk] for chunk in chunks] == [["e0", "e1"], ["e2"], ["e3", "e4"]]
    assert event_chunks([], 100) == []


# --- contacts and tags -----------------------------------------------------------------------


async def contact(http: httpx.AsyncClient, contact_id: str) -> dict[str, Any]:
    answer = await http.get(f"/v1/contacts/{contact_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_contact_view_and_unknown_contacts(stack: Stack) -> None:
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)
    contact_id = "ünïcødé.o'neil+" + new_id() + "@example.com"
    enrollment_id = await enrolled_with(
        http, automation_id, {"id": contact_id, "tags": ["lead"], "fields": {"plan": "pro"}}
    )
    found = await contact(http, contact_id)
    assert found["contact_id"] == contact_id
    assert found["tags"] == ["lead"]
    assert found["fields"] == {"plan": "pro"}
    assert found["active_enrollments"] == [
        {"enrollment_id": enrollment_id, "automation_id": automation_id, "version": 1}
    ]

    for unknown in (new_id(), "has%20space", "%00", "x" * 300):
        answer = await http.get(f"/v1/contacts/{unknown}")
        assert answer.status_code == 404, (unknown[:20], answer.text[:200])
        assert "not found" in answer.json()["detail"]


async def enrolled_with(
    http: httpx.AsyncClient, automation_id: str, contact_body: dict[str, Any]
) -> str:
    answer = await http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": contact_body}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["enrollment_id"])


async def test_tag_changes_become_events_that_meet_goals(stack: Stack) -> None:
    http = stack.http
    added = await publish(http, held_at_goal({"event": "contact.tag_added", "tag": "vip"}))
    removed = await publish(http, held_at_goal({"event": "contact.tag_removed", "tag": "lead"}))
    # Met only by a real change: adding a tag the contact already has is no event.
    noop = await publish(
        http,
        {
            "name": "no-op tag",
            "steps": [
                {
                    "id": "lead-again",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "lead"}],
                    "if_unmet": {"action": "wait"},
                },
                {
                    "id": "later",
                    "type": "goal",
                    "any_of": [{"event": "contact.tag_added", "tag": "later"}],
                    "on_met": {"action": "end"},
                },
            ],
        },
    )
    contact_id = new_id()
    by_add = await enrolled_with(http, added, {"id": contact_id, "tags": ["lead"]})
    by_remove = await enrolled(http, removed, contact_id)
    by_noop = await enrolled(http, noop, contact_id)

    change = await http.post(
        f"/v1/contacts/{contact_id}/tags", json={"add": ["vip", "lead"], "remove": ["missing"]}
    )
    assert change.status_code == 202
    assert (change.json()["added"], change.json()["removed"]) == (["vip"], [])
    done = await until(http, by_add, status="completed")
    assert done["goals"][0]["met"] is True
    assert ("goal_met", "goal") in kinds(done)

    change = await http.post(f"/v1/contacts/{contact_id}/tags", json={"remove": ["lead"]})
    assert (change.status_code, change.json()["removed"]) == (202, ["lead"])
    assert (await until(http, by_remove, status="completed"))["goals"][0]["met"] is True

    # An idempotency key applies a change once.
    keyed = {"add": ["keyed"], "id": "change-1"}
    once = await http.post(f"/v1/contacts/{contact_id}/tags", json=keyed)
    assert (once.json()["added"], once.json()["duplicate"]) == (["keyed"], False)
    twice = await http.post(f"/v1/contacts/{contact_id}/tags", json=keyed)
    assert (twice.status_code, twice.json()["added"], twice.json()["duplicate"]) == (
        202,
        [],
        True,
    )

    await http.post(f"/v1/contacts/{contact_id}/tags", json={"add": ["later"]})
    finished = await until(http, by_noop, status="completed")
    goals = {g["step_id"]: g["met"] for g in finished["goals"]}
    assert goals == {"lead-again": False, "later": True}

    # Both tag goals sent the contact through the "mark" step, which added its tag.
    tags = (
        await assert_eventually(
            lambda: contact(http, contact_id), lambda c: "went-through" in c["tags"]
        )
    )["tags"]
    assert sorted(tags) == ["keyed", "later", "vip", "went-through"]

    for body, expected in (
        ({"add": [""]}, [["body", "add", 0]]),
        ({"add": "vip"}, [["body", "add"]]),
        ({"replace": ["x"]}, [["body", "replace"]]),
    ):
        assert locs(await http.post(f"/v1/contacts/{contact_id}/tags", json=body)) == expected
    bad_id = await http.post("/v1/contacts/has%20space/tags", json={"add": ["x"]})
    assert locs(bad_id) == [["path", "contact_id"]]


# --- trigger links ---------------------------------------------------------------------------


async def test_trigger_links(stack: Stack) -> None:
    http = stack.http
    link_id = new_id("l")
    put = await http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Book", "url": "https://example.com/b"}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"link_id": link_id, "name": "Book", "url": "https://example.com/b"}
    replaced = await http.put(
        f"/v1/trigger-links/{link_id}", json={"name": "Book", "url": "https://example.com/c"}
    )
    assert replaced.json()["url"] == "https://example.com/c"

    listed = await http.get("/v1/trigger-links")
    assert listed.status_code == 200
    links = {link["link_id"]: link for link in listed.json()["trigger_links"]}
    assert links[link_id] == {"link_id": link_id, "name": "Book", "url": "https://example.com/c"}

    for body, expected in (
        ({"name": "x", "url": "ftp://nope"}, [["body", "url"]]),
        ({"url": "https://example.com"}, [["body", "name"]]),
        ({"name": "x", "url": "https://example.com", "extra": 1}, [["body", "extra"]]),
    ):
        assert locs(await http.put(f"/v1/trigger-links/{link_id}", json=body)) == expected
    bad_id = await http.put("/v1/trigger-links/Bad Id", json={"name": "x", "url": "https://e.x"})
    assert locs(bad_id) == [["path", "link_id"]]


# --- bad input in general --------------------------------------------------------------------

BODY_ROUTES = [
    ("PUT", "/v1/automations/a-json"),
    ("POST", "/v1/automations/a-json/enrollments"),
    ("POST", "/v1/events"),
    ("POST", "/v1/events/batch"),
    ("POST", "/v1/contacts/c-json/tags"),
    ("PUT", "/v1/trigger-links/l-json"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_malformed_json_is_422_with_detail(stack: Stack, method: str, path: str) -> None:
    for content in (b'{"name": ', b"{'single': 'quotes'}", b"\xff\xfe garbage"):
        answer = await stack.http.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 422, (content, answer.text)
        [error] = answer.json()["detail"]
        assert error["type"] == "json_invalid"
        assert error["loc"][0] == "body"


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_lone_surrogates_are_422_not_500(stack: Stack, method: str, path: str) -> None:
    """Python's json accepts "\\ud800"; nothing downstream can encode it."""
    bodies = {
        "PUT /v1/automations/a-json": '{"name": "\\ud800", "steps": []}',
        "POST /v1/automations/a-json/enrollments": '{"contact": {"id": "c\\udfff"}}',
        "POST /v1/events": '{"contact_id": "c", "type": "custom", "data": {"k": ["\\ud800"]}}',
        "POST /v1/events/batch": '{"events": [{"contact_id": "\\ud800", "type": "custom"}]}',
        "POST /v1/contacts/c-json/tags": '{"add": ["\\ud83d"]}',
        "PUT /v1/trigger-links/l-json": '{"name": "\\udc00", "url": "https://e.x"}',
    }
    content = bodies[f"{method} {path}"].encode()
    answer = await stack.http.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["type"] == "string_unicode"
    assert error["loc"][0] == "body" and len(error["loc"]) > 1
    # A valid pair (an emoji, escaped) is fine.
    ok = await stack.http.post(
        "/v1/events",
        content=b'{"contact_id": "c-emoji", "type": "custom", "data": {"k": "\\ud83d\\ude00"}}',
        headers={"content-type": "application/json"},
    )
    assert ok.status_code == 202, ok.text


async def test_oversized_bodies_are_413(stack: Stack) -> None:
    limit = stack.settings.max_body_bytes
    big = {"contact_id": "c", "type": "custom", "data": {"blob": "x" * (limit + 1)}}
    declared = await stack.http.post("/v1/events", json=big)
    assert declared.status_code == 413
    assert str(limit) in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    chunked = await stack.http.post(
        "/v1/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert str(limit) in chunked.json()["detail"]

    # Just under the limit is fine.
    fits = {"contact_id": "c-big", "type": "custom", "data": {"blob": "x" * (limit // 2)}}
    assert (await stack.http.post("/v1/events", json=fits)).status_code == 202


WEIRD_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/automations/%00", None),
    ("GET", "/v1/automations/a?version=99999999999999999999999", None),
    ("GET", "/v1/enrollments?page_size=-1", None),
    ("GET", "/v1/enrollments?status=", None),
    ("GET", "/v1/contacts/..%2F..%2Fetc", None),
    ("DELETE", "/v1/contacts/c", None),
    ("PATCH", "/v1/automations/a", {}),
    ("POST", "/v1/events", {"contact_id": "c", "type": "custom", "data": {"n": 1e308}}),
    ("POST", "/v1/events", {"contact_id": "c", "type": "custom", "data": {"deep": [[[[[[[]]]]]]]}}),
    ("POST", "/v1/events", {"contact_id": "c" * 201, "type": "custom"}),
    ("POST", "/v1/events", {"contact_id": 5, "type": "custom"}),
    ("POST", "/v1/events", None),
    ("POST", "/v1/events/batch", {"events": None}),
    ("POST", "/v1/automations/a/enrollments", {"contact": {"id": "c"}, "version": 10**30}),
    ("POST", "/v1/automations/a/enrollments", {"contact": {"id": "c", "tags": [None]}}),
    ("POST", "/v1/contacts/c/tags", {"add": ["t"] * 501}),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": [{"id": "w", "type": "wait"}]}),
    (
        "PUT",
        "/v1/automations/a",
        {"name": "x", "steps": [{"id": "w", "type": "wait", "duration": "P9999Y"}]},
    ),
    (
        "PUT",
        "/v1/automations/a",
        {"name": "x", "steps": [{"id": "w", "type": "wait", "until_time": "25:99"}]},
    ),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": "nope"}),
    ("PUT", "/v1/automations/a", {"name": "x", "steps": [None]}),
]


async def test_weird_input_is_never_5xx(stack: Stack) -> None:
    for method, path, body in WEIRD_REQUESTS:
        content = json.dumps(body).encode() if body is not None else b""
        answer = await stack.http.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code < 500, (method, path, body, answer.text[:300])
        if answer.status_code >= 400:
            assert answer.json()["detail"], (method, path)


# --- acceptance 2: the race over HTTP --------------------------------------------------------


async def test_race_100_contacts_enrolled_then_evented_back_to_back(stack: Stack) -> None:
    """Each contact's goal event is sent the moment its enrollment is answered, all contacts
    at once: the event must reach the enrollment (no race window right after enrollment)."""
    http = stack.http
    automation_id = await publish(http, TIMER_THEN_GOAL)

    async def enroll_then_send(n: int) -> tuple[str, str]:
        contact_id = new_id(f"race{n}")
        enrollment_id = await enrolled(http, automation_id, contact_id)
        await send(http, contact_id, "custom", id=f"buy-{n}", data={"name": "buy"})
        return enrollment_id, f"buy-{n}"

    pairs = await asyncio.gather(*(enroll_then_send(n) for n in range(100)))
    assert len({enrollment_id for enrollment_id, _ in pairs}) == 100

    async def views() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(view(http, e) for e, _ in pairs)))

    final = await assert_eventually(
        views, lambda vs: all(v["status"] != "active" for v in vs), within=60, interval=0.5
    )
    for found, (_, event_id) in zip(final, pairs, strict=True):
        assert (found["status"], found["outcome"]) == ("completed", "goal_met"), found
        assert found["goals"][0]["met"] is True
        assert found["goals"][0]["event_id"] == event_id
