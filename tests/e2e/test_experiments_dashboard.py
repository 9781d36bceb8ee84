"""The automation page's experiments in a real browser, against a real stack: the split's paths
drawn as arrows with how many took each, the report's tables with an interval bar per rate, and
no breach of the page's Content Security Policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.api.test_api_experiments import DEFINITION, contacts_in
from tests.support.api_helpers import enroll, publish, send, until
from tests.support.dashboard_browser import chromium, csp_violations, screenshot
from tests.support.helpers import new_id
from tests.support.stack import Stack

REFRESHED = 20_000  # counts refresh every 3 s and visibility lags by about a second


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


async def test_the_automation_page_shows_paths_and_the_report(stack: Stack, page: Page) -> None:
    http = stack.http
    automation = await publish(http, DEFINITION)
    [on_a], [held] = contacts_in(automation, 1, "a"), contacts_in(automation, 1, "held")
    for contact in (on_a, held):
        answer = await enroll(http, automation, contact, contact={"phone": "+15550001234"})
        assert answer.status_code == 201, answer.text
    await until(http, f"enr:{automation}:{on_a}:1", current_step="bought")
    await send(http, on_a, "custom", data={"name": "buy"}, id=new_id("e"))
    await until(http, f"enr:{automation}:{on_a}:1", status="completed")

    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await expect(page.locator("#holdout-note")).to_contain_text("50 % of contacts are held out")
    split = page.locator("#step-ab .jumps")
    await expect(split).to_contain_text("path a (50%): go to text-a")
    await expect(split.locator('[data-count="path:ab:a"]')).to_have_text("1", timeout=REFRESHED)
    # The two paths and the goal's way on are drawn as arrows beside the steps.
    await expect(page.locator("svg.jumps-drawn > path")).to_have_count(4)

    await page.reload()
    report = page.get_by_role("region", name="Experiments of v1")
    await expect(report.locator("#split-ab tbody tr")).to_have_count(2)
    await expect(report.locator("#split-ab tbody tr").first).to_contain_text("1 · 100.0 %")
    await expect(report.locator("#holdout")).to_contain_text("Held out")
    await expect(report.locator("svg.ci")).to_have_count(4)  # path a, treated, held out, lift
    await expect(report.locator("#split-ab")).to_contain_text("nobody yet")  # path b
    await screenshot(page, "automation-experiments")
