"""docs/automations.md keeps up with the definition models.

The lists of step types, criterion events and filters are read from the pydantic models of
`workflows/definition/`, so a step, event or filter added to the models without a word in the
docs fails here. Every JSON example in the page is checked with `parse_automation`.
"""

from __future__ import annotations

import json
import re
import subprocess
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from goalflow.core.validation import parse_automation
from workflows.definition import Automation, GoalStep

PAGE = Path(__file__).resolve().parents[2] / "docs" / "automations.md"


def _members(annotation: Any) -> list[type[BaseModel]]:
    """The models of a (possibly Annotated, possibly nested) union of models."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _members(arg)]


def _literals(model: type[BaseModel], field: str) -> list[str]:
    annotation = model.model_fields[field].annotation
    values = typing.get_args(annotation)
    assert values and all(isinstance(v, str) for v in values), (model, field, annotation)
    return list(values)


STEP_MODELS = _members(typing.get_args(Automation.model_fields["steps"].annotation)[0])
CRITERION_MODELS = _members(typing.get_args(GoalStep.model_fields["any_of"].annotation)[0])
STEP_TYPES = [t for model in STEP_MODELS for t in _literals(model, "type")]
CRITERION_EVENTS = [e for model in CRITERION_MODELS for e in _literals(model, "event")]
CRITERION_FILTERS = sorted(
    {
        field.alias or name
        for model in CRITERION_MODELS
        for name, field in model.model_fields.items()
        if name != "event"
    }
)


def _text() -> str:
    return PAGE.read_text()


def _section(text: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", text[start + 1 :])]
    return text[start : start + 1 + ends[0]] if ends else text[start:]


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", text, re.DOTALL)


def test_the_lists_come_from_the_models() -> None:
    # Guards the introspection itself: an empty list would make the checks below vacuous.
    assert {"send_email", "goal", "end"} <= set(STEP_TYPES)
    assert {"email.clicked", "custom"} <= set(CRITERION_EVENTS)
    assert {"email_step", "url", "where"} <= set(CRITERION_FILTERS)


@pytest.mark.parametrize(
    ("kind", "names", "heading"),
    [
        ("step type", STEP_TYPES, "## Steps"),
        ("criterion event", CRITERION_EVENTS, "### Criteria"),
        ("criterion filter", CRITERION_FILTERS, "### Criteria"),
    ],
)
def test_every_name_of_the_models_is_documented(kind: str, names: list[str], heading: str) -> None:
    text = _section(_text(), heading)
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"{kind}s missing from {heading} in docs/automations.md: {missing}"


def test_goal_policies_and_their_defaults_are_documented() -> None:
    text = _text()
    fields = [name for name in GoalStep.model_fields if name not in ("id", "name", "type")]
    missing = [name for name in fields if f"`{name}`" not in text]
    assert not missing, f"goal fields missing from docs/automations.md: {missing}"
    jump_default = GoalStep.model_fields["jump_from"].default
    assert f'`"{jump_default}"` (the default)' in text or f"`{jump_default}` (the default)" in text


def test_every_step_type_has_an_example() -> None:
    shown: set[str] = set()
    for block in _json_blocks(_text()):
        data = json.loads(block)
        if isinstance(data, dict) and "steps" in data:
            shown.update(step["type"] for step in data["steps"])
    missing = [t for t in STEP_TYPES if t not in shown]
    assert not missing, f"step types without an example in docs/automations.md: {missing}"


def test_every_example_validates() -> None:
    blocks = _json_blocks(_text())
    assert len(blocks) >= len(STEP_TYPES)
    for block in blocks:
        data = json.loads(block)
        assert isinstance(data, dict) and "steps" in data, f"not an automation:\n{block}"
        parse_automation(data)


def test_every_rule_cited_in_the_code_is_defined() -> None:
    root = PAGE.parent.parent
    text = _text()
    defined = set(re.findall(r"\*\*(R\d+)\b", text))
    assert {f"R{n}" for n in range(1, 14)} <= defined
    cited: set[str] = set()
    for folder in ("api", "activities", "workflows", "goalflow", "tests", "docs"):
        for path in (root / folder).rglob("*"):
            if path.suffix in (".py", ".md"):
                cited.update(re.findall(r"\bR(\d+)\b", path.read_text()))
    undefined = sorted(f"R{n}" for n in cited if f"R{n}" not in defined)
    assert not undefined, f"rules cited but not defined in docs/automations.md: {undefined}"


def test_no_reference_to_a_document_outside_the_repository() -> None:
    root = PAGE.parent.parent
    files = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = re.compile(r"DESIGN\b|§")
    found = [
        f"{name}:{number}"
        for name in files
        if (root / name).is_file() and name != "tests/unit/test_automation_docs.py"
        for number, line in enumerate(
            (root / name).read_text(errors="replace").splitlines(), start=1
        )
        if outside.search(line)
    ]
    assert not found, f"cite docs/ instead of an outside design document: {found}"
