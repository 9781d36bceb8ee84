"""The dashboard's pieces that need no browser: the flow drawn from a definition, where a login
may send the visitor, the `goalflow dev` banner, and the files the package ships."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from api.dashboard import FlowStep, flow
from api.i18n import translator
from api.routes.ui import UI_DIR, _safe_next, temporal_link
from goalflow.cli.dev import DevOptions, _print_urls
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from goalflow.service.visibility import can_rest

ROOT = Path(__file__).resolve().parents[2]


def test_flow_keeps_document_order_and_draws_every_jump() -> None:
    automation, _ = parse_automation(
        {
            "name": "jumps",
            "steps": [
                {"id": "branch", "type": "if_else", "if": {"has_tag": "a"}, "then": "late",
                 "else": "early"},
                {"id": "early", "type": "wait", "duration": "P1D"},
                {"id": "g", "type": "goal", "any_of": [{"event": "custom"}],
                 "on_met": {"action": "goto", "step": "late"}, "jump_from": "anywhere",
                 "if_unmet": {"action": "wait", "timeout": "P3D"}},
                {"id": "late", "type": "end"},
            ],
        },
        set(),
    )  # fmt: skip
    drawn = flow(automation)
    t = translator("en")

    def notes(step: FlowStep) -> list[str]:
        return [t(note.key, **note.values) for note in step.notes]

    assert [s.step_id for s in drawn] == ["branch", "early", "g", "late"]
    assert [(t(j.label), j.target) for j in drawn[0].jumps] == [
        ("if true", "late"),
        ("else", "early"),
    ]
    goal = drawn[2]
    assert goal.goal and [(t(j.label), j.target) for j in goal.jumps] == [("when met", "late")]
    assert "reached unmet: waits for it up to P3D, then ends" in notes(goal)
    assert any("anywhere" in note for note in notes(goal))
    assert notes(drawn[3]) == ["the enrollment ends here"]


TWO = [{"event": "custom"}, {"event": "sms.received"}]


def test_flow_says_how_a_compound_goals_events_combine() -> None:
    automation, _ = parse_automation(
        {
            "name": "compound",
            "steps": [
                {"id": "any", "type": "goal", "any_of": [{"event": "custom"}]},
                {"id": "all", "type": "goal", "all_of": TWO},
                {"id": "seq", "type": "goal", "sequence": TWO, "within": "P1D"},
            ],
        },
        set(),
    )  # fmt: skip
    first, every, ordered = flow(automation)
    t = translator("es")
    assert not any(n.key.startswith("flow.met_by") for n in first.notes)
    assert t(every.notes[0].key, **every.notes[0].values) == (
        "se cumple cuando han ocurrido sus 2 eventos, en cualquier orden"
    )
    assert translator("en")(ordered.notes[0].key, **ordered.notes[0].values) == (
        "met once its 2 events have happened in order, within P1D of the first"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/ui/enrollments/enr:a:b:1", "/ui/enrollments/enr:a:b:1"),
        ("https://evil.example/ui", "/ui"),
        ("//evil.example/ui", "/ui"),
        ("/ui//evil.example", "/ui"),
        ("/ui\\@evil.example", "/ui"),
        ("/v1/automations", "/ui"),
        (None, "/ui"),
    ],
)
def test_login_only_sends_back_to_the_dashboard(given: str | None, expected: str) -> None:
    assert _safe_next(given) == expected


def test_temporal_link_needs_the_setting() -> None:
    assert temporal_link(Settings(), "enr:a:b:1") is None
    settings = Settings(GOALFLOW_TEMPORAL_UI_URL="http://127.0.0.1:8233/")
    assert temporal_link(settings, "enr:a:<b>:1") == (
        "http://127.0.0.1:8233/namespaces/default/workflows/enr%3Aa%3A%3Cb%3E%3A1"
    )


def test_dev_banner_names_the_dashboard_and_the_temporal_ui(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(GOALFLOW_TEMPORAL_UI_URL="http://127.0.0.1:9233")
    _print_urls(DevOptions(port=9000), settings, None)
    banner = capsys.readouterr().out
    assert "Dashboard      http://127.0.0.1:9000/ui" in banner
    assert "Temporal UI    http://127.0.0.1:9233" in banner


def test_templates_and_static_files_ship_in_the_package() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["api"]
    shipped = {
        path.relative_to(ROOT / "api")
        for pattern in package_data
        for path in (ROOT / "api").glob(pattern)
    }
    on_disk = {p.relative_to(ROOT / "api") for p in UI_DIR.rglob("*") if p.is_file()}
    assert on_disk and on_disk <= shipped
    assert Path("ui/templates/automation.html") in shipped
    assert Path("ui/static/dashboard.js") in shipped


def test_here_is_asked_only_where_an_enrollment_can_rest() -> None:
    automation, _ = parse_automation(
        {
            "name": "rests",
            "settings": {"send_window": {"days": ["mon"], "start": "09:00", "end": "17:00"}},
            "steps": [
                {"id": "tag", "type": "add_tag", "tag": "a"},
                {"id": "mail", "type": "send_email", "subject": "s", "html": "h"},
                {"id": "sms", "type": "send_sms", "body": "b", "send_window": None},
                {"id": "w", "type": "wait", "duration": "P1D"},
                {"id": "held", "type": "goal", "any_of": [{"event": "custom"}],
                 "if_unmet": {"action": "wait"}},
                {"id": "passed", "type": "goal", "any_of": [{"event": "custom"}]},
                {"id": "hook", "type": "webhook", "url": "https://example.com/h"},
            ],
        },
        set(),
    )  # fmt: skip
    resting = [s.id for i, s in enumerate(automation.steps) if can_rest(automation, i)]
    # The first step (named at start), a send held by the window, a wait, a goal that waits.
    assert resting == ["tag", "mail", "w", "held"]
