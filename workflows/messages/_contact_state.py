"""The contact workflow's state: everything it keeps, carried across continue-as-new."""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows.budget import SendLedger
from workflows.event_memory import EventMemory
from workflows.messages._contact import ActiveEnrollment, EnrollReceipt
from workflows.messages._profile import ContactSnapshot
from workflows.messages._queue import PendingWork


class ContactState(BaseModel):
    """Everything a contact workflow keeps; carried across continue-as-new."""

    contact_id: str
    profile: ContactSnapshot
    active: list[ActiveEnrollment] = Field(default_factory=list)
    enrollment_counts: dict[str, int] = Field(default_factory=dict)
    recent_event_ids: list[str] = Field(default_factory=list)
    # Recent events, for goal criteria with a lookback (R15 in docs/automations.md).
    memory: EventMemory = Field(default_factory=EventMemory)
    events_seen: int = 0
    # Tests force continue-as-new sooner than Temporal would suggest it.
    continue_as_new_after_ops: int | None = None
    # A contact with nothing to remember completes after this long without traffic.
    idle_seconds: float = 3600.0
    # Answers to the last enroll requests that carried a request id (bulk jobs), oldest first.
    enroll_receipts: list[EnrollReceipt] = Field(default_factory=list)
    # Accepted, not yet done when the previous run continued as new; done first, in order.
    pending: list[PendingWork] = Field(default_factory=list)
    # Whether a profile was ever saved (`PUT /v1/contacts`): the first save is `contact.created`.
    profile_saved: bool = False
    # The contact's recent sends, for the message budget (R20, workflows/contact_budget.py).
    sends: SendLedger = Field(default_factory=SendLedger)
