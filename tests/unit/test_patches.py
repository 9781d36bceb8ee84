"""Every patch id the workflows ask for is a constant of workflows/patches.py."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.workflow_fingerprints import PATCH_CALLS, fingerprint, patch_ids
from workflows import patches

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_no_patch_id_is_written_out_in_workflow_code() -> None:
    literals = []
    for path in sorted(WORKFLOWS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in PATCH_CALLS and isinstance(node.args[0], ast.Constant):
                    literals.append(f"{path.name}:{node.lineno}")
    assert literals == []


def test_every_listed_patch_id_is_used_and_every_used_one_listed() -> None:
    assert set(patch_ids().values()) == set(patches.ALL)
    assert len(patches.ALL) == len(set(patches.ALL))
    # The fingerprint resolves the constants: each id is asked for somewhere.
    assert set(fingerprint()["patches"]) == set(patches.ALL)
