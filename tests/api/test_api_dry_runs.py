"""Dry runs over HTTP: a dry run of the active version over the last hour predicts the real
per-step counts of that hour exactly (same events, contacts enrolled by triggers); every field
of the answer; no side effect; bad input."""

from __future__ import annotations

from typing import Any

from tests.support.api_helpers import locs, publish, send
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack


def triggered(name: str) -> dict[str, Any]:
    return {
        "name": "dry run",
        "triggers": [{"event": "custom", "name": name}],
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>hi</p>"},
            {"id": "in", "type": "add_tag", "tag": "entered"},
            {"id": "g", "type": "goal", "any_of": [{"event": "custom", "name": "buy"}],
             "if_unmet": {"action": "wait"}},
            {"id": "out", "type": "add_tag", "tag": "bought"},
        ],
    }  # fmt: skip


async def real_steps(stack: Stack, automation: str) -> list[dict[str, Any]]:
    answer = await stack.http.get(f"/v1/automations/{automation}/steps")
    found: list[dict[str, Any]] = answer.json()["steps"]
    return [{k: s[k] for k in ("step_id", "reached", "here", "met") if k in s} for s in found]


async def test_a_dry_run_of_the_active_version_predicts_the_real_counts(stack: Stack) -> None:
    http = stack.http
    name = new_id("start")
    automation = await publish(http, triggered(name))
    buyer, waiter, twice, other = new_id(), new_id(), new_id(), new_id()
    await send(http, buyer, "custom", data={"name": name})
    await send(http, waiter, "custom", data={"name": name})
    await send(http, twice, "custom", data={"name": name})
    await send(http, twice, "custom", data={"name": name})  # refused: already active
    await send(http, other, "custom", data={"name": "browse"})
    await assert_eventually(
        lambda: real_steps(stack, automation), lambda s: s[2]["here"] == 3, within=30
    )
    await send(http, buyer, "custom", data={"name": "buy"})
    expected = [
        {"step_id": "hello", "reached": 3, "here": 0},
        {"step_id": "in", "reached": 3, "here": 0},
        {"step_id": "g", "reached": 3, "here": 2, "met": 1},
        {"step_id": "out", "reached": 1, "here": 0},
    ]
    await assert_eventually(
        lambda: real_steps(stack, automation), lambda s: s == expected, within=30
    )

    async def enrollments() -> int:
        query = f"GoalflowAutomationId = '{automation}'"
        return (await stack.env.client.count_workflows(query)).count

    await assert_eventually(enrollments, lambda n: n == 3)
    started = await http.post(f"/v1/automations/{automation}/dry-runs", json={"since": "PT1H"})
    assert started.status_code == 202, started.text
    dry_run_id = started.json()["dry_run_id"]

    async def dry_run() -> dict[str, Any]:
        found: dict[str, Any] = (await http.get(f"/v1/dry-runs/{dry_run_id}")).json()
        return found

    done = await assert_eventually(dry_run, lambda d: d["status"] != "running", within=60)
    assert done["status"] == "completed" and done["progress"] == 1
    assert done["steps"] == expected
    assert done["would_enroll"] == 3
    assert done["contacts_scanned"] >= 4  # these four, and any other contact of the hour
    assert done["events_scanned"] >= 6
    assert done["outcomes"] == {"completed": 1}
    # No email address: the sends are skipped, as they were for real.
    assert done["sends"] == {"email": 0, "sms": 0, "webhook": 0}
    # No side effect: no enrollment started, the real counts are as they were.
    assert await enrollments() == 3
    assert await real_steps(stack, automation) == expected


async def test_bad_dry_runs_are_refused(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, triggered(new_id("start")))
    url = f"/v1/automations/{automation}/dry-runs"
    assert locs(await http.post(url, json={"since": "P31D"})) == [["body", "since"]]
    assert locs(await http.post(url, json={"since": "soon"})) == [["body", "since"]]
    assert locs(await http.post(url, json={})) == [["body", "since"]]
    assert locs(await http.post(url, json={"since": "PT1H", "version": 9})) == [["body", "version"]]
    assert (
        await http.post(f"/v1/automations/{new_id('a')}/dry-runs", json={"since": "PT1H"})
    ).status_code == 404
    assert (await http.get(f"/v1/dry-runs/{'0' * 32}")).status_code == 404
    assert (await http.get("/v1/dry-runs/nope")).status_code == 404
