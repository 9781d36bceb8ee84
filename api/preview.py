"""Preview (docs/api.md, "Preview"): the enrollment a contact would go through, simulated.

The request names the definition (a version, a body not yet published, or the draft), the
contact and the events at offsets from the start; the simulator (workflows/simulator.py) runs
the enrollment interpreter over them with a simulated clock. Nothing is sent, no workflow is
started.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from api import drafts
from api.errors import NotFound
from api.publishing import checked, trigger_links
from api.schemas import (
    MAX_CONTACT_BYTES,
    MAX_CONTEXT_BYTES,
    MAX_EVENT_DATA_BYTES,
    ContactIn,
    EnrollmentOut,
    EventId,
    Strict,
    appointment_status,
    fits,
)
from goalflow.core.settings import Settings
from goalflow.core.templates import render
from goalflow.service.contacts import GoalflowService
from workflows.definition import Automation, EventType, SendEmailStep
from workflows.durations import parse_duration
from workflows.events import ContactEvent
from workflows.messages import ContactSnapshot, StepContext
from workflows.simulator import Previewed, Simulation, simulate

DEFAULT_HORIZON = "P90D"
MAX_HORIZON = timedelta(days=365)
MAX_PREVIEW_EVENTS = 1000
_YEARS = re.compile(r"^P(\d{1,3})Y$", re.ASCII)


def offset(text: str) -> timedelta:
    """An ISO 8601 duration from the start: zero allowed (`PT0S`), never negative."""
    try:
        return parse_duration(text)
    except ValueError as err:
        if "must be positive" in str(err):
            return timedelta(0)
        raise


def horizon(text: str) -> timedelta:
    """How far ahead to simulate: at most a year (`P1Y` is 365 days)."""
    years = _YEARS.fullmatch(text)
    value = timedelta(days=365 * int(years.group(1))) if years else parse_duration(text)
    if value > MAX_HORIZON:
        raise ValueError(f"horizon {text!r} is longer than P1Y (365 days)")
    return value


class PreviewEventIn(Strict):
    after: str = Field(..., description="ISO 8601 duration since the start (PT0S, PT2H, P3D)")
    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
    id: EventId | None = None

    @field_validator("after")
    @classmethod
    def _offset(cls, after: str) -> str:
        offset(after)
        return after

    @field_validator("data")
    @classmethod
    def _data(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        fits(data, MAX_EVENT_DATA_BYTES, "data")
        if info.data.get("type") == "appointment.status_changed" and "status" in data:
            data = {**data, "status": appointment_status(data["status"])}
        return data


class PreviewIn(Strict):
    version: int | None = Field(None, ge=1)
    definition: dict[str, Any] | None = None
    use_draft: bool = False
    contact: ContactIn
    context: dict[str, Any] = Field(default_factory=dict)
    start: datetime | None = None
    events: list[PreviewEventIn] = Field(default_factory=list, max_length=MAX_PREVIEW_EVENTS)
    horizon: str = DEFAULT_HORIZON

    @field_validator("contact")
    @classmethod
    def _contact_fits(cls, contact: ContactIn) -> ContactIn:
        fits(contact.model_dump(), MAX_CONTACT_BYTES, "the contact")
        return contact

    @field_validator("context")
    @classmethod
    def _context_fits(cls, context: dict[str, Any]) -> dict[str, Any]:
        fits(context, MAX_CONTEXT_BYTES, "the context")
        return context

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, value: str) -> str:
        horizon(value)
        return value


class SendOut(BaseModel):
    at: datetime
    step_id: str
    channel: str
    to: str | None
    subject: str | None = Field(None, exclude_if=lambda v: v is None)


class PreviewOut(EnrollmentOut):
    sends: list[SendOut]
    ends_at: datetime | None = Field(None, exclude_if=lambda v: v is None)


def _invalid(loc: tuple[Any, ...], message: str, value: Any = None) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", *loc), "msg": message, "input": value}]
    )


async def definition_to_preview(
    goalflow: GoalflowService,
    settings: Settings,
    automation_id: str,
    version: int | None,
    definition: dict[str, Any] | None,
    use_draft: bool,
) -> tuple[Automation, int]:
    """The definition a preview (or a dry run) runs and the version it shows: a body checked as
    a publish checks it, the draft, or a published version (default: the latest). NotFound for
    an automation with none of them; 422 for a version it does not have."""
    chosen = [name for name, given in (("version", version), ("definition", definition)) if given]
    if use_draft:
        chosen.append("use_draft")
    if len(chosen) > 1:
        raise _invalid((chosen[1],), f"give one of version, definition and use_draft, not {chosen}")
    try:
        latest = (await goalflow.automation(automation_id)).version
    except NotFound:
        latest = 0
    if definition is not None or use_draft:
        if use_draft:
            found = (await drafts.current(goalflow, automation_id)).draft
            if found is None:
                raise _invalid(("use_draft",), f"automation {automation_id!r} has no draft", True)
            body: Any = found.definition
            where: tuple[Any, ...] = ("use_draft",)
        else:
            body, where = definition, ("definition",)
        automation, _warnings, errors, _checks = checked(
            body, await trigger_links(goalflow), settings.outbound_policy
        )
        if automation is None:
            raise RequestValidationError(
                [{**e, "loc": ("body", *where, *e["loc"])} for e in errors]
            )
        return automation, latest + 1
    if latest == 0:
        raise NotFound(f"automation {automation_id!r} not found")
    if version is not None and version > latest:
        raise _invalid(
            ("version",), f"automation {automation_id!r} has no version {version}", version
        )
    return (await goalflow.automation(automation_id, version)).definition, version or latest


def _subject(step: SendEmailStep, context: StepContext) -> str | None:
    """The subject as the email activity renders it (links shown as they are written)."""
    variables = {
        **context.template_context(),
        "unsubscribe_url": "",
        "enrollment_id": context.enrollment_id,
        "automation_id": context.automation_id,
        "step_id": context.step_id,
    }
    try:
        text = render(step.subject, variables, trigger_link=lambda link: f"[{link}]")
    except Exception:  # a template that would fail the send: shown as written
        return step.subject
    return " ".join(text.split())


def _start(given: datetime | None) -> datetime:
    if given is None:
        return datetime.now(UTC)
    return given if given.tzinfo is not None else given.replace(tzinfo=UTC)


async def preview(
    goalflow: GoalflowService, settings: Settings, automation_id: str, body: PreviewIn
) -> PreviewOut:
    automation, version = await definition_to_preview(
        goalflow, settings, automation_id, body.version, body.definition, body.use_draft
    )
    start = _start(body.start)
    contact = ContactSnapshot(**body.contact.model_dump())
    events = [
        Previewed(
            start + offset(event.after),
            ContactEvent(
                id=event.id or f"preview-{i + 1}",
                contact_id=contact.id,
                type=event.type,
                data=event.data,
                accepted_at=start + offset(event.after),
            ),
        )
        for i, event in enumerate(body.events)
    ]
    simulation: Simulation = await asyncio.to_thread(
        simulate,
        automation_id=automation_id,
        version=version,
        automation=automation,
        contact=contact,
        start=start,
        horizon=start + horizon(body.horizon),
        events=events,
        context=body.context,
        subject=_subject,
    )
    view = simulation.view.model_dump()
    return PreviewOut.model_validate(
        {
            **view,
            "sends": [send.as_json() for send in simulation.sends],
            "ends_at": simulation.ends_at,
        }
    )
