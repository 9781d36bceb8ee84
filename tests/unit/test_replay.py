"""Stored histories replay with the current code: a change that would break running
enrollments (which live for weeks) fails here first."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.histories.record import SCENARIOS
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))
TEXTS = {path.stem: path.read_text() for path in HISTORIES}


def test_histories_cover_the_required_scenarios() -> None:
    names = {path.stem for path in HISTORIES}
    for scenario in (
        "early_goal",
        "if_unmet_wait_timeout",
        "goto",
        "cancel",
        "email",  # sent by activities
        "email_local_activity",  # sent by local activities (patch send-email-as-local-activity)
        "event_batch",  # events accepted by one accept_events update
        # Actions retried by the enrollment itself (patch action-retries-in-workflow).
        "webhook_retry_visible_retries",
        "email_visible_retries",
        "send_window",  # a send held until its window opens (patch send-window-hold)
        "send_window_goal",  # a goal met while a send is held
        "lookback",  # a goal met by an event accepted before the enrollment (R15)
        # enrolled by a trigger on a profile save, an automated tag change matched by the
        # worker (patches contact-enrolls-on-triggers, contact-asks-triggers-for-automated-...)
        "triggered",
    ):
        assert f"enrollment_{scenario}" in names
    # Every scenario again as the types started now (ContactWorkflowV2, EnrollmentWorkflowV2),
    # and the benchmarks' reference work, recorded with search attributes on the dev server.
    for scenario in [*SCENARIOS, "reference"]:
        assert {f"enrollment_{scenario}_v2", f"contact_{scenario}_v2"} <= names
    # A bulk job stopped between batches (patch bulk-cancel-between-batches; record_bulk.py).
    assert "bulk_cancel_between_batches" in names
    assert "phone_sms" in names  # the phone directory, updated by an SMS send
    # R20 (record_budget.py): sends deferred, skipped and cut short by a goal, and the grants.
    budget = {"enrollment_budget_defer", "enrollment_budget_skip", "enrollment_budget_goal"}
    assert budget | {"contact_budget", "contact_budget_goal"} <= names
    # R19: enrollments moved to another version (while waiting, its next run, right after an
    # action in flight, ended as unmapped) and a migration job's first run (record_migration.py).
    for name in (
        "enrollment_migrated_wait_v2",
        "enrollment_migrated_wait_after_v2",
        "enrollment_migrated_action_v2",
        "enrollment_migrated_out_v2",
        "migration_job",
    ):
        assert name in names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_with_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, TEXTS[path.stem])
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
