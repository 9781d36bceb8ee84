"""The docs keep up with the code: every setting and every route is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from api.main import create_app
from goalflow.core.settings import Settings
from workflows.definition import EventType

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    names = [field.alias for field in Settings.model_fields.values() if field.alias]
    assert len(names) >= 10
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_route_is_documented() -> None:
    text = (DOCS / "api.md").read_text()
    app = create_app(Settings(GOALFLOW_DEV=True))
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert len(routes) >= 15
    missing = sorted(f"{m} {p}" for m, p in routes if f"`{m} {p}`" not in text)
    assert not missing, f"routes missing from docs/api.md: {missing}"


ROOT = DOCS.parent
RULE_RANGE = re.compile(r"R1[–-]R(\d+)")


def test_the_readme_names_the_rules_docs_automations_has() -> None:
    rules = [
        int(n) for n in re.findall(r"^- \*\*R(\d+) —", (DOCS / "automations.md").read_text(), re.M)
    ]
    assert rules == list(range(1, len(rules) + 1)), rules
    for name in ("README.md", "docs/automations.md"):
        ranges = [int(n) for n in RULE_RANGE.findall((ROOT / name).read_text())]
        assert ranges, f"{name} names no rule range"
        assert set(ranges) == {rules[-1]}, f"{name} says R1–R{ranges}, the rules go to R{rules[-1]}"


def test_every_outcome_is_listed_and_api_md_links_there() -> None:
    automations = (DOCS / "automations.md").read_text()
    table = automations.split("## How an enrollment ends", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"^\| `[a-z_]+` \| `([a-z_]+)` \|", table, re.M))
    # The enrollment's outcomes are decided by its interpreter and state, and by the workflow.
    pieces = ("enrollment.py", "interpreter.py", "enrollment_state.py")
    source = "\n".join((ROOT / "workflows" / name).read_text() for name in pieces)
    outcomes = set(re.findall(r'(?:_finish|end_now)\("[a-z_]+", "([a-z_]+)"', source))
    assert outcomes and outcomes == listed, (outcomes, listed)
    api = (DOCS / "api.md").read_text()
    assert "automations.md#how-an-enrollment-ends" in api
    assert "listed in the README" not in api


def test_api_md_lists_every_event_type() -> None:
    api = (DOCS / "api.md").read_text()
    section = api.split("Event types:", 1)[1].split("\n\n", 1)[0]
    missing = [t for t in get_args(EventType) if f"`{t}`" not in section]
    assert not missing, f"event types missing from docs/api.md: {missing}"


def test_temporal_ui_md_says_where_summary_and_details_are() -> None:
    text = (DOCS / "temporal-ui.md").read_text()
    assert "**User Metadata**" in text
