"""Drafts and versions over HTTP: saved whatever they hold, their problems, publishing one (and
the stale-base 409), the list of automations with drafts, versions and restoring one."""

from __future__ import annotations

from typing import Any

import httpx

from api.main import create_app
from tests.support.api_helpers import TIMER_THEN_GOAL
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack


def _codes(answer: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    return [(p["level"], p["code"], p["loc"]) for p in answer["problems"]]


async def test_a_draft_is_saved_whatever_it_holds_and_published_when_valid(stack: Stack) -> None:
    http = stack.http
    automation = new_id("d")
    url = f"/v1/automations/{automation}"
    # Unfinished: saved, with the errors a publish would give, at the same paths (no "body").
    unfinished = {"name": "Half done", "steps": [{"id": "pause", "type": "wait"}]}
    saved = await http.put(f"{url}/draft", json=unfinished)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert (body["automation_id"], body["base_version"]) == (automation, None)
    assert body["saved_at"]
    assert [(p["level"], p["loc"]) for p in body["problems"]] == [("error", ["steps", 0])]
    refused = await http.put(url, json=unfinished)
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "steps", 0]]
    assert body["problems"][0]["message"] == refused.json()["detail"][0]["msg"]

    read = (await http.get(f"{url}/draft")).json()
    assert read["definition"] == unfinished
    assert _codes(read) == _codes(body)
    # Never published: listed as a draft, unknown to GET.
    listed = (await http.get("/v1/automations")).json()["automations"]
    mine = [a for a in listed if a["automation_id"] == automation]
    assert mine == [
        {
            "automation_id": automation,
            "name": "Half done",
            "latest_version": None,
            "updated_at": mine[0]["updated_at"],
            "state": "draft",
            "has_draft": True,
        }
    ]
    assert (await http.get(url)).status_code == 404
    published = await http.post(f"{url}/draft/publish")
    assert published.status_code == 422
    assert [e["loc"] for e in published.json()["detail"]] == [["body", "steps", 0]]

    # Fixed, with a warning: published all the same; the draft is gone.
    fixed = {
        "name": "Done",
        "steps": [
            {"id": "hold", "type": "goal", "any_of": [{"event": "custom", "name": "buy"}],
             "if_unmet": {"action": "wait"}},
        ],
    }  # fmt: skip
    saved = await http.put(f"{url}/draft", json=fixed)
    assert _codes(saved.json()) == [
        ("warning", "wait_forever", ["steps", 0, "if_unmet", "timeout"])
    ]
    published = await http.post(f"{url}/draft/publish?activate=false")
    assert published.status_code == 201, published.text
    answer = published.json()
    assert (answer["version"], answer["state"]) == (1, "paused")
    assert [p["code"] for p in answer["problems"]] == ["wait_forever"]
    assert (await http.get(f"{url}/draft")).status_code == 404
    assert (await http.post(f"{url}/draft/publish")).status_code == 404
    listed = (await http.get("/v1/automations")).json()["automations"]
    mine = [a for a in listed if a["automation_id"] == automation]
    assert [(a["state"], a["latest_version"], a["has_draft"]) for a in mine] == [
        ("paused", 1, False)
    ]
    assert (await http.get(url)).json()["name"] == "Done"


async def test_put_automation_returns_problems_beside_warnings(stack: Stack) -> None:
    definition = {
        "name": "Links",
        "steps": [
            {"id": "mail", "type": "send_email", "subject": "Hi",
             "html": "<a href=\"{{ trigger_link('not-yet') }}\">go</a>"},
        ],
    }  # fmt: skip
    answer = await stack.http.put(f"/v1/automations/{new_id('d')}", json=definition)
    assert answer.status_code == 201, answer.text
    assert answer.json()["warnings"]
    assert _codes(answer.json()) == [("warning", "unknown_trigger_link", ["steps", 0, "html"])]


async def test_a_draft_based_on_an_older_version_is_refused_unless_forced(stack: Stack) -> None:
    http = stack.http
    automation = new_id("d")
    url = f"/v1/automations/{automation}"
    assert (await http.put(url, json=TIMER_THEN_GOAL)).status_code == 201
    saved = await http.put(f"{url}/draft", json={**TIMER_THEN_GOAL, "name": "draft"})
    assert saved.json()["base_version"] == 1
    # Saving again keeps the base.
    saved = await http.put(f"{url}/draft", json={**TIMER_THEN_GOAL, "name": "draft 2"})
    assert saved.json()["base_version"] == 1
    listed = (await http.get("/v1/automations")).json()["automations"]
    assert [a["has_draft"] for a in listed if a["automation_id"] == automation] == [True]
    assert (await http.put(url, json={**TIMER_THEN_GOAL, "name": "other"})).status_code == 201
    stale = await http.post(f"{url}/draft/publish")
    assert stale.status_code == 409
    assert "version 2" in stale.json()["detail"]
    forced = await http.post(f"{url}/draft/publish?force=true")
    assert (forced.status_code, forced.json()["version"]) == (201, 3)
    assert (await http.get(url)).json()["name"] == "draft 2"
    # A draft equal to the latest version publishes as 200, and is gone.
    await http.put(f"{url}/draft", json={**TIMER_THEN_GOAL, "name": "draft 2"})
    same = await http.post(f"{url}/draft/publish")
    assert (same.status_code, same.json()["version"]) == (200, 3)
    assert (await http.get(f"{url}/draft")).status_code == 404


async def test_delete_a_draft(stack: Stack) -> None:
    http = stack.http
    url = f"/v1/automations/{new_id('d')}/draft"
    assert (await http.delete(url)).status_code == 404
    assert (await http.put(url, json={"anything": [1, 2]})).status_code == 200
    deleted = await http.delete(url)
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True
    assert (await http.get(url)).status_code == 404
    assert (await http.delete(url)).status_code == 404


async def test_bad_drafts_are_4xx_with_paths(stack: Stack) -> None:
    http = stack.http
    url = f"/v1/automations/{new_id('d')}/draft"
    for body in ([1, 2], "text", 3):
        answer = await http.put(url, json=body)
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["body"]
    # Over the server's body limit (1,000,000 bytes here; a draft may take 1 MiB).
    big = await http.put(url, json={"name": "x" * 1_100_000})
    assert big.status_code in (413, 422)
    assert (await http.get(url)).status_code == 404
    assert (await http.put("/v1/automations/Not An Id/draft", json={})).status_code == 404


async def test_versions_with_running_enrollments_and_restore(stack: Stack) -> None:
    http = stack.http
    automation = new_id("d")
    url = f"/v1/automations/{automation}"
    assert (await http.get(f"{url}/versions")).status_code == 404
    assert (await http.put(url, json=TIMER_THEN_GOAL)).status_code == 201
    enrolled = await http.post(f"{url}/enrollments", json={"contact": {"id": new_id()}})
    assert enrolled.status_code == 201
    second = {**TIMER_THEN_GOAL, "name": "second", "steps": TIMER_THEN_GOAL["steps"][:1]}
    assert (await http.put(url, json=second)).status_code == 201

    async def versions() -> dict[str, Any]:
        answer = await http.get(f"{url}/versions")
        assert answer.status_code == 200
        found: dict[str, Any] = answer.json()
        return found

    found = await assert_eventually(versions, lambda v: v["versions"][1]["active"] == 1)
    assert [(v["version"], v["steps"], v["active"]) for v in found["versions"]] == [
        (2, 1, 0),
        (1, 2, 1),
    ]
    assert found["versions"][0]["published_at"] >= found["versions"][1]["published_at"]

    restored = await http.post(f"{url}/versions/1/restore")
    assert restored.status_code == 200, restored.text
    view = restored.json()
    assert view["definition"]["name"] == "timer then goal"
    assert view["base_version"] == 2
    assert view["problems"] == []
    assert (await http.get(f"{url}/draft")).json()["definition"] == view["definition"]
    assert (await http.post(f"{url}/versions/3/restore")).status_code == 404
    assert (await http.post(f"{url}/versions/0/restore")).status_code == 404
    assert (await http.post(f"{url}/versions/x/restore")).status_code == 422
    assert (await http.post(f"/v1/automations/{new_id('d')}/versions/1/restore")).status_code == 404
    # Publishing the restored draft makes version 3 with version 1's definition.
    published = await http.post(f"{url}/draft/publish")
    assert (published.status_code, published.json()["version"]) == (201, 3)


async def test_large_drafts_saved_again_and_again_stay_within_one_bounded_history(
    stack: Stack,
) -> None:
    """Each save carries the whole draft; the draft's workflow continues as new when Temporal
    suggests it, handing over only the last draft."""
    http = stack.http
    automation = new_id("d")
    handle = stack.env.client.get_workflow_handle(f"draft:{automation}")
    runs = set()
    for n in range(8):
        big = {"name": f"save {n}", "notes": str(n) * 900_000}
        answer = await http.put(f"/v1/automations/{automation}/draft", json=big)
        assert answer.status_code == 200, answer.text
        runs.add((await handle.describe()).run_id)
    assert len(runs) > 1, "the draft's workflow never continued as new"
    draft = (await http.get(f"/v1/automations/{automation}/draft")).json()
    assert draft["definition"]["name"] == "save 7"
    assert draft["base_version"] is None


async def test_a_draft_over_1_mib_is_422_at_body(stack: Stack) -> None:
    """Past the draft's own limit, under a server body limit larger than it."""
    settings = stack.settings.model_copy(update={"max_body_bytes": 4 * 1024 * 1024})
    app = create_app(settings, stack.env.client)
    automation = new_id("d")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://goalflow") as http:
            url = f"/v1/automations/{automation}/draft"
            big = await http.put(url, json={"name": "x" * (1024 * 1024)})
            assert big.status_code == 422
            [error] = big.json()["detail"]
            assert (error["type"], error["loc"]) == ("too_large", ["body"])
            assert "1 MiB" in error["msg"]
            fits = await http.put(url, json={"name": "x" * (1024 * 1024 - 20)})
            assert fits.status_code == 200, fits.text
    assert (await stack.http.get(f"/v1/automations/{automation}/draft")).status_code == 200
