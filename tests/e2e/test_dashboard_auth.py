"""The dashboard behind API keys: a login form, a signed session cookie, CSRF tokens on every
form that changes something. The JSON API keeps its bearer keys."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from api.dashboard_auth import COOKIE
from api.main import create_app
from tests.support.dashboard_browser import chromium, screenshot, served
from tests.support.helpers import new_id
from tests.support.stack import Stack

KEY = "dashboard-key-1"
BEARER = {"Authorization": f"Bearer {KEY}"}
TEMPORAL_UI = "http://127.0.0.1:8233"
DEFINITION: dict[str, Any] = {
    "name": "Guarded funnel",
    "steps": [
        {"id": "hold", "type": "wait", "duration": "P1D"},
        {"id": "done", "type": "goal", "any_of": [{"event": "custom", "name": "go"}]},
    ],
}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def guarded(stack: Stack) -> AsyncIterator[str]:
    """The app with an API key and a Temporal UI link, on the stack's Temporal and worker."""
    settings = stack.settings.model_copy(
        update={"api_keys": f"{KEY},other-key", "temporal_ui_url": TEMPORAL_UI}
    )
    async with served(create_app(settings, stack.env.client)) as url:
        yield url


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    await context.close()


async def published_and_enrolled(url: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=url, headers=BEARER, timeout=30) as http:
        automation = new_id("guard")
        answer = await http.put(f"/v1/automations/{automation}", json=DEFINITION)
        assert answer.status_code == 201, answer.text
        answer = await http.post(
            f"/v1/automations/{automation}/enrollments", json={"contact": {"id": new_id()}}
        )
        assert answer.status_code == 201, answer.text
        return automation, answer.json()["enrollment_id"]


async def log_in(page: Page, url: str, key: str = KEY, path: str = "/ui") -> None:
    await page.goto(url + path)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Log in").click()


async def test_nothing_without_a_key_then_log_in_and_out(
    guarded: str, context: BrowserContext
) -> None:
    automation, enrollment_id = await published_and_enrolled(guarded)
    page = await context.new_page()
    # Every page leads to the login form, and shows nothing of the automations.
    for path in ("/ui", f"/ui/automations/{automation}", f"/ui/enrollments/{enrollment_id}"):
        await page.goto(guarded + path)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        assert "Guarded funnel" not in await page.content()
    await screenshot(page, "login")
    async with httpx.AsyncClient(base_url=guarded) as http:
        for path in ("/ui", f"/ui/enrollments/{enrollment_id}", "/ui/outbox"):
            answer = await http.get(path)
            assert answer.status_code == 401 and 'name="api_key"' in answer.text
            # Nothing but the path asked for (in the form, to come back to it).
            assert "Guarded funnel" not in answer.text and 'id="status"' not in answer.text
        answer = await http.get(f"/ui/automations/{automation}/counts.json")
        assert answer.status_code == 401
        answer = await http.get("/ui/automations.json")
        assert answer.status_code == 401

    await log_in(page, guarded, key="not-a-key")
    await expect(page.get_by_role("alert")).to_contain_text("not one of this server's API keys")

    # Logged in: back where the visitor was going, with the page's data.
    await log_in(page, guarded, path=f"/ui/enrollments/{enrollment_id}")
    await expect(page).to_have_url(f"{guarded}/ui/enrollments/{enrollment_id}")
    await expect(page.locator("#status")).to_have_text("active")
    link = page.get_by_role("link", name="this workflow in the Temporal UI")
    workflow = enrollment_id.replace(":", "%3A")
    await expect(link).to_have_attribute(
        "href", f"{TEMPORAL_UI}/namespaces/default/workflows/{workflow}"
    )
    cookie = next(c for c in await context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert KEY not in cookie["value"]

    # The cookie is no bearer key: the JSON API still wants its Authorization header.
    async with httpx.AsyncClient(base_url=guarded, cookies={COOKIE: cookie["value"]}) as http:
        assert (await http.get("/v1/automations")).status_code == 401
        assert (await http.get("/ui/automations.json")).status_code == 200

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    await page.goto(guarded + "/ui")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


async def test_forged_or_missing_csrf_token_is_refused(
    guarded: str, context: BrowserContext
) -> None:
    automation, enrollment_id = await published_and_enrolled(guarded)
    page = await context.new_page()
    await log_in(page, guarded, path=f"/ui/enrollments/{enrollment_id}")
    await expect(page.locator("#status")).to_have_text("active")
    await screenshot(page, "enrollment-logged-in")
    token_field = page.locator('form[action$="/cancel"] input[name="csrf_token"]')
    token = await token_field.get_attribute("value")
    assert token
    cookie = next(c for c in await context.cookies() if c["name"] == COOKIE)["value"]
    cancel = f"/ui/enrollments/{enrollment_id.replace(':', '%3A')}/cancel"
    pause = f"/ui/automations/{automation}/pause"
    async with httpx.AsyncClient(base_url=guarded, cookies={COOKIE: cookie}) as http:
        for form in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "xx"}):
            for action in (cancel, pause):
                answer = await http.post(action, data=form)
                assert answer.status_code == 403, (action, form, answer.text)
        # The right token without the session it belongs to: a login is asked for.
        async with httpx.AsyncClient(base_url=guarded) as stranger:
            answer = await stranger.post(cancel, data={"csrf_token": token})
            assert answer.status_code == 401 and 'name="api_key"' in answer.text
    # A cookie whose signature does not match is nobody's session.
    async with httpx.AsyncClient(base_url=guarded, cookies={COOKIE: cookie[:-4] + "AAAA"}) as http:
        assert (await http.get("/ui")).status_code == 401
    async with httpx.AsyncClient(base_url=guarded, headers=BEARER) as http:
        assert (await http.get(f"/v1/enrollments/{enrollment_id}")).json()["status"] == "active"
        assert (await http.get(f"/v1/automations/{automation}")).json()["state"] == "active"

    # A form forged in the page itself is refused too; the genuine one works.
    await token_field.evaluate("field => { field.value = 'forged' }")
    await page.get_by_role("button", name="Cancel enrollment").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Refused")
    await page.goto(f"{guarded}/ui/enrollments/{enrollment_id}")
    await page.get_by_role("button", name="Cancel enrollment").click()
    await expect(page.locator("#status")).to_have_text("cancelled")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def test_logout_revokes_the_session_for_every_api_process(stack: Stack) -> None:
    # Two API processes on the same Temporal, as behind a load balancer: one logs out, and a
    # copy of the cookie taken before is refused by the other one too.
    settings = stack.settings.model_copy(update={"api_keys": KEY})
    async with (
        served(create_app(settings, stack.env.client)) as first,
        served(create_app(settings, stack.env.client)) as second,
        httpx.AsyncClient(base_url=first) as browser,
    ):
        login = await browser.get("/ui/login")
        answer = await browser.post(
            "/ui/login", data={"csrf_token": _csrf(login.text), "api_key": KEY, "next": "/ui"}
        )
        assert answer.status_code == 303, answer.text
        copied = browser.cookies[COOKIE]
        page = await browser.get("/ui")
        assert page.status_code == 200 and "Log out" in page.text
        for url in (first, second):
            async with httpx.AsyncClient(base_url=url, cookies={COOKIE: copied}) as thief:
                assert (await thief.get("/ui/automations.json")).status_code == 200

        answer = await browser.post("/ui/logout", data={"csrf_token": _csrf(page.text)})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
        for url in (first, second):
            async with httpx.AsyncClient(base_url=url, cookies={COOKIE: copied}) as thief:
                assert (await thief.get("/ui/automations.json")).status_code == 401, url
                answer = await thief.get("/ui")
                assert answer.status_code == 401 and 'name="api_key"' in answer.text, url

        # Logging in again gives a new session, which works.
        login = await browser.get("/ui/login")
        answer = await browser.post(
            "/ui/login", data={"csrf_token": _csrf(login.text), "api_key": KEY, "next": "/ui"}
        )
        assert answer.status_code == 303 and browser.cookies[COOKIE] != copied
        assert (await browser.get("/ui/automations.json")).status_code == 200
