"""The dashboard's "Move running enrollments" (R19), in a real browser against a real stack: the
plan per step from the automation page, the confirm, the job's progress to its end."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.api.test_migrations import V1, V2, publish
from tests.support.dashboard_browser import screenshot
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack


async def enroll(http: httpx.AsyncClient, automation: str) -> str:
    answer = await http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": new_id()}}
    )
    assert answer.status_code == 201, answer.text
    enrollment_id: str = answer.json()["enrollment_id"]
    return enrollment_id


async def test_move_running_enrollments_from_the_automation_page(stack: Stack, page: Page) -> None:
    http, automation = stack.http, new_id("move")
    await publish(http, automation, V1)
    enrollments = [await enroll(http, automation) for _ in range(3)]
    await publish(http, automation, V2)

    async def planned() -> int:
        answer = await http.post(
            f"/v1/automations/{automation}/migrations", json={"from_version": 1}
        )
        total: int = answer.json()["total"]
        return total

    await assert_eventually(planned, lambda total: total == 3)  # visibility has them

    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await page.get_by_role("link", name="Move running enrollments (v1)").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Move running enrollments")
    await expect(page.locator("#plan-summary")).to_contain_text("3 running enrollments of v1")
    rows = page.locator("#moves tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("w")
    await expect(rows.nth(0).locator("td").nth(2)).to_have_text("3")
    await expect(rows.nth(1)).to_contain_text("nowhere")
    await expect(page.get_by_label("stay on the old version")).to_be_checked()
    await screenshot(page, "migrate-plan")
    await page.get_by_role("button", name="Move 3 enrollments to v2").click()

    await page.wait_for_url("**/ui/migrations/*")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Moving enrollments")
    # The page reloads itself while the job runs.
    await expect(page.locator("#migration-status")).to_have_text("completed", timeout=60_000)
    await expect(page.locator("#migration-done")).to_have_text("3 / 3")
    await expect(page.locator("#migration-moved")).to_have_text("3")
    await screenshot(page, "migration-done")
    for enrollment_id in enrollments:
        view = (await http.get(f"/v1/enrollments/{enrollment_id}")).json()
        assert view["version"] == 2
        assert [e["kind"] for e in view["timeline"]].count("migrated") == 1


async def test_nobody_to_move_is_said_and_a_forged_confirm_is_refused(stack: Stack) -> None:
    http, automation = stack.http, new_id("move")
    await publish(http, automation, V1)
    await publish(http, automation, V2)
    page = await http.get(f"/ui/automations/{automation}/migrate", params={"from_version": 1})
    assert page.status_code == 200
    assert "Nobody is running on v1" in page.text
    assert 'id="confirm"' not in page.text
    # No CSRF token: refused, nothing started.
    forged = await http.post(f"/ui/automations/{automation}/migrate", data={"from_version": "1"})
    assert forged.status_code == 403, forged.text
    same = await http.get(f"/ui/automations/{automation}/migrate", params={"from_version": 2})
    assert same.status_code == 200 and "the same" in same.text
