"""GET /v1/automations/{id}/experiments over a real stack: the counts per split path and for
held-out against treated contacts, from visibility, with the intervals of a hand-checked case;
held-out contacts get no message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.experiment_stats import difference_interval, wilson_interval
from tests.support.api_helpers import enroll, publish, send, until, view
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.definition import Holdout, SplitStep
from workflows.experiments import is_held_out, split_path

BUY = {"event": "custom", "name": "buy"}
SPLIT: dict[str, Any] = {
    "id": "ab",
    "type": "split",
    "paths": [
        {"id": "a", "weight": 50, "next": "text-a"},
        {"id": "b", "weight": 50, "next": "text-b"},
    ],
}
DEFINITION = {
    "name": "experiments",
    "settings": {"holdout": {"percent": 50}},
    "steps": [
        SPLIT,
        {"id": "text-a", "type": "send_sms", "body": "A"},
        # Path a joins path b's goal (a branch whose two ways go to the same step).
        {"id": "join", "type": "if_else", "if": {"lacks_tag": "x"}, "then": "bought",
         "else": "bought"},
        {"id": "text-b", "type": "send_sms", "body": "B"},
        {"id": "bought", "type": "goal", "any_of": [BUY], "if_unmet": {"action": "wait"},
         "on_met": {"action": "end"}},
    ],
}  # fmt: skip


def contacts_in(automation: str, count: int, group: str) -> list[str]:
    """`count` fresh contacts of a group: `held`, or the split path `a` or `b` of the treated."""
    holdout, step = Holdout(percent=50), SplitStep.model_validate(SPLIT)

    def group_of(contact: str) -> str:
        if is_held_out(automation, contact, holdout):
            return "held"
        return split_path(automation, contact, step).id

    found: list[str] = []
    while len(found) < count:
        contact = new_id()
        if group_of(contact) == group:
            found.append(contact)
    return found


async def report(http: httpx.AsyncClient, automation: str, **params: Any) -> dict[str, Any]:
    answer = await http.get(f"/v1/automations/{automation}/experiments", params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def rate(met: int, entered: int) -> dict[str, Any]:
    interval = wilson_interval(met, entered)
    assert interval is not None
    return {"met": met, "rate": pytest.approx(met / entered, abs=1e-6),
            "ci95": pytest.approx(list(interval), abs=1e-6)}  # fmt: skip


async def outbox(http: httpx.AsyncClient, contact: str) -> list[dict[str, Any]]:
    answer = await http.get("/v1/dev/outbox", params={"contact_id": contact})
    messages: list[dict[str, Any]] = answer.json()["messages"]
    return messages


async def test_the_report_counts_paths_and_the_holdout_with_their_intervals(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, DEFINITION)
    groups = {g: contacts_in(automation, n, g) for g, n in (("held", 4), ("a", 3), ("b", 3))}
    enrollment_of = {}
    for members in groups.values():
        for contact in members:
            answer = await enroll(http, automation, contact, contact={"phone": "+15550001234"})
            assert answer.status_code == 201, answer.text
            enrollment_of[contact] = answer.json()["enrollment_id"]
    treated = groups["a"] + groups["b"]
    for contact in treated:
        await until(http, enrollment_of[contact], current_step="bought")
    held = await until(http, enrollment_of[groups["held"][0]], status="active", holdout=True)
    assert held["current_step"] is None and held["waiting"]["kind"] == "timer"
    assert "holdout" not in await until(http, enrollment_of[treated[0]], current_step="bought")

    # Bought: 2 of the 4 held out, 2 of the 3 on path a, 1 of the 3 on path b.
    buyers = groups["held"][:2] + groups["a"][:2] + groups["b"][:1]
    for contact in buyers:
        await send(http, contact, "custom", data={"name": "buy"})
    for contact in buyers:
        await assert_eventually(
            lambda c=contact: view(http, enrollment_of[c]),  # type: ignore[misc]
            lambda v: v["goals"][0]["met"],
        )

    def counted(found: dict[str, Any]) -> bool:
        holdout = found["holdout"]
        return (
            holdout["held_out"]["goals"]["bought"]["met"] == 2
            and holdout["treated"]["goals"]["bought"]["met"] == 3
            and [p["goals"]["bought"]["met"] for p in found["splits"][0]["paths"]] == [2, 1]
            and [p["entered"] for p in found["splits"][0]["paths"]] == [3, 3]
        )

    found = await assert_eventually(lambda: report(http, automation), counted)
    lift = difference_interval(3, 6, 2, 4)
    assert lift is not None
    assert found == {
        "automation_id": automation,
        "version": 1,
        "splits": [
            {
                "step_id": "ab",
                "paths": [
                    {"path_id": "a", "weight": 50, "entered": 3, "goals": {"bought": rate(2, 3)}},
                    {"path_id": "b", "weight": 50, "entered": 3, "goals": {"bought": rate(1, 3)}},
                ],
            }
        ],
        "holdout": {
            "percent": 50,
            "held_out": {"entered": 4, "goals": {"bought": rate(2, 4)}},
            "treated": {"entered": 6, "goals": {"bought": rate(3, 6)}},
            "lift": {
                "bought": {
                    "absolute": 0.0,
                    "relative": 0.0,
                    "ci95": pytest.approx(list(lift), abs=1e-6),
                }
            },
        },
    }
    # Hand-checked: 3 of 6 against 2 of 4, Wilson (0.1876, 0.8124) and (0.1500, 0.8500).
    assert found["holdout"]["treated"]["goals"]["bought"]["ci95"] == pytest.approx(
        [0.1876, 0.8124], abs=1e-4
    )
    assert found["holdout"]["held_out"]["goals"]["bought"]["ci95"] == pytest.approx(
        [0.1500, 0.8500], abs=1e-4
    )
    await dashboard_shows(http, automation)
    # Held-out contacts got nothing; each treated one the text of its path.
    for contact in groups["held"]:
        assert await outbox(http, contact) == []
    for path in ("a", "b"):
        for contact in groups[path]:
            [text] = await outbox(http, contact)
            assert text["step_id"] == f"text-{path}"


async def dashboard_shows(http: httpx.AsyncClient, automation: str) -> None:
    """The automation page draws the paths with their counts, and the report's tables with an
    interval bar per rate and per lift (the stack's dashboard is open: no API keys)."""
    page = await http.get(f"/ui/automations/{automation}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="split-ab"' in html and 'id="holdout"' in html and 'id="holdout-note"' in html
    assert "path a (50%): go to" in html and 'data-count="path:ab:a">3<' in html
    # 2 paths and 2 groups, one goal each, and the lift.
    assert html.count('class="ci-range"') == 5
    assert "no difference shown yet: the interval includes 0" in html
    counts = (await http.get(f"/ui/automations/{automation}/counts.json")).json()["counts"]
    assert (counts["path:ab:a"], counts["path:ab:b"]) == ("3", "3")


async def test_a_version_without_experiments_and_unknown_ids(stack: Stack) -> None:
    http = stack.http
    automation = await publish(
        http, {"name": "plain", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}
    )
    assert await report(http, automation, version=1) == {
        "automation_id": automation,
        "version": 1,
        "splits": [],
        "holdout": None,
    }
    assert (
        await http.get(f"/v1/automations/{automation}/experiments?version=2")
    ).status_code == 404
    assert (await http.get("/v1/automations/nope-none/experiments")).status_code == 404


async def test_a_bad_split_is_refused_with_its_path(stack: Stack) -> None:
    bad = {**SPLIT, "paths": [SPLIT["paths"][0], {**SPLIT["paths"][0], "next": "nowhere"}]}
    answer = await stack.http.put(
        f"/v1/automations/{new_id('a')}",
        json={"name": "bad", "steps": [bad, {"id": "text-a", "type": "end"}]},
    )
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [
        ["body", "steps", 0, "paths", 1, "id"],
        ["body", "steps", 0, "paths", 1, "next"],
    ]


async def test_two_hundred_enrollments_split_and_hold_out_as_the_hash_says(stack: Stack) -> None:
    http = stack.http
    split = {
        "id": "ab",
        "type": "split",
        "paths": [
            {"id": "a", "weight": 70, "next": "end-a"},
            {"id": "b", "weight": 30, "next": "end-b"},
        ],
    }
    automation = await publish(
        http,
        {
            "name": "two hundred",
            "settings": {"holdout": {"percent": 20}},
            "steps": [split, {"id": "end-a", "type": "end"}, {"id": "end-b", "type": "end"}],
        },
    )
    contacts = [new_id() for _ in range(200)]
    answer = await http.post(
        f"/v1/automations/{automation}/enrollments/bulk",
        json={"contacts": [{"id": c} for c in contacts]},
    )
    assert answer.status_code == 202, answer.text
    held = [c for c in contacts if is_held_out(automation, c, Holdout(percent=20))]
    step = SplitStep.model_validate(split)
    treated = [c for c in contacts if c not in held]
    on_a = sum(split_path(automation, c, step).id == "a" for c in treated)
    # The hash spreads contacts as the weights say (within 4.5 standard deviations)...
    assert abs(len(held) - 40) <= 4.5 * (200 * 0.2 * 0.8) ** 0.5
    assert abs(on_a - 0.7 * len(treated)) <= 4.5 * (len(treated) * 0.7 * 0.3) ** 0.5

    def entered(found: dict[str, Any]) -> tuple[int, ...]:
        a, b = found["splits"][0]["paths"]
        holdout = found["holdout"]
        return (
            a["entered"],
            b["entered"],
            holdout["held_out"]["entered"],
            holdout["treated"]["entered"],
        )

    # ... and the real enrollments went exactly where it says.
    expected = (on_a, len(treated) - on_a, len(held), len(treated))
    await assert_eventually(
        lambda: report(http, automation), lambda f: entered(f) == expected, within=120
    )
