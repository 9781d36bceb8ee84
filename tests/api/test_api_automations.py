"""Publishing, versioning and reading automations over HTTP; bad definitions are 422 with the
path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api_helpers import (
    TIMER_THEN_GOAL,
    locs,
)
from tests.support.helpers import new_id
from tests.support.stack import Stack

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
