"""What a contact workflow's queue holds: one tagged union of the five kinds of work.

Each kind keeps, as its field, the name it had when a queued operation was one model with five
optional fields, one of them set: work carried across continue-as-new in that shape (the
`pending` of a `ContactState` in a stored history) reads as the member whose field is set, and
what is written now (with its `kind`) still reads as that shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Tag

from workflows.events import ContactEvent
from workflows.messages._contact import EnrollRequest, StepChange, TagChange
from workflows.messages._profile import ProfileSave


class EnrollOp(BaseModel):
    """Enroll the contact (an update: its caller waits for the answer)."""

    kind: Literal["enroll"] = "enroll"
    enroll: EnrollRequest


class EventOp(BaseModel):
    """Forward an accepted event to the enrollments, then fire the triggers it matched."""

    kind: Literal["event"] = "event"
    event: ContactEvent


class TagsOp(BaseModel):
    """Change tags (an update)."""

    kind: Literal["tags"] = "tags"
    tags: TagChange


class StepChangeOp(BaseModel):
    """A change an enrollment's step makes to the contact (a signal: no one waits)."""

    kind: Literal["step_change"] = "step_change"
    step_change: StepChange


class ProfileSaveOp(BaseModel):
    """Save the profile (an update)."""

    kind: Literal["profile"] = "profile"
    profile: ProfileSave


OP_KINDS = ("enroll", "event", "tags", "step_change", "profile")


def op_kind(value: Any) -> str | None:
    """Which member `value` is: its `kind`; in the shape before the union, the field set."""
    if isinstance(value, dict):
        kind = value.get("kind")
        if kind is None:
            kind = next((k for k in OP_KINDS if value.get(k) is not None), None)
        return kind
    return getattr(value, "kind", None)


QueuedOp = Annotated[
    Annotated[EnrollOp, Tag("enroll")]
    | Annotated[EventOp, Tag("event")]
    | Annotated[TagsOp, Tag("tags")]
    | Annotated[StepChangeOp, Tag("step_change")]
    | Annotated[ProfileSaveOp, Tag("profile")],
    Discriminator(op_kind),
]
# Work a run accepted but left to the next one when it continued as new: what no caller waits
# on (events and step changes).
PendingWork = Annotated[
    Annotated[EventOp, Tag("event")] | Annotated[StepChangeOp, Tag("step_change")],
    Discriminator(op_kind),
]
