"""The docs keep up with the code: every setting and every route is documented."""

from __future__ import annotations

from pathlib import Path

from api.main import create_app
from goalflow.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


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
