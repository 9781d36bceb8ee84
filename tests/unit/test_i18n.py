"""The languages of the pages, without a server: both catalogues have the same messages with
the same placeholders, every key the pages use is in them, language tags and Accept-Language are
read as RFC 5646 / RFC 9110 say, and the timeline is said in words in both languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter

import pytest

from api.dashboard_pages import when
from api.i18n import (
    CATALOGUES,
    _catalogue,
    contact_language,
    from_accept_language,
    is_language_tag,
    language_of,
    translator,
)
from api.routes.builder import EVENTS, STEP_TYPES
from api.timeline_words import TimelineWords
from goalflow.core.validation import parse_automation
from workflows.definition import APPOINTMENT_STATUSES, GOAL_KINDS, WEEKDAYS
from workflows.messages import ContactView, TimelineEntry

API = Path(__file__).resolve().parents[2] / "api"
CONDITIONS = re.compile(r"var CONDITIONS = \[([^\]]*)\]")
EN, ES = CATALOGUES["en"], CATALOGUES["es"]


def placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(message) if name}


def test_a_key_in_two_parts_of_a_catalogue_is_refused() -> None:
    assert _catalogue({"a": "1"}, {"b": "2"}) == {"a": "1", "b": "2"}
    with pytest.raises(RuntimeError, match=r"two parts of a catalogue: \['b'\]"):
        _catalogue({"a": "1", "b": "2"}, {"b": "3", "c": "4"})


def test_every_message_has_its_spanish_translation_and_back() -> None:
    assert sorted(set(EN) - set(ES)) == [], "messages with no Spanish translation"
    assert sorted(set(ES) - set(EN)) == [], "Spanish messages English does not have"
    for key in EN:
        assert placeholders(EN[key]) == placeholders(ES[key]), key
        assert ES[key].strip(), key


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for template in (API / "ui" / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", template.read_text()))
    for module in [*API.glob("*.py"), *(API / "routes").glob("*.py")]:
        text = module.read_text()
        found = re.findall(r'"((?:tl|flow|problem|login|builder)\.[a-z_]+)"', text)
        used |= {key for key in found if key != "login.html"}  # a template's name
    # The builder's script: `t("name")` is the message `builder.name` (api/routes/builder.py
    # sends them), and the keys it builds from a value, for every value.
    script = (API / "ui" / "static" / "builder.js").read_text()
    in_script = set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']\s*\)""", script))
    in_script |= set(re.findall(r"""\[["'][A-Za-z]+["'], ["'](unit_[a-z]+)["']\]""", script))
    in_script |= {f"type_{s}" for s in STEP_TYPES} | {f"event_{e}" for e in EVENTS}
    in_script |= {f"status_{s}" for s in APPOINTMENT_STATUSES} | {f"day_{d}" for d in WEEKDAYS}
    in_script |= {f"{key}_{k}" for key in ("goal_kind", "goal_events_hint") for k in GOAL_KINDS}
    conditions = CONDITIONS.search(script)
    assert conditions is not None
    in_script |= {f"cond_{c}" for c in re.findall(r'"([a-z_]+)"', conditions[1])}
    assert {"add_step", "save_draft", "type_split", "path_weight", "holdout_percent"} <= in_script
    assert "unit_minutes" in in_script
    used |= {f"builder.{key}" for key in in_script}
    kinds = ("confirm", "done", "gone", "bad")
    used |= {f"contact_page.{kind}_{part}" for kind in kinds for part in ("title", "heading")}
    # Keys built in the templates from a value: every value the value can take.
    used |= {f"status.{s}" for s in ("active", "completed", "exited", "cancelled", "failed")}
    used |= {f"state.{s}" for s in ("active", "paused")}
    used |= {"flow.unmet_waits_then_end", "flow.unmet_waits_then_continue"}
    used = (used - {"enrollment.kind_"}) | {f"enrollment.kind_{k}" for k in GOAL_KINDS}
    used |= {"flow.met_by_all_of", "flow.met_by_sequence", "flow.met_by_sequence_within"}
    assert len(used) > 350
    assert sorted(used - set(EN)) == []


@pytest.mark.parametrize(
    ("tag", "well_formed"),
    [
        ("es", True),
        ("es-MX", True),
        ("ES-mx", True),
        ("zh-Hant-TW", True),
        ("sr-Latn-RS", True),
        ("de-CH-1996", True),
        ("es-419", True),
        ("en-US-x-private", True),
        ("x-whatever", True),
        ("es_MX", False),
        ("", False),
        ("e", False),
        ("español", False),
        ("en--US", False),
        ("en-", False),
        ("123", False),
        ("es-MX" * 20, False),
    ],
)
def test_language_tags_are_read_as_bcp_47(tag: str, well_formed: bool) -> None:
    assert is_language_tag(tag) is well_formed


def test_a_tag_names_one_of_our_languages_by_its_primary_subtag() -> None:
    assert language_of("es-MX") == "es"
    assert language_of("EN-gb") == "en"
    assert language_of("fr") is None
    assert language_of("es_MX") is None
    assert language_of(42) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("fr-CH, fr;q=0.9, es;q=0.8, en;q=0.7", "es"),  # the first of ours, by quality
        ("en;q=0.5, es-AR", "es"),
        ("es;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("de, fr", None),
        ("*", None),
        ("es;q=bogus, en", "en"),
        ("", None),
        (None, None),
    ],
)
def test_accept_language_is_read_by_quality(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_a_contact_page_takes_the_locale_then_the_browser_then_english() -> None:
    assert contact_language("es", "en") == "es"
    assert contact_language("en-US", "es") == "en"
    assert contact_language("fr", "es") == "es"  # a language we do not have: the browser's
    assert contact_language(None, "es-MX,en;q=0.5") == "es"
    assert contact_language("not a tag", None) == "en"
    assert contact_language(None, None) == "en"


AUTOMATION, _ = parse_automation(
    {
        "name": "words",
        "steps": [
            {"id": "welcome", "type": "send_email", "subject": "Hi", "html": "<p>Hi</p>",
             "name": "Welcome email"},
            {"id": "pause", "type": "wait", "duration": "P2D"},
            {"id": "booked", "type": "goal", "name": "Appointment Confirmed Goal",
             "any_of": [{"event": "email.clicked"}],
             "on_met": {"action": "goto", "step": "thanks"},
             "if_unmet": {"action": "wait", "timeout": "P14D"}},
            {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>x</p>"},
        ],
    },
    set(),
)  # fmt: skip
AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def entry(kind: str, step_id: str | None, **detail: object) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {"at": AT, "kind": kind, "step_id": step_id, "detail": detail}
    )


TIMELINE = [
    (entry("entered", None, version=3), "Entered version 3", "Entró en la versión 3"),
    (
        entry("step_completed", "welcome", message_id="<m@x>"),
        "Email sent to ana@example.com",
        "Correo enviado a ana@example.com",
    ),
    (
        entry("waiting", "pause", until="2026-05-03T09:00:00+00:00"),
        "Waiting until 2026-05-03 09:00:00 UTC",
        "Esperando hasta el 2026-05-03 09:00:00 UTC",
    ),
    (
        entry("goal_met", "booked", event_id="e1", event_type="email.clicked", moves=True),
        "Goal 'Appointment Confirmed Goal' met by email.clicked",
        "Objetivo 'Appointment Confirmed Goal' cumplido por email.clicked",
    ),
    (
        entry("moved", "booked", **{"from": "pause", "to": "booked"}),
        "Moved from 'pause' to goal 'Appointment Confirmed Goal'",
        "Pasó de 'pause' al objetivo 'Appointment Confirmed Goal'",
    ),
    (
        entry("step_completed", "booked", met=True, on_met="goto"),
        "Goal 'Appointment Confirmed Goal' passed: skipped to its step",
        "Objetivo 'Appointment Confirmed Goal' superado: salta a su paso",
    ),
    (
        entry("waiting", "booked", goal="booked", until=None),
        "Waiting for goal 'Appointment Confirmed Goal', with no time limit",
        "Esperando el objetivo 'Appointment Confirmed Goal', sin límite de tiempo",
    ),
    (
        entry("step_completed", "thanks", skipped="unsubscribed"),
        "'thanks' not sent: the contact unsubscribed",
        "'thanks' no se envió: el contacto se dio de baja",
    ),
    (
        entry("step_completed", "pause", cut_short=True),
        "Wait 'pause' cut short by a goal",
        "Un objetivo interrumpió la espera 'pause'",
    ),
    (
        entry("step_completed", "welcome", result="failed", error="SMTP refused"),
        "Step 'Welcome email' failed: SMTP refused",
        "El paso 'Welcome email' falló: SMTP refused",
    ),
    (
        entry("ended", None, status="completed", outcome="goal_met"),
        "Ended: completed (goal_met)",
        "Terminó: completada (goal_met)",
    ),
]


@pytest.mark.parametrize(("item", "english", "spanish"), TIMELINE)
def test_the_timeline_in_words(item: TimelineEntry, english: str, spanish: str) -> None:
    steps = {step.id: step for step in AUTOMATION.steps}
    contact = ContactView(
        contact_id="c1",
        email="ana@example.com",
        tags=[],
        fields={},
        unsubscribed=False,
        active_enrollments=[],
        enrollment_counts={},
    )
    assert TimelineWords(translator("en"), steps, contact, when).sentence(item) == english
    assert TimelineWords(translator("es"), steps, contact, when).sentence(item) == spanish


def test_an_email_to_a_contact_without_an_address_is_still_said() -> None:
    words = TimelineWords(translator("en"), {}, None, when)
    assert words.sentence(entry("step_completed", "gone", message_id="<m@x>")) == "Email sent"
    assert words.sentence(entry("step_completed", "gone")) == "Step 'gone' done"
