"""Languages over HTTP against a real stack: the dashboard's `?lang=` (remembered in a cookie),
`Accept-Language` and English by default; a contact's pages (the unsubscribe confirmation, its
result, a link that is not valid or gone) in the contact's `locale`, else its browser's
language, else English; `PUT /v1/contacts/{id}` refusing a `locale` that is not a BCP 47 tag."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from goalflow.core.tracking import TrackedTarget, Tracker, TrackingKind
from goalflow.service.contacts import GoalflowService
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack


def page_language(answer: httpx.Response) -> str:
    found = re.search(r'<html lang="([^"]+)"', answer.text)
    assert found is not None, answer.text[:300]
    return found.group(1)


@pytest.fixture
async def browser_like(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own: the cookies it collects are nobody else's."""
    async with httpx.AsyncClient(base_url=stack.url) as client:
        yield client


async def test_the_dashboard_is_english_by_default(browser_like: httpx.AsyncClient) -> None:
    answer = await browser_like.get("/ui")
    assert answer.status_code == 200
    assert page_language(answer) == "en" and "<h1>Automations</h1>" in answer.text
    # A language we do not have, asked by the browser: English.
    answer = await browser_like.get("/ui", headers={"Accept-Language": "fr-FR, de;q=0.5"})
    assert page_language(answer) == "en"


async def test_the_dashboard_follows_accept_language(browser_like: httpx.AsyncClient) -> None:
    answer = await browser_like.get("/ui", headers={"Accept-Language": "fr, es-MX;q=0.8"})
    assert page_language(answer) == "es" and "<h1>Automatizaciones</h1>" in answer.text
    assert "Vary" in answer.headers and "Accept-Language" in answer.headers["Vary"]
    assert "goalflow_lang" not in answer.cookies  # only ?lang= is remembered


async def test_lang_in_the_address_is_remembered_in_a_cookie(
    browser_like: httpx.AsyncClient,
) -> None:
    answer = await browser_like.get("/ui/enrollments?lang=es")
    assert page_language(answer) == "es" and "<h1>Inscripciones</h1>" in answer.text
    cookie = answer.headers["set-cookie"]
    assert "goalflow_lang=es" in cookie and "Path=/ui" in cookie and "HttpOnly" in cookie
    # Remembered on the next page, even against the browser's own language...
    answer = await browser_like.get("/ui/contacts", headers={"Accept-Language": "en"})
    assert page_language(answer) == "es" and "<h1>Contactos</h1>" in answer.text
    # ...and the 404 page is Spanish too.
    answer = await browser_like.get("/ui/no-such-page")
    assert answer.status_code == 404 and "<h1>No encontrado</h1>" in answer.text
    # ?lang=en switches back, and that is remembered.
    answer = await browser_like.get("/ui?lang=en")
    assert page_language(answer) == "en"
    answer = await browser_like.get("/ui/enrollments", headers={"Accept-Language": "es"})
    assert page_language(answer) == "en"
    # A language we do not have in the address changes nothing.
    answer = await browser_like.get("/ui?lang=xx")
    assert page_language(answer) == "en" and "goalflow_lang" not in answer.cookies


async def save_contact(stack: Stack, contact: str, **profile: object) -> None:
    answer = await stack.http.put(f"/v1/contacts/{contact}", json=profile)
    assert answer.status_code in (200, 201), answer.text


def unsubscribe_link(stack: Stack, contact: str) -> str:
    tracker = Tracker(stack.settings.secret, stack.url)
    target = TrackedTarget(contact_id=contact, automation_id="a", channel="email")
    return f"/t/u/{tracker.token(TrackingKind.UNSUBSCRIBE, target)}"


async def test_a_contact_with_a_spanish_locale_gets_spanish_pages(stack: Stack) -> None:
    contact = new_id("es")
    await save_contact(stack, contact, email=f"{contact}@example.com", locale="es-MX")
    profile = (await stack.http.get(f"/v1/contacts/{contact}")).json()
    assert profile["fields"]["locale"] == "es-MX"
    link = unsubscribe_link(stack, contact)
    # The contact's locale wins over its browser's language.
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    page = await stack.http.get(link, headers=english_browser)
    assert page.status_code == 200 and page_language(page) == "es"
    assert "¿Darte de baja?" in page.text and "Darme de baja</button>" in page.text
    done = await stack.http.post(link, headers=english_browser)
    assert done.status_code == 200 and page_language(done) == "es"
    assert "Te has dado de baja" in done.text
    goalflow = GoalflowService(stack.env.client, stack.settings.task_queue)
    await assert_eventually(lambda: goalflow.contact(contact), lambda view: view.unsubscribed)


async def test_an_english_locale_wins_over_a_spanish_browser(stack: Stack) -> None:
    contact = new_id("en")
    await save_contact(stack, contact, locale="en")
    page = await stack.http.get(unsubscribe_link(stack, contact), headers={"Accept-Language": "es"})
    assert page_language(page) == "en" and "Unsubscribe?" in page.text


async def test_without_a_locale_the_browser_decides_then_english(stack: Stack) -> None:
    contact = new_id("nolocale")
    await save_contact(stack, contact, first_name="Ana")
    link = unsubscribe_link(stack, contact)
    spanish = await stack.http.get(link, headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert page_language(spanish) == "es" and "¿Darte de baja?" in spanish.text
    english = await stack.http.get(link, headers={"Accept-Language": "de"})
    assert page_language(english) == "en" and "Unsubscribe?" in english.text
    # A locale of a language we do not have: still the browser's.
    await save_contact(stack, contact, locale="fr-CA")
    french = await stack.http.get(link, headers={"Accept-Language": "es"})
    assert page_language(french) == "es"


async def test_a_link_that_is_not_valid_says_so_in_the_browser_language(stack: Stack) -> None:
    for path in ("/t/u/forged", "/t/c/forged"):
        answer = await stack.http.get(path, headers={"Accept-Language": "es"})
        assert answer.status_code == 404, path
        assert page_language(answer) == "es" and "Este enlace no es válido" in answer.text
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        answer = await stack.http.get(path)
        assert page_language(answer) == "en" and "This link is not valid" in answer.text


async def test_a_gone_trigger_link_page_is_in_the_contact_language(stack: Stack) -> None:
    contact = new_id("gone")
    await save_contact(stack, contact, locale="es")
    tracker = Tracker(stack.settings.secret, stack.url)
    target = TrackedTarget(contact_id=contact, automation_id="a", link_id=new_id("nolink"))
    answer = await stack.http.get(f"/t/c/{tracker.token(TrackingKind.CLICK, target)}")
    assert answer.status_code == 404
    assert page_language(answer) == "es" and "ya no está disponible" in answer.text


@pytest.mark.parametrize("locale", ["es_MX", "español", "", "e", "en--US", "x" * 80, 42])
async def test_a_malformed_locale_is_a_422(stack: Stack, locale: object) -> None:
    answer = await stack.http.put(f"/v1/contacts/{new_id('bad')}", json={"locale": locale})
    assert answer.status_code == 422, answer.text
    assert [e["loc"] for e in answer.json()["detail"]] == [["body", "locale"]]


async def test_the_language_links_keep_the_page_and_its_query(
    browser_like: httpx.AsyncClient,
) -> None:
    answer = await browser_like.get("/ui/enrollments", params={"contact_id": "a&b", "lang": "es"})
    assert 'href="/ui/enrollments?contact_id=a%26b&amp;lang=en"' in answer.text
    # An id holding "?" stays in the path of the link, percent-encoded.
    answer = await browser_like.get("/ui/enrollments/enr:a%3Fb:c:1")
    assert answer.status_code == 404
    assert 'href="/ui/enrollments/enr:a%3Fb:c:1?lang=en"' in answer.text
