"""Drafts: work in progress on an automation, kept durably in Temporal beside its versions.

`DraftWorkflow`: one per automation id (started by the first save), holding at most one draft,
saved whatever it holds (it is checked when shown and when published, never here). The catalog
(workflows/automation.py) keeps a small entry per draft so that the list of automations can show
drafts without a query per automation.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.automation import _continue_as_new_when_suggested
    from workflows.draft_messages import (
        DRAFT_TOO_LARGE,
        MAX_DRAFT_BYTES,
        Draft,
        DraftChange,
        DraftDiscard,
        DraftSave,
        DraftState,
    )
    from workflows.limits import json_bytes


@workflow.defn
class DraftWorkflow:
    @workflow.init
    def __init__(self, state: DraftState) -> None:
        self.state = state

    @workflow.run
    async def run(self, state: DraftState) -> None:
        await _continue_as_new_when_suggested(self.state)

    @workflow.update
    def save(self, request: DraftSave) -> DraftChange:
        state = self.state
        if request.replace or state.draft is None:
            base = request.latest_version
        else:
            base = state.draft.base_version
        state.draft = Draft(
            definition=request.definition, saved_at=workflow.now(), base_version=base
        )
        state.revision += 1
        return self._change()

    @save.validator
    def _fits(self, request: DraftSave) -> None:
        size = json_bytes(request.definition)
        if size > MAX_DRAFT_BYTES:
            raise ApplicationError(
                f"the draft is {size} bytes as JSON; at most {MAX_DRAFT_BYTES} (1 MiB)",
                type=DRAFT_TOO_LARGE,
                non_retryable=True,
            )

    @workflow.update
    def discard(self, request: DraftDiscard) -> DraftChange:
        state = self.state
        if state.draft is None or (
            request.if_revision is not None and request.if_revision != state.revision
        ):
            return self._change(changed=False)
        state.draft = None
        state.revision += 1
        return self._change()

    @workflow.query
    def get(self) -> DraftChange:
        return self._change(changed=False)

    def _change(self, changed: bool = True) -> DraftChange:
        return DraftChange(
            automation_id=self.state.automation_id,
            draft=self.state.draft,
            revision=self.state.revision,
            changed=changed,
        )
