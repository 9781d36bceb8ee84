"""Fails when the command-issuing calls of the workflows change without `workflow.patched`."""

from __future__ import annotations

import json

from tests.support.workflow_fingerprints import STORED, Fingerprint, fingerprint


def test_command_calls_do_not_drift_without_a_patch() -> None:
    stored: Fingerprint = json.loads(STORED.read_text())
    current = fingerprint()
    if current["functions"] == stored["functions"]:
        return
    new_patches = set(current["patches"]) - set(stored["patches"])
    assert new_patches, (
        "The Temporal commands issued by workflow code changed. Running enrollments would fail "
        "to replay: guard the change with workflow.patched('...'), record new histories "
        "(python -m tests.histories.record) and run python -m tests.support.workflow_fingerprints "
        "--update. Changed functions: "
        + ", ".join(
            sorted(
                name
                for name in set(current["functions"]) | set(stored["functions"])
                if current["functions"].get(name) != stored["functions"].get(name)
            )
        )
    )


def test_fingerprint_sees_command_calls() -> None:
    functions = fingerprint()["functions"]
    assert "execute_activity" in functions["workflows/actions.py:_execute_action"]
    # The enrollment interpreter's commands are what its workflow carries out.
    assert "RunAction" in functions["workflows/interpreter.py:_run_action"]
    assert "PauseUntil" in functions["workflows/interpreter.py:_pause"]
    assert "start_child_workflow" in functions["workflows/contact_enrollments.py:_start_enrollment"]
