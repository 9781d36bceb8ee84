"""The builder in a real browser (Debian's Chromium): the guide's "Appointment Confirmed Goal"
automation built by clicks only, saved with a problem shown beside its field, fixed, saved and
activated; then it runs. The automation's page lists versions, diffs them and restores one.

Screenshots go to the run's screenshot folder (tests/support/dashboard_browser.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from api.i18n import CATALOGUES, Language
from tests.support.dashboard_browser import chromium, csp_violations, screenshot
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack, own_stack

# The guide's trigger on the tag `lead` must meet no automation another test published.
stack = own_stack("builder")


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
    # The builder's script and styles pass the pages' Content Security Policy.
    assert not violations, violations


def builder_words(language: Language) -> dict[str, str]:
    """The builder's words in that language, by their short names (`builder.` left out)."""
    return {
        key.removeprefix("builder."): message
        for key, message in CATALOGUES[language].items()
        if key.startswith("builder.")
    }


async def add_step(page: Page, kind: str, words: dict[str, str] | None = None) -> Locator:
    """Add a step of that kind (its label in the picker); the new step's card."""
    words = words or builder_words("en")
    cards = page.locator("li.step-card")
    before = await cards.count()
    await page.get_by_label(words["new_step_type"]).select_option(label=kind)
    await page.get_by_role("button", name=words["add_step"]).click()
    await expect(cards).to_have_count(before + 1)
    return cards.nth(before)


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_build_the_guides_automation_by_clicks(stack: Stack, page: Page, lang: str) -> None:
    """The guide's automation, click by click, in English and in Spanish (`?lang=es`)."""
    language: Language = "es" if lang == "es" else "en"
    w = builder_words(language)
    # The stack is shared: each language's automation listens to a tag of its own.
    lead = "lead" if lang == "en" else f"lead-{lang}"
    automation = new_id("guide")
    await page.goto(f"{stack.url}/ui?lang={lang}")
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await page.get_by_role("link", name=w["new_automation"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(w["new_title"])
    await page.get_by_label(w["automation_id"]).fill(automation)
    await page.get_by_label(w["name"], exact=True).fill("Appointment follow-up")

    # Enters when the tag "lead" is added.
    await page.get_by_role("button", name=w["add_trigger"]).click()
    trigger = page.locator(".criterion").first
    await trigger.get_by_label(w["event"], exact=True).select_option(
        label=w["event_contact.tag_added"]
    )
    await trigger.get_by_label(w["tag"], exact=True).fill(lead)

    welcome = await add_step(page, w["type_send_email"], w)
    await welcome.get_by_label(w["step_name"]).fill("Welcome")
    await welcome.get_by_label(w["subject"], exact=True).fill("Welcome {{ contact.first_name }}")
    await welcome.get_by_label(w["html"]).fill("<p>Book a call with us.</p>")

    wait = await add_step(page, w["type_wait"], w)
    await wait.get_by_label(w["amount"]).fill("2")
    await expect(wait.get_by_label(w["unit"])).to_have_value("D")

    goal = await add_step(page, w["type_goal"], w)
    await goal.get_by_label(w["goal_name"]).fill("Appointment Confirmed Goal")
    await goal.get_by_label(w["event"], exact=True).select_option(
        label=w["event_appointment.status_changed"]
    )
    await goal.get_by_label(w["status_confirmed"]).check()

    confirmation = await add_step(page, w["type_send_email"], w)
    await confirmation.get_by_label(w["step_name"]).fill("Confirmation")
    await confirmation.get_by_label(w["html"]).fill("<p>See you soon.</p>")
    # Renamed: the goal's jump below follows the new id.
    await confirmation.get_by_label(w["step_id"]).fill("confirm-mail")
    await confirmation.get_by_label(w["step_id"]).press("Tab")

    goal = page.locator("li.step-card").nth(2)
    await goal.get_by_label(w["on_met"]).select_option(label=w["on_met_goto"])
    await goal.get_by_label(w["goto_step"], exact=True).select_option(label="4. Confirmation")
    await goal.get_by_label(w["if_unmet"]).select_option(label=w["if_unmet_wait"])
    await goal.get_by_label(w["wait_limit"]).fill("14")

    # Saved with the confirmation's subject missing: the problem shows beside that field.
    await page.get_by_role("button", name=w["save_draft"]).click()
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}/edit")
    confirmation = page.locator("li.step-card").nth(3)
    alert = confirmation.get_by_role("alert")
    await expect(alert).to_have_count(1)
    await expect(alert).to_contain_text("at least 1 character")
    subject_field = confirmation.locator('[data-loc="steps.3.subject"]')
    await expect(subject_field.get_by_role("alert")).to_have_count(1)
    await screenshot(page, f"builder-problem-{lang}")
    draft = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
    assert [p["loc"] for p in draft["problems"]] == [["steps", 3, "subject"]]
    assert (await stack.http.get(f"/v1/automations/{automation}")).status_code == 404

    await confirmation.get_by_label(w["subject"], exact=True).fill("See you soon")
    await expect(page.get_by_role("alert")).to_have_count(0)  # the change saved, and checked
    await page.get_by_role("button", name=w["save_and_activate"]).click()
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}")
    await expect(page.locator("#state")).to_have_text(CATALOGUES[language]["state.active"])

    published = (await stack.http.get(f"/v1/automations/{automation}")).json()
    assert published["version"] == 1
    assert published["triggers"] == [{"event": "contact.tag_added", "tag": lead}]
    steps = {s["id"]: s for s in published["steps"]}
    assert [s["type"] for s in published["steps"]] == ["send_email", "wait", "goal", "send_email"]
    goal_step = published["steps"][2]
    assert goal_step["name"] == "Appointment Confirmed Goal"
    assert goal_step["any_of"] == [{"event": "appointment.status_changed", "status": ["confirmed"]}]
    assert goal_step["on_met"] == {"action": "goto", "step": "confirm-mail"}
    assert goal_step["if_unmet"] == {"action": "wait", "timeout": "P14D", "on_timeout": "end"}
    assert published["steps"][1]["duration"] == "P2D"
    assert steps["confirm-mail"]["subject"] == "See you soon"
    assert (await stack.http.get(f"/v1/automations/{automation}/draft")).status_code == 404

    # It runs: the tag enrolls the contact, the confirmed appointment skips to the confirmation.
    contact = new_id()
    email = f"{contact}@example.com"
    answer = await stack.http.put(f"/v1/contacts/{contact}", json={"email": email})
    assert answer.status_code == 201, answer.text
    answer = await stack.http.post(f"/v1/contacts/{contact}/tags", json={"add": [lead]})
    assert answer.status_code == 202, answer.text
    confirmed = {
        "contact_id": contact,
        "type": "appointment.status_changed",
        "data": {"status": "confirmed", "appointment_id": "a-1"},
    }
    answer = await stack.http.post("/v1/events", json=confirmed)
    assert answer.status_code == 202, answer.text

    async def outbox() -> list[dict[str, Any]]:
        found = await stack.http.get("/v1/dev/outbox", params={"contact_id": contact})
        messages: list[dict[str, Any]] = found.json()["messages"]
        return messages

    messages = await assert_eventually(outbox, lambda m: len(m) == 2)
    assert sorted(m["subject"] for m in messages) == ["See you soon", "Welcome"]


async def test_versions_diff_and_restore_from_the_page(stack: Stack, page: Page) -> None:
    automation = new_id("versions")
    hello = {"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>Hi</p>"}
    first = {"name": "Versions", "steps": [hello]}
    second = {**first, "steps": [{**hello, "subject": "Hello again"}]}
    for definition in (first, second):
        assert (await stack.http.put(f"/v1/automations/{automation}", json=definition)).is_success
    await page.goto(f"{stack.url}/ui/automations/{automation}")
    versions = page.locator("ol.versions > li")
    await expect(versions).to_have_count(2)
    await expect(versions.first).to_contain_text("v2")
    await versions.first.get_by_text("Changes from v1").click()
    await expect(versions.first.locator("pre.diff .del")).to_contain_text('"subject": "Hello"')
    await expect(versions.first.locator("pre.diff .add")).to_contain_text(
        '"subject": "Hello again"'
    )
    await screenshot(page, "automation-versions")
    await versions.nth(1).get_by_role("button", name="Restore as draft").click()
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}/edit")
    await expect(
        page.locator("li.step-card").first.get_by_label("Subject", exact=True)
    ).to_have_value("Hello")
    draft = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
    assert (draft["definition"]["steps"][0]["subject"], draft["base_version"]) == ("Hello", 2)
    await page.goto(f"{stack.url}/ui/automations/{automation}")
    await expect(page.get_by_role("link", name="Edit")).to_have_attribute(
        "href", f"/ui/automations/{automation}/edit"
    )


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_the_builder_on_a_phone(stack: Stack, browser: Browser, lang: str) -> None:
    w = builder_words("es" if lang == "es" else "en")
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    try:
        await page.goto(f"{stack.url}/ui/automations/new?lang={lang}")
        await page.get_by_label(w["new_step_type"]).select_option(label=w["type_goal"])
        await page.get_by_role("button", name=w["add_step"]).click()
        await page.get_by_role("button", name=w["save_draft"]).click()
        await expect(page.get_by_role("alert")).to_contain_text(w["needs_id"])
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the builder is wider than the phone by {overflow}px"
        await screenshot(page, f"builder-phone-{lang}")
    finally:
        await context.close()


async def test_the_builders_save_needs_the_csrf_token_and_a_free_id(stack: Stack) -> None:
    http = stack.http
    page = await http.get("/ui/automations/new")
    assert page.status_code == 200
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found is not None
    token = {"X-CSRF-Token": found.group(1)}
    automation = new_id("b")
    url = f"/ui/automations/{automation}/builder.json"
    body = {"definition": {"name": "B", "steps": []}, "new": True}
    refused = await http.post(url, json=body, headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403
    assert (await http.get(f"/v1/automations/{automation}/draft")).status_code == 404
    saved = await http.post(url, json=body, headers=token)
    assert saved.status_code == 200, saved.text
    assert saved.json()["saved"] is True
    assert [p["loc"] for p in saved.json()["problems"]] == [["steps"]]
    # The id is taken now: a second "new" automation with it is refused, the draft kept.
    again = await http.post(url, json={**body, "definition": {"name": "other"}}, headers=token)
    assert again.status_code == 409
    draft = (await http.get(f"/v1/automations/{automation}/draft")).json()
    assert draft["definition"] == {"name": "B", "steps": []}
    # Published with errors: nothing is.
    published = await http.post(url, json={**body, "new": False, "publish": True}, headers=token)
    assert published.json()["location"] is None
    assert (await http.get(f"/v1/automations/{automation}")).status_code == 404
    # Listed as a draft on the dashboard, linking to its builder.
    listing = await http.get("/ui")
    assert f'href="/ui/automations/{automation}/edit"' in listing.text


EVERY_STEP: dict[str, Any] = {
    "name": "Every step",
    "description": "All the kinds",
    "settings": {"allow_reentry": True, "timezone": "Europe/Madrid",
                 "send_window": {"days": ["mon", "tue"], "start": "09:00", "end": "18:00"}},
    "triggers": [
        {"id": "booked", "event": "appointment.status_changed", "status": ["new"],
         "calendar_id": "c1"},
        {"event": "contact.updated", "field": "plan"},
        {"event": "custom", "name": "signup", "where": {"plan": "pro", "seats": 3}},
    ],
    "steps": [
        {"id": "mail", "type": "send_email", "name": "Hello", "subject": "Hi", "html": "<a href=\"https://x.test/a\">a</a>",
         "text": "Hi", "from": "team@example.com", "send_window": None},
        {"id": "sms", "type": "send_sms", "body": "Hi"},
        {"id": "later", "type": "wait", "until_time": "10:00", "weekdays": ["mon"]},
        {"id": "until", "type": "wait", "until": "2030-01-01T09:00:00Z"},
        {"id": "tag", "type": "add_tag", "tag": "a"},
        {"id": "untag", "type": "remove_tag", "tag": "b"},
        {"id": "fields", "type": "update_contact", "fields": {"plan": "pro", "seats": 3}},
        {"id": "hook", "type": "webhook", "url": "https://hooks.example.com/x", "method": "PUT",
         "headers": {"X-Key": "v"}, "body": {"id": "{{ contact.id }}"}},
        {"id": "branch", "type": "if_else", "if": {"field": "seats", "gt": 2}, "then": "goal",
         "else": "stop"},
        {"id": "goal", "type": "goal", "name": "Clicked", "jump_from": "anywhere",
         "any_of": [{"event": "email.clicked", "email_step": "mail", "url": "https://x.test/*"},
                    {"event": "contact.tag_added", "tag": "vip", "match_context": ["order"],
                     "lookback": "PT1H"}],
         "on_met": {"action": "end"},
         "if_unmet": {"action": "wait", "timeout": "PT3H", "on_timeout": "continue"}},
        {"id": "stop", "type": "end"},
    ],
}  # fmt: skip


async def test_the_builder_keeps_a_definition_it_did_not_change(stack: Stack, page: Page) -> None:
    automation = new_id("every")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=EVERY_STEP)
    assert answer.status_code == 201, answer.text
    published = (await stack.http.get(f"/v1/automations/{automation}")).json()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{stack.url}/ui/automations/{automation}/edit")
    await expect(page.locator("li.step-card")).to_have_count(len(EVERY_STEP["steps"]))
    await expect(page.get_by_label("Time zone")).to_have_value("Europe/Madrid")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_role("status")).to_have_text("Draft saved.")
    await screenshot(page, "builder-every-step")
    assert not errors, errors
    draft = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
    assert draft["problems"] == []
    assert draft["base_version"] == 1
    kept = {k: v for k, v in published.items() if k in EVERY_STEP}
    assert draft["definition"] == kept

    # A step renamed while saves come and go: the branch that jumps to it follows every time.
    async def saved_draft() -> dict[str, Any]:
        found: dict[str, Any] = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
        return found

    step_id = page.locator("li.step-card").nth(9).get_by_label("Step id")
    await step_id.fill("goal-m")
    await assert_eventually(saved_draft, lambda d: d["definition"]["steps"][9]["id"] == "goal-m")
    await step_id.press_sequentially("et")
    await step_id.press("Tab")
    found = await assert_eventually(
        saved_draft, lambda d: d["definition"]["steps"][9]["id"] == "goal-met"
    )
    assert found["definition"]["steps"][8]["then"] == "goal-met"
    assert found["problems"] == []
    branch = page.locator("li.step-card").nth(8)
    await expect(branch.get_by_label("If true, go to")).to_have_value("goal-met")


async def test_save_and_activate_says_when_a_version_came_meanwhile(stack: Stack) -> None:
    http = stack.http
    page = await http.get("/ui/automations/new")
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found is not None
    token = {"X-CSRF-Token": found.group(1)}
    automation = new_id("b")
    hello = {"id": "hello", "type": "add_tag", "tag": "hello"}
    url = f"/ui/automations/{automation}/builder.json"
    body = {"definition": {"name": "Mine", "steps": [hello]}, "new": True}
    assert (await http.post(url, json=body, headers=token)).json()["saved"] is True
    other = {"name": "Theirs", "steps": [hello]}
    assert (await http.put(f"/v1/automations/{automation}", json=other)).status_code == 201
    body = {**body, "new": False, "publish": True}
    stale = (await http.post(url, json=body, headers=token)).json()
    assert (stale["saved"], stale["stale"], stale["location"]) == (True, True, None)
    assert "Version 1 was published after this draft" in stale["message"]
    assert (await http.get(f"/v1/automations/{automation}")).json()["name"] == "Theirs"
    forced = (await http.post(url, json={**body, "force": True}, headers=token)).json()
    assert forced["location"] == f"/ui/automations/{automation}"
    published = (await http.get(f"/v1/automations/{automation}")).json()
    assert (published["name"], published["version"], published["state"]) == ("Mine", 2, "active")


async def test_the_builder_in_spanish_builds_and_publishes_a_split(
    stack: Stack, page: Page
) -> None:
    automation = new_id("dividir")
    await page.goto(f"{stack.url}/ui/automations/new?lang=es")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nueva automatización")
    await expect(page.get_by_label("Tipo del nuevo paso")).to_be_visible()
    await expect(page.get_by_role("button", name="Guardar y activar")).to_be_visible()
    await page.get_by_label("Id de la automatización").fill(automation)
    await page.get_by_label("Nombre", exact=True).fill("Prueba de asunto")
    await page.get_by_label("Reservar un grupo de control que no recibe nada").check()
    await page.get_by_label("Porcentaje reservado (1–50)").fill("20")

    cards = page.locator("li.step-card")
    for kind in ("División (experimento)", "Añadir etiqueta", "Fin", "Añadir etiqueta"):
        before = await cards.count()
        await page.get_by_label("Tipo del nuevo paso").select_option(label=kind)
        await page.get_by_role("button", name="Añadir paso").click()
        await expect(cards).to_have_count(before + 1)
    await cards.nth(1).get_by_label("Etiqueta", exact=True).fill("a")
    await cards.nth(3).get_by_label("Etiqueta", exact=True).fill("b")

    split = cards.nth(0)
    paths = split.locator(".split-path")
    await expect(paths).to_have_count(2)
    await expect(split.get_by_role("button", name="Quitar camino").first).to_be_disabled()
    await split.get_by_role("button", name="Añadir camino").click()
    await expect(paths).to_have_count(3)
    await paths.nth(0).get_by_label("Va al paso").select_option(label="2. add-tag-1")
    await paths.nth(1).get_by_label("Peso (1–100)").fill("30")
    await paths.nth(1).get_by_label("Va al paso").select_option(label="4. add-tag-2")
    await paths.nth(2).get_by_label("Id del camino").fill("none")
    await paths.nth(2).get_by_label("Va al paso").select_option(label="3. end-1")

    await page.get_by_role("button", name="Guardar y activar").click()
    await expect(page).to_have_url(f"{stack.url}/ui/automations/{automation}")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.get_by_role("heading", name="Experimentos de v1")).to_be_visible()
    await expect(page.locator("#split-split-1")).to_contain_text("Camino")
    await expect(page.locator("#holdout")).to_contain_text("Reservados")

    published = (await stack.http.get(f"/v1/automations/{automation}")).json()
    assert published["state"] == "active"
    assert published["settings"]["holdout"] == {"percent": 20, "window": "P14D"}
    assert published["steps"][0] == {
        "id": "split-1",
        "type": "split",
        "paths": [
            {"id": "a", "weight": 50, "next": "add-tag-1"},
            {"id": "b", "weight": 30, "next": "add-tag-2"},
            {"id": "none", "weight": 50, "next": "end-1"},
        ],
    }
    assert [s["type"] for s in published["steps"]] == ["split", "add_tag", "end", "add_tag"]


SPLIT_AND_HOLDOUT: dict[str, Any] = {
    "name": "Subject line test",
    "settings": {"holdout": {"percent": 10, "window": "P7D"}, "priority": "transactional",
                 "when_capped": "skip"},
    "triggers": [{"event": "contact.tag_added", "tag": "offer"}],
    "steps": [
        {"id": "subject-test", "type": "split", "paths": [
            {"id": "short", "weight": 70, "next": "mail-short"},
            {"id": "long", "weight": 30, "next": "mail-long"}]},
        {"id": "mail-short", "type": "send_email", "subject": "20 % off", "html": "<p>Offer</p>"},
        {"id": "to-goal", "type": "if_else", "if": {"lacks_tag": "never"}, "then": "bought",
         "else": "bought"},
        {"id": "mail-long", "type": "send_email", "subject": "This week only",
         "html": "<p>Offer</p>"},
        {"id": "bought", "type": "goal", "any_of": [{"event": "custom", "name": "order.paid"}],
         "if_unmet": {"action": "wait", "timeout": "P7D"}, "on_met": {"action": "end"}},
    ],
}  # fmt: skip


async def test_a_split_and_a_holdout_open_and_save_back_unchanged(stack: Stack, page: Page) -> None:
    automation = new_id("split")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=SPLIT_AND_HOLDOUT)
    assert answer.status_code == 201, answer.text
    published = (await stack.http.get(f"/v1/automations/{automation}")).json()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{stack.url}/ui/automations/{automation}/edit?lang=en")
    split = page.locator("li.step-card").first
    await expect(split.locator(".split-path")).to_have_count(2)
    await expect(split.get_by_label("Weight (1–100)").first).to_have_value("70")
    await expect(split.get_by_label("Goes to step").nth(1)).to_have_value("mail-long")
    await expect(page.get_by_label("Share held out, percent (1–50)")).to_have_value("10")
    await expect(page.get_by_label("How long a held-out contact listens")).to_have_value("7")
    await expect(page.get_by_label("Priority")).to_have_value("transactional")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_role("status")).to_have_text("Draft saved.")
    assert not errors, errors
    draft = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
    assert [p for p in draft["problems"] if p["level"] == "error"] == []
    kept = {k: v for k, v in published.items() if k in SPLIT_AND_HOLDOUT}
    assert draft["definition"] == kept

    # Renaming a step a path goes to: the path follows.
    step_id = page.locator("li.step-card").nth(3).get_by_label("Step id")
    await step_id.fill("mail-l")
    await step_id.press("Tab")
    await expect(split.get_by_label("Goes to step").nth(1)).to_have_value("mail-l")

    async def saved_paths() -> list[dict[str, Any]]:
        found = (await stack.http.get(f"/v1/automations/{automation}/draft")).json()
        paths: list[dict[str, Any]] = found["definition"]["steps"][0]["paths"]
        return paths

    await assert_eventually(saved_paths, lambda paths: paths[1]["next"] == "mail-l")
