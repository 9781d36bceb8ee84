"""The dashboard at /ui in a real browser, against a real stack (open: no API keys).

Each page is screenshotted into the run's screenshot folder (see
tests/support/dashboard_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from tests.support.dashboard_browser import csp_violations, screenshot
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

# Counts refresh every 3 s and visibility lags by about a second.
REFRESHED = 20_000
DEFINITION: dict[str, Any] = {
    "name": "Dashboard follow-up",
    "steps": [
        {"id": "welcome", "type": "send_email", "subject": "Welcome", "html": "<p>Hi</p>"},
        {"id": "pause", "type": "wait", "duration": "P1D", "name": "Give it a day"},
        {
            "id": "bought",
            "type": "goal",
            "name": "Bought Goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "on_met": {"action": "goto", "step": "thanks"},
            "if_unmet": {"action": "end"},
        },
        {"id": "check", "type": "if_else", "if": {"has_tag": "vip"}, "then": "thanks",
         "else": "reminder"},
        {"id": "reminder", "type": "send_email", "subject": "Reminder", "html": "<p>Still?</p>"},
        {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>Thanks</p>"},
    ],
}  # fmt: skip


async def publish(stack: Stack, definition: dict[str, Any] = DEFINITION) -> str:
    automation = new_id("dash")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation


async def enroll(
    stack: Stack, automation: str, contact: str, context: dict[str, Any] | None = None
) -> str:
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments",
        json={
            "contact": {"id": contact, "email": f"{new_id('m')}@example.com"},
            "context": context or {},
        },
    )
    assert answer.status_code == 201, answer.text
    enrollment_id: str = answer.json()["enrollment_id"]
    return enrollment_id


async def test_counts_change_on_the_page_without_a_reload(stack: Stack, page: Page) -> None:
    automation = await publish(stack)
    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard follow-up")
    # The flow: document order, the goal marked, its jump and the if_else branches as links.
    steps = page.locator("ol.flow > li.step")
    await expect(steps).to_have_count(len(DEFINITION["steps"]) + 1)  # + how contacts enter
    await expect(steps.first).to_contain_text("Enters when")
    await expect(page.locator("li.step.goal")).to_have_count(1)
    goal = page.locator("#step-bought")
    await expect(goal).to_contain_text("Bought Goal")
    await expect(goal.get_by_role("link", name="thanks")).to_have_attribute("href", "#step-thanks")
    branches = page.locator("#step-check .jumps")
    await expect(branches).to_contain_text("if true: go to thanks")
    await expect(branches).to_contain_text("else: go to reminder")
    # ... and drawn as arrows beside the steps at this width: the goal's, then both branches.
    await expect(page.locator("svg.jumps-drawn > path")).to_have_count(3)
    await expect(page.locator("svg.jumps-drawn > path.goal-jump")).to_have_count(1)
    enrolled = page.locator('[data-count="funnel:enrolled"]')
    await expect(enrolled).to_have_text("0")
    await page.evaluate("window.notReloaded = true")

    contact = new_id()
    enrollment_id = await enroll(stack, automation, contact)
    await expect(enrolled).to_have_text("1", timeout=REFRESHED)
    here = page.locator('[data-count="step:pause:here"]')
    await expect(here).to_have_text("1", timeout=REFRESHED)
    await expect(page.locator('[data-count="step:welcome:reached"]')).to_have_text("1")
    await expect(page.locator('[data-count="step:thanks:reached"]')).to_have_text("0")
    await screenshot(page, "automation-waiting")

    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "buy"}}
    )
    assert answer.status_code == 202, answer.text
    await expect(page.locator('[data-count="step:bought:met"]')).to_have_text(
        "1", timeout=REFRESHED
    )
    await expect(here).to_have_text("0", timeout=REFRESHED)
    await expect(page.locator('[data-count="funnel:finished"]')).to_have_text(
        "1", timeout=REFRESHED
    )
    await expect(page.locator('[data-count="funnel:conversion"]')).to_have_text("100 %")
    # Reached, per step of the version: the jump skipped the branch and the reminder.
    reached = {step: "1" for step in ("welcome", "pause", "bought", "thanks")}
    reached |= {"check": "0", "reminder": "0"}
    for step, count in reached.items():
        await expect(page.locator(f'[data-count="step:{step}:reached"]')).to_have_text(count)
    assert await page.evaluate("window.notReloaded") is True
    await screenshot(page, "automation-goal-met")

    # The list of automations shows it with its counts, and links to it.
    await page.goto(f"{stack.url}/ui")
    row = page.get_by_role("row").filter(has_text=automation)
    await expect(row).to_contain_text("Dashboard follow-up")
    await expect(page.locator(f'[data-count="{automation}:enrolled"]')).to_have_text("1")
    await screenshot(page, "automations")
    await row.get_by_role("link", name="Dashboard follow-up").click()
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}")

    # The enrollment: goals, timeline, no cancel button once it has ended.
    await page.goto(f"{stack.url}/ui/enrollments/{enrollment_id}")
    await expect(page.locator("#status")).to_have_text("completed")
    await expect(page.locator("#goals tbody tr").filter(has_text="bought")).to_contain_text("yes")
    # Goals by the name the automation gives them, the id beside it.
    await expect(page.locator("#goals tbody th")).to_have_text("Bought Goal bought")
    timeline = page.locator("#timeline")
    await expect(timeline.get_by_role("cell", name="goal_met", exact=True)).to_have_count(1)
    await expect(timeline.get_by_role("cell", name="moved", exact=True)).to_have_count(1)
    await expect(page.get_by_role("button", name="Cancel enrollment")).to_have_count(0)
    await screenshot(page, "enrollment-completed")


async def test_cancel_an_enrollment_from_its_page(stack: Stack, page: Page) -> None:
    automation = await publish(stack)
    contact = new_id()
    enrollment_id = await enroll(stack, automation, contact, {"order": "<b>A-42</b>"})
    await page.goto(f"{stack.url}/ui/enrollments?contact_id={contact}")
    link = page.get_by_role("link", name=enrollment_id)
    await expect(link).to_be_visible(timeout=REFRESHED)  # visibility lags a little
    await screenshot(page, "enrollments-of-contact")
    await link.click()
    await expect(page.locator("#status")).to_have_text("active")
    # Waiting at the one-day wait, with its deadline.
    await expect(page.locator("main")).to_contain_text("Current steppause")
    await expect(page.locator("main")).to_contain_text("on a timer until 20")
    await expect(page.locator("pre")).to_contain_text('"order": "<b>A-42</b>"')
    await screenshot(page, "enrollment-waiting")
    await page.get_by_role("button", name="Cancel enrollment").click()
    await expect(page.locator("#status")).to_have_text("cancelled")
    view = (await stack.http.get(f"/v1/enrollments/{enrollment_id}")).json()
    assert view["status"] == "cancelled"

    # Filter by status: the cancelled enrollment is listed under cancelled, not under active,
    # once visibility has caught up with the cancel (it lags, more so on a loaded machine).
    async def listed_as(status: str) -> list[str]:
        answer = await stack.http.get(
            "/v1/enrollments", params={"automation_id": automation, "status": status}
        )
        return [e["enrollment_id"] for e in answer.json()["enrollments"]]

    await assert_eventually(lambda: listed_as("cancelled"), lambda ids: enrollment_id in ids)
    await page.goto(f"{stack.url}/ui/enrollments?automation_id={automation}")
    await page.get_by_label("Status").select_option("active")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name=enrollment_id)).to_have_count(0)
    await page.get_by_label("Status").select_option("cancelled")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name=enrollment_id)).to_be_visible(timeout=REFRESHED)


async def test_outbox_page_in_dev_mode(stack: Stack, page: Page) -> None:
    automation = await publish(stack)
    contact = new_id()
    await enroll(stack, automation, contact)

    async def outbox() -> list[dict[str, Any]]:
        answer = await stack.http.get("/v1/dev/outbox", params={"contact_id": contact})
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    await assert_eventually(outbox, lambda messages: len(messages) == 1)
    await page.goto(f"{stack.url}/ui/outbox")
    await page.get_by_label("Contact id").fill(contact)
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("Welcome")
    await screenshot(page, "outbox")


async def test_odd_input_is_escaped(stack: Stack, page: Page) -> None:
    # No "/" or space: a valid contact id, that would swallow the page if it were not escaped.
    contact = f"<script>alert({new_id('x')})<script>"
    automation = await publish(stack)
    enrollment_id = await enroll(stack, automation, contact)
    await page.goto(f"{stack.url}/ui/enrollments/{enrollment_id.replace('<', '%3C')}")
    await expect(page.locator("main")).to_contain_text(contact)
    await page.goto(f"{stack.url}/ui/enrollments")
    await page.get_by_label("Contact id").fill(contact)
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name=enrollment_id)).to_be_visible(timeout=REFRESHED)
    await screenshot(page, "enrollments-odd-contact")
    # A contact id no contact can have, straight in the URL: said plainly, and escaped.
    await page.goto(f"{stack.url}/ui/enrollments?contact_id=<script>alert(1)</script>")
    await expect(page.get_by_label("Contact id")).to_have_value("<script>alert(1)</script>")
    await expect(page.get_by_role("alert")).to_contain_text("no spaces or slashes")
    assert await page.locator("script").count() == 1  # the dashboard's own
    answer = await page.goto(f"{stack.url}/ui/enrollments/enr:<script>alert(1)</script>:1")
    assert answer is not None and answer.status == 404
    await expect(page.locator("main")).to_contain_text("<script>alert(1)</script>")
    assert await page.locator("script").count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/ui/automations/no-such-automation",
        "/ui/automations/NOT%20AN%20ID",
        "/ui/automations/{automation}?version=99",
        "/ui/automations/{automation}?version=abc",
        "/ui/automations/no-such-automation/counts.json",
        "/ui/enrollments/enr:no-such:contact:1",
        "/ui/enrollments/not-an-enrollment",
        "/ui/enrollments/contact:x",
        "/ui/no/such/page",
    ],
)
async def test_unknown_ids_get_the_404_page(stack: Stack, page: Page, path: str) -> None:
    automation = await publish(stack)
    answer = await page.goto(stack.url + path.format(automation=automation))
    assert answer is not None and answer.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    await expect(page.get_by_role("link", name="Back to the automations")).to_be_visible()
    if path.startswith("/ui/automations/no-such"):
        await screenshot(page, "not-found")


async def test_readable_on_a_phone(stack: Stack, browser: Browser) -> None:
    automation = await publish(stack)
    await enroll(stack, automation, new_id())
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    try:
        for path, name in ((f"/ui/automations/{automation}", "automation-phone"), ("/ui", "")):
            await page.goto(stack.url + path)
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is wider than the phone by {overflow}px"
            if name:
                await screenshot(page, name)
        # Keyboard: the first Tab reaches the skip link, which leads to the content.
        await page.keyboard.press("Tab")
        await expect(page.locator(":focus")).to_have_text("Skip to content")
    finally:
        await context.close()


async def test_pause_and_resume_from_the_page(stack: Stack, page: Page) -> None:
    definition = {
        **DEFINITION,
        "name": "Triggered follow-up",
        "triggers": [{"id": "signup", "event": "custom", "name": "signup"}],
    }
    automation = await publish(stack, definition)
    await page.goto(f"{stack.url}/ui/automations/{automation}")
    entry = page.locator("#triggers")
    await expect(entry).to_contain_text("signup: custom (name signup)")
    await expect(page.locator("#state")).to_have_text("active")

    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#state")).to_have_text("paused")
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}")
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": new_id()}}
    )
    assert answer.status_code == 409, answer.text
    await screenshot(page, "automation-paused")
    await page.goto(f"{stack.url}/ui")
    await expect(page.get_by_role("row").filter(has_text=automation)).to_contain_text("paused")

    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("#state")).to_have_text("active")
    # Active again: the trigger enrolls, and its count shows on the page.
    contact = new_id()
    answer = await stack.http.post(
        "/v1/events", json={"contact_id": contact, "type": "custom", "data": {"name": "signup"}}
    )
    assert answer.status_code == 202, answer.text

    async def started() -> str:
        await page.reload()
        return await entry.inner_text()

    await assert_eventually(started, lambda text: "started 1" in text, within=REFRESHED / 1000)
    # The funnel counts from visibility, which can lag the trigger's own count.
    await expect(page.locator('[data-count="funnel:enrolled"]')).to_have_text(
        "1", timeout=REFRESHED
    )


async def test_pages_refuse_framing_and_pass_their_own_policy(stack: Stack, page: Page) -> None:
    automation = await publish(stack)
    enrollment_id = await enroll(stack, automation, new_id())
    tracker = Tracker(stack.settings.secret, stack.url)
    target = TrackedTarget(contact_id=new_id(), automation_id=automation, channel="email")
    unsubscribe = f"/t/u/{tracker.token(TrackingKind.UNSUBSCRIBE, target)}"
    pages = [
        "/ui",
        f"/ui/automations/{automation}",  # draws its jumps and polls its counts
        "/ui/enrollments",
        f"/ui/enrollments/{enrollment_id}",
        "/ui/contacts?prefix=c",
        "/ui/outbox",
        "/ui/no-such-page",
        unsubscribe,
    ]
    for path in pages:
        answer = await page.goto(stack.url + path)
        assert answer is not None
        headers = await answer.all_headers()
        assert headers.get("x-frame-options") == "DENY", (path, headers)
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert headers.get("x-content-type-options") == "nosniff", path
    # The jumps are drawn and the counts polled under the policy (the page fixture fails the
    # test on any violation reported meanwhile).
    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await expect(page.locator("svg.jumps-drawn > path")).to_have_count(3)
    async with page.expect_response(lambda r: "/counts.json" in r.url) as polled:
        pass
    assert (await polled.value).ok
    # The unsubscribe page's style passes too; its form posts back to itself.
    await page.goto(stack.url + unsubscribe)
    await expect(page.locator("body")).to_have_css("max-width", "512px")
    await page.get_by_role("button", name="Unsubscribe").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    await expect(page.locator("body")).to_have_css("max-width", "512px")


async def test_a_framed_page_is_refused_and_violations_are_reported(
    stack: Stack, browser: Browser
) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        violations = await csp_violations(page)

        async def seen() -> list[str]:
            return list(violations)

        # Another site framing the dashboard (clickjacking) gets nothing.
        await page.set_content(f'<iframe src="{stack.url}/ui"></iframe>')
        refused = await assert_eventually(seen, bool)
        assert "frame-ancestors" in refused[0], refused
        frame = page.frames[1]
        assert "goalflow" not in await frame.content()
        # What the page fixture relies on: an inline style the policy forbids is reported.
        violations.clear()
        await page.goto(f"{stack.url}/ui")
        await page.evaluate("document.body.setAttribute('style', 'color: red')")
        found = await assert_eventually(seen, bool)
        assert "style-src" in found[0], found
    finally:
        await context.close()


async def test_a_long_contact_id_keeps_the_columns_on_the_page(stack: Stack, page: Page) -> None:
    """A 200-character contact id is cut with an ellipsis, shown whole in its title; every
    column stays inside the page."""
    contact = ("long-" + new_id("c") + "x" * 200)[:200]
    automation = await publish(stack)
    enrollment_id = await enroll(stack, automation, contact)
    await page.goto(f"{stack.url}/ui/enrollments?contact_id={contact}")
    link = page.get_by_role("link", name=enrollment_id)
    await expect(link).to_be_visible(timeout=REFRESHED)
    await expect(link).to_have_attribute("title", enrollment_id)
    row = page.locator("tbody tr").first
    await expect(row.get_by_role("link", name=contact, exact=True)).to_have_attribute(
        "title", contact
    )
    width = await page.evaluate("document.documentElement.clientWidth")
    wrap = await page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollWidth - w.clientWidth; })()"
    )
    assert wrap <= 0, f"the table is wider than its frame by {wrap}px"
    status = await row.locator(".badge").bounding_box()
    assert status is not None and status["x"] + status["width"] <= width, status
    await screenshot(page, "enrollments-long-contact-id")
