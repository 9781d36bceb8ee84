"""PhoneWorkflow: which contact a phone number was last sent an SMS for (entity pattern).

Inbound SMS (Twilio's webhook) name the sender only by phone number, and goalflow keeps no index
of contacts by their details. The SMS activity records each recipient here instead, under an id
derived from a keyed hash of the number (`goalflow.phones.phone_workflow_id`): neither the number
nor the contact's email ever appears in a workflow id or a search attribute. The hook route asks
the `contact` query which contact a reply is from.

One update per SMS sent; the workflow continues as new when Temporal suggests it and completes
after `idle_seconds` without an SMS (a number not texted for a year is forgotten).
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

from workflows.keyed_contact import hold_until_idle

PHONE_PREFIX = "phone:"


class PhoneState(BaseModel):
    contact_id: str | None = None
    idle_seconds: float = 366 * 24 * 3600.0


class PhoneSent(BaseModel):
    """An SMS went to this number for `contact_id`."""

    contact_id: str


@workflow.defn
class PhoneWorkflow:
    @workflow.init
    def __init__(self, state: PhoneState) -> None:
        self.state = state
        self.sent = 0

    @workflow.run
    async def run(self, state: PhoneState) -> str | None:
        return await hold_until_idle(self.state, lambda: self.sent)

    @workflow.update
    def record_sent(self, sent: PhoneSent) -> None:
        self.state.contact_id = sent.contact_id
        self.sent += 1

    @workflow.query
    def contact(self) -> str | None:
        return self.state.contact_id
