"""The dashboard's Contacts page, the outbox's message bodies, the timeline in words and the
language switch, in a real browser against a real stack (see tests/support/dashboard_browser.py)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from goalflow.service.contacts import GoalflowService
from tests.support.dashboard_browser import csp_violations, screenshot
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

REFRESHED = 20_000  # visibility lags by about a second, more on a loaded machine
# An email whose HTML would run a script, load an image from elsewhere and be styled inline.
GREETING: dict[str, Any] = {
    "name": "Greeting",
    "steps": [
        {
            "id": "hello",
            "type": "send_email",
            "name": "Hello email",
            "subject": "Hola {{ contact.first_name }}",
            "html": '<p id="greeting" style="color: rgb(200, 0, 0)">Hola '
            "{{ contact.first_name }}</p><script>alert('script in an email')</script>"
            '<img id="remote" src="https://images.example.com/x.png" alt="">',
            "text": "Hola {{ contact.first_name }}, in plain text.",
        },
        {"id": "pause", "type": "wait", "duration": "P2D"},
    ],
}


async def publish(stack: Stack, definition: dict[str, Any] = GREETING) -> str:
    automation = new_id("people")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=definition)
    assert answer.status_code == 201, answer.text
    return automation


async def enroll(stack: Stack, automation: str, contact: str) -> str:
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments", json={"contact": {"id": contact}}
    )
    assert answer.status_code == 201, answer.text
    enrollment_id: str = answer.json()["enrollment_id"]
    return enrollment_id


async def save(stack: Stack, contact: str, **profile: Any) -> None:
    answer = await stack.http.put(f"/v1/contacts/{contact}", json=profile)
    assert answer.status_code in (200, 201), answer.text


async def sent_to(stack: Stack, contact: str) -> list[dict[str, Any]]:
    async def outbox() -> list[dict[str, Any]]:
        answer = await stack.http.get("/v1/dev/outbox", params={"contact_id": contact})
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    return await assert_eventually(outbox, lambda messages: len(messages) == 1)


async def test_find_a_contact_by_the_start_of_its_id(stack: Stack, page: Page) -> None:
    prefix = new_id("who")
    ana, bob = f"{prefix}-ana", f"{prefix}-bob"
    odd = '<img src=x onerror="alert(1)">'
    await save(
        stack,
        ana,
        email=f"{ana}@example.com",
        first_name=odd,
        tags=["lead", "vip"],
        fields={"plan": odd, "visits": 3},
        locale="es",
    )
    await save(stack, bob, first_name="Bob")
    enrollment_id = await enroll(stack, await publish(stack), ana)

    # Listed once visibility has the contacts' workflows.
    async def found() -> str:
        return (await stack.http.get("/ui/contacts", params={"prefix": prefix})).text

    await assert_eventually(found, lambda text: ana in text and bob in text)
    await page.goto(f"{stack.url}/ui")
    await (
        page.get_by_role("navigation", name="Dashboard")
        .get_by_role("link", name="Contacts")
        .click()
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    await page.get_by_label("Contact id starts with").fill(prefix)
    await page.get_by_role("button", name="Find").click()
    listed = page.locator("#contacts li")
    await expect(listed).to_have_count(2)
    await expect(listed).to_have_text([ana, bob])
    await page.get_by_label("Contact id starts with").fill(f"{prefix}-a")
    await page.get_by_role("button", name="Find").click()
    await expect(listed).to_have_text([ana])
    await screenshot(page, "contacts-found")

    await page.get_by_role("link", name=ana).click()
    await expect(page).to_have_url(f"{stack.url}/ui/contacts/{ana}")
    profile = page.locator("#profile")
    await expect(profile).to_contain_text(f"{ana}@example.com")
    await expect(profile).to_contain_text(odd)  # shown as text, never run
    await expect(page.locator("#tags li")).to_have_text(["lead", "vip"])
    fields = page.locator("#fields")
    await expect(fields.get_by_role("row").filter(has_text="plan")).to_contain_text(odd)
    await expect(fields.get_by_role("row").filter(has_text="locale")).to_contain_text("es")
    link = page.get_by_role("link", name=enrollment_id)
    await expect(link).to_be_visible(timeout=REFRESHED)
    assert await page.locator("img").count() == 0
    assert await page.locator("script").count() == 1  # the dashboard's own
    await screenshot(page, "contact")
    await link.click()
    await expect(page.locator("#status")).to_have_text("active")

    # Nobody by that start, and an id no contact can have: said, and escaped.
    await page.goto(f"{stack.url}/ui/contacts?prefix=nobody-{prefix}")
    nobody = page.locator("main")
    await expect(nobody).to_contain_text(f"No contact's id starts with nobody-{prefix}")
    answer = await page.goto(f"{stack.url}/ui/contacts?prefix=<script>alert(1)</script>")
    assert answer is not None and answer.status == 400
    await expect(page.get_by_role("alert")).to_contain_text("no spaces or slashes")
    answer = await page.goto(f"{stack.url}/ui/contacts/never-{prefix}")
    assert answer is not None and answer.status == 404


async def test_the_outbox_shows_an_email_in_a_sandboxed_frame(
    stack: Stack, browser: Browser
) -> None:
    contact = new_id("mail")
    await save(stack, contact, email=f"{contact}@example.com", first_name="Ana")
    await enroll(stack, await publish(stack), contact)
    await sent_to(stack, contact)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        violations = await csp_violations(page)
        answer = await page.goto(f"{stack.url}/ui/outbox?contact_id={contact}")
        assert answer is not None
        assert "frame-src 'self'" in (await answer.all_headers())["content-security-policy"]
        row = page.locator("tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text("Hola Ana")
        frame_element = row.locator("iframe.message-html")
        await expect(frame_element).to_be_hidden()  # one click away
        await row.get_by_text("Message").click()
        await expect(frame_element).to_be_visible()
        # Sandboxed with nothing allowed: no script, no same origin, no popups, no top navigation.
        await expect(frame_element).to_have_attribute("sandbox", "")
        body = page.frame_locator("iframe.message-html")
        greeting = body.locator("#greeting")
        await expect(greeting).to_have_text("Hola Ana")
        await expect(greeting).to_have_css("color", "rgb(200, 0, 0)")  # its inline style
        # Laid out at the frame's width (a frame first laid out while hidden could be narrow).
        width = await body.locator("body").evaluate("body => body.clientWidth")
        assert width > 300, width
        # Nothing is fetched from elsewhere (nor the open pixel): the image stays unloaded.
        loaded = await body.locator("#remote").evaluate("image => image.naturalWidth")
        assert loaded == 0
        await expect(row.locator("pre.message-text")).to_contain_text("Hola Ana, in plain text.")
        await screenshot(page, "outbox-message")
        assert not dialogs, f"a script in the email ran: {dialogs}"
        # What the policies refused, if reported at all, is the email's own content.
        assert all("img-src" in v or "script-src" in v for v in violations), violations

        # The frame's address serves the HTML with a policy of its own, to the dashboard only.
        message_id = (await sent_to(stack, contact))[0]["message_id"]
        framed = await stack.http.get("/ui/outbox/html", params={"message_id": message_id})
        policy = framed.headers["content-security-policy"]
        assert "sandbox" in policy and "img-src data:" in policy
        assert "script-src" not in policy and "frame-ancestors 'self'" in policy
        assert framed.headers["x-frame-options"] == "SAMEORIGIN"
        missing = await stack.http.get("/ui/outbox/html", params={"message_id": "<none@x>"})
        assert missing.status_code == 404
    finally:
        await context.close()
    # Viewing the email recorded no open.
    goalflow = GoalflowService(stack.env.client, stack.settings.task_queue)
    view = await goalflow.contact(contact)
    assert view.events_seen == 1, view  # contact.created only


async def test_the_timeline_in_words_and_the_language_switch(stack: Stack, page: Page) -> None:
    contact = new_id("lang")
    await save(stack, contact, email=f"{contact}@example.com", first_name="Ana")
    enrollment_id = await enroll(stack, await publish(stack), contact)
    await sent_to(stack, contact)
    await page.goto(f"{stack.url}/ui/enrollments/{enrollment_id}")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text(f"Email sent to {contact}@example.com")
    await expect(timeline).to_contain_text("Waiting until 20")
    await expect(timeline).to_contain_text("Step 'Hello email' started")
    # The entry's JSON, one click away.
    sent = timeline.get_by_role("row").filter(has_text="Email sent to")
    raw = sent.locator("details code")
    await expect(raw).to_be_hidden()
    await sent.get_by_text("JSON").click()
    await expect(raw).to_contain_text('"message_id"')
    await screenshot(page, "enrollment-timeline-words")

    # Switch to Spanish: this page, then the next ones (the cookie remembers it).
    languages = page.get_by_role("navigation", name="Language")
    await languages.get_by_role("link", name="Español").click()
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page).to_have_url(f"{stack.url}/ui/enrollments/{enrollment_id}?lang=es")
    await expect(timeline).to_contain_text(f"Correo enviado a {contact}@example.com")
    await expect(timeline).to_contain_text("Esperando hasta el 20")
    await expect(page.get_by_role("button", name="Cancelar la inscripción")).to_be_visible()
    await screenshot(page, "enrollment-es")
    await (
        page.get_by_role("navigation", name="Panel")
        .get_by_role("link", name="Automatizaciones")
        .click()
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Automatizaciones")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await page.get_by_role("link", name="Contactos").click()
    await expect(page.get_by_label("El id del contacto empieza por")).to_be_visible()
    await screenshot(page, "contacts-es")
    # And back to English.
    await page.get_by_role("navigation", name="Idioma").get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    await page.goto(f"{stack.url}/ui")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Automations")
