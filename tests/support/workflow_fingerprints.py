"""Fingerprints of the command-issuing calls in workflow code.

Enrollments run for weeks: changing which Temporal commands a workflow issues, or their order,
breaks the ones already running unless the change is guarded with `workflow.patched(...)`.
`tests/unit/test_workflow_fingerprints.py` fails when the calls drift without a new patch id.

    python -m tests.support.workflow_fingerprints --update   # after guarding a change with a patch
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[2]
STORED = Path(__file__).parent / "workflow_fingerprints.json"
MODULES = (
    "workflows/enrollment.py",
    "workflows/interpreter.py",
    "workflows/enrollment_state.py",
    "workflows/enrollment_migration.py",
    "workflows/actions.py",
    "workflows/pause.py",
    "workflows/visibility.py",
    "workflows/contact.py",
    "workflows/contact_queue.py",
    "workflows/contact_profile.py",
    "workflows/contact_enrollments.py",
    "workflows/contact_triggers.py",
    "workflows/automation.py",
    "workflows/drafts.py",
    "workflows/bulk.py",
    "workflows/migration_job.py",
    "workflows/phone_numbers.py",
    "workflows/directory.py",
    "workflows/keyed_contact.py",
    "workflows/reporting.py",
    "workflows/sessions.py",
    "workflows/v1_types.py",
)

# Calls that issue Temporal commands (or decide whether they are issued).
COMMAND_CALLS = {
    "execute_activity",
    "start_activity",
    "execute_local_activity",
    "start_child_workflow",
    "execute_child_workflow",
    "wait_condition",
    "sleep",
    "signal",
    "cancel",
    "continue_as_new",
    "upsert_search_attributes",
    "upsert_memo",
    "get_external_workflow_handle",
    # The enrollment interpreter's commands (workflows/commands.py), which its workflow turns
    # into the calls above: the pure interpreter decides them, so they are fingerprinted too.
    "RunAction",
    "ChangeContact",
    "PauseUntil",
    "ShowProgress",
    "ShowGoals",
    "Finish",
    "BetweenSteps",
}
# Calls whose first argument is a patch id: a string, or a constant of workflows/patches.py.
PATCH_CALLS = ("patched", "_patched", "deprecate_patch", "CheckPatch")


def patch_ids() -> dict[str, str]:
    """The constants of workflows/patches.py, by name."""
    ids = {}
    for node in ast.parse((ROOT / "workflows/patches.py").read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    ids[target.id] = node.value.value
    return ids


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


class Fingerprint(TypedDict):
    functions: dict[str, list[str]]
    patches: list[str]


def fingerprint() -> Fingerprint:
    functions: dict[str, list[str]] = {}
    patches: list[str] = []
    ids = patch_ids()
    for module in MODULES:
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = []
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    name = _name(inner.func)
                    if name in COMMAND_CALLS:
                        calls.append(f"{inner.lineno - node.lineno}:{name}")
                    if name in PATCH_CALLS and inner.args:
                        first = inner.args[0]
                        if isinstance(first, ast.Constant):
                            patches.append(str(first.value))
                        elif (constant := _name(first)) in ids:
                            patches.append(ids[constant])
                        if name == "CheckPatch":
                            calls.append(f"{inner.lineno - node.lineno}:{name}")
            if calls:
                functions[f"{module}:{node.name}"] = [
                    c.split(":", 1)[1] for c in sorted(calls, key=lambda c: int(c.split(":", 1)[0]))
                ]
    return {"functions": functions, "patches": sorted(set(patches))}


if __name__ == "__main__":
    if "--update" in sys.argv:
        STORED.write_text(json.dumps(fingerprint(), indent=1, sort_keys=True) + "\n")
        print("updated", STORED.relative_to(ROOT))
    else:
        print(json.dumps(fingerprint(), indent=1, sort_keys=True))
