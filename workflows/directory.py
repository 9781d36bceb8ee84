"""ProfileKeyWorkflow: which contact's profile holds an email address or a phone number (entity
pattern), for attributing provider events that name a person only by those.

A booking made from a link goalflow did not send (Calendly, Cal.com) names its invitee by email;
a text from a number goalflow never texted names its sender by phone number. The API records
each address and number a profile is saved with (`PUT /v1/contacts/{id}`, an enrollment with a
contact profile, a bulk job's rows) here, under an id derived from a keyed hash of it
(`goalflow.profiles.profile_key_workflow_id`): neither ever appears in clear in a workflow id
or a search attribute. The hook route asks the `contact` query.

One update per save; the workflow continues as new when Temporal suggests it and completes after
`idle_seconds` without a save (an address no profile was saved with for three years is
forgotten).
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

from workflows.keyed_contact import hold_until_idle

PROFILE_KEY_PREFIX = "profile-key:"


class ProfileKeyState(BaseModel):
    contact_id: str | None = None
    idle_seconds: float = 3 * 366 * 24 * 3600.0


class ProfileKeySaved(BaseModel):
    """A profile was saved with this address or number."""

    contact_id: str


@workflow.defn
class ProfileKeyWorkflow:
    @workflow.init
    def __init__(self, state: ProfileKeyState) -> None:
        self.state = state
        self.saved = 0

    @workflow.run
    async def run(self, state: ProfileKeyState) -> str | None:
        return await hold_until_idle(self.state, lambda: self.saved)

    @workflow.update
    def record_saved(self, saved: ProfileKeySaved) -> None:
        self.state.contact_id = saved.contact_id
        self.saved += 1

    @workflow.query
    def contact(self) -> str | None:
        return self.state.contact_id
