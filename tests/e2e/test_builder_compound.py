"""Compound goals in the builder, in a real browser (Debian's Chromium): a definition with
`all_of`, `sequence`, `within` and `min_count` opens and saves back unchanged, and a goal turned
from "all of the events" into "in this order" with a window is saved as a `sequence` with
`within`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.dashboard_browser import chromium, csp_violations, screenshot
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

CLICKED = {"event": "custom", "name": "clicked"}
BOOKED = {"event": "appointment.status_changed", "status": ["confirmed"]}
COMPOUND: dict[str, Any] = {
    "name": "Compound goals",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P1D"},
        {"id": "ready", "type": "goal", "all_of": [CLICKED, {**BOOKED, "min_count": 2}],
         "if_unmet": {"action": "continue"}},
        {"id": "bought", "type": "goal", "sequence": [CLICKED, {"event": "payment.succeeded"}],
         "within": "P2D", "on_met": {"action": "end"}},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    violations = await csp_violations(page)
    yield page
    await context.close()
    assert not violations, violations


async def test_compound_goals_open_save_back_and_change_kind(stack: Stack, page: Page) -> None:
    automation = new_id("compound")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=COMPOUND)
    assert answer.status_code == 201, answer.text
    published = (await stack.http.get(f"/v1/automations/{automation}")).json()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{stack.url}/ui/automations/{automation}/edit?lang=en")
    ready, bought = page.locator("li.step-card").nth(1), page.locator("li.step-card").nth(2)
    await expect(ready.get_by_label("Met by")).to_have_value("all_of")
    await expect(
        ready.get_by_text("Met once each of these has happened, in any order.")
    ).to_be_visible()
    await expect(
        ready.get_by_label("Times it must happen (2 to 1000; empty: once)").nth(1)
    ).to_have_value("2")
    await expect(bought.get_by_label("Met by")).to_have_value("sequence")
    await expect(bought.get_by_label("All of it within (optional)")).to_have_value("2")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_role("status")).to_have_text("Draft saved.")
    draft = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
    assert draft["problems"] == []
    # The builder fills in the defaults it shows (settings, an empty trigger list).
    saved = draft["definition"]
    assert (saved["settings"], saved["triggers"]) == (published["settings"], [])
    assert {k: saved[k] for k in COMPOUND} == {k: published[k] for k in COMPOUND}

    await ready.get_by_label("Met by").select_option("sequence")
    await ready.get_by_label("All of it within (optional)").fill("6")
    await ready.get_by_label("All of it within (optional)").press("Tab")
    await screenshot(page, "builder-compound-goal")

    async def saved_goal() -> dict[str, Any]:
        found = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
        goal: dict[str, Any] = found["definition"]["steps"][1]
        return goal

    goal = await assert_eventually(saved_goal, lambda g: g.get("within") is not None)
    assert "all_of" not in goal
    assert goal["sequence"] == published["steps"][1]["all_of"]
    assert goal["within"] == "P6D"
    assert not errors, errors
