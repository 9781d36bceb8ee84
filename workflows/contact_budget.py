"""The contact's side of the message budget (R20): the ledger of its recent sends, in its state
(carried across continue-as-new), and the grants, decided in the order the contact accepts the
requests.

The handlers are synchronous: each grant is decided and recorded within one handler run, so two
automations can never both take the last slot. Workflow code, run in the contact's sandbox.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.budget import GrantAnswer, GrantRequest, SentRecord, decide, record
    from workflows.messages import ContactState
    from workflows.send_windows import zone_for


class SendBudget:
    """Grants slots of the contact's budget and counts transactional sends."""

    def __init__(self, state: ContactState) -> None:
        self.state = state

    def grant(self, request: GrantRequest, now: datetime) -> GrantAnswer:
        """A slot now, or when to ask again, or skip. Quiet hours are the contact's own
        `timezone` field's, else the automation's."""
        zone = zone_for(self.state.profile.fields.get("timezone"), request.timezone)
        return decide(self.state.sends, request, now, zone)

    def record(self, sent: SentRecord, now: datetime) -> None:
        record(self.state.sends, sent, now)
