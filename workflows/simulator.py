"""The enrollment simulated: the same interpreter as a real enrollment, driven with a simulated
clock and no side effect (R18 in docs/automations.md).

The enrollment workflow (workflows/enrollment.py) carries out the interpreter's commands with
Temporal; this driver answers the same commands at once: a pause becomes a simulated timer raced
against the previewed events, an action "succeeds" (a webhook answers 200, a message is recorded
as a send, never sent), a step's change to the contact is applied to a simulated contact, whose
events (`contact.tag_added`, ...) come back to the enrollment the way the contact workflow sends
them back. Plain code: no Temporal client, nothing that sends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.commands import (
    BetweenSteps,
    Blocking,
    ChangeContact,
    CheckPatch,
    Command,
    Finish,
    PauseUntil,
    RunAction,
)
from workflows.definition import Automation, SendEmailStep, SendSmsStep, WebhookStep
from workflows.events import ContactEvent
from workflows.interpreter import Interpreter
from workflows.messages import (
    ContactSnapshot,
    EnrollmentInput,
    EnrollmentView,
    StepChange,
    StepContext,
    TriggerCause,
)

# A definition that loops through short waits could pause millions of times within a year:
# a simulation stops after this many pauses, as if the horizon had come.
MAX_PAUSES = 10_000


@dataclass(frozen=True)
class Send:
    """A message or call the enrollment would make."""

    at: datetime
    step_id: str
    channel: str  # "email", "sms" or "webhook"
    to: str | None
    subject: str | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "at": self.at.isoformat(),
            "step_id": self.step_id,
            "channel": self.channel,
            "to": self.to,
        }
        if self.subject is not None:
            found["subject"] = self.subject
        return found


@dataclass
class Simulation:
    """What a simulated enrollment went through: its view as GET /v1/enrollments/{id} shows
    it, what it would send, and when it ended (None: still active at the horizon)."""

    view: EnrollmentView
    sends: list[Send] = field(default_factory=list)
    ends_at: datetime | None = None
    # Every step the enrollment ran (`reached`, with split paths), for counts over many.
    reached: list[str] = field(default_factory=list)


# How an email's subject is shown: given the step and who it is for (None: the template as is).
SubjectRenderer = Callable[[SendEmailStep, StepContext], str | None]


def _raw_subject(step: SendEmailStep, context: StepContext) -> str | None:
    return step.subject


@dataclass(frozen=True)
class Previewed:
    """An event of the preview, accepted at `at`."""

    at: datetime
    event: ContactEvent


def simulate(
    *,
    automation_id: str,
    version: int,
    automation: Automation,
    contact: ContactSnapshot,
    start: datetime,
    horizon: datetime,
    events: Iterable[Previewed] = (),
    context: dict[str, Any] | None = None,
    enrollment_id: str | None = None,
    trigger: TriggerCause | None = None,
    lookback_events: list[ContactEvent] | None = None,
    subject: SubjectRenderer = _raw_subject,
) -> Simulation:
    """Run one enrollment of `automation` for `contact` from `start`, with `events` accepted at
    their times (in order), to its end or to `horizon`."""
    input = EnrollmentInput(
        enrollment_id=enrollment_id or f"preview:{automation_id}:{contact.id}",
        automation_id=automation_id,
        version=version,
        automation=automation,
        contact=contact.model_copy(deep=True),
        contact_workflow_id="",
        search_attributes=False,
        context=context or {},
        trigger=trigger,
        lookback_events=lookback_events or [],
        enrolled_at=start,
    )
    driver = _Driver(input, contact, start, horizon, events, subject)
    return driver.run()


class _Driver:
    """Answers the interpreter's commands with a simulated clock."""

    def __init__(
        self,
        input: EnrollmentInput,
        contact: ContactSnapshot,
        start: datetime,
        horizon: datetime,
        events: Iterable[Previewed],
        subject: SubjectRenderer,
    ) -> None:
        self.interpreter = Interpreter(input, start, lambda _: True)
        # The contact workflow's copy of the contact: the one that turns a step's change into
        # the events every enrollment of the contact receives.
        self.contact = contact.model_copy(deep=True)
        self.now = start
        self.horizon = horizon
        self.events = deque(sorted(events, key=lambda p: p.at))
        # Events the enrollment's own changes made, on their way back to it: they arrive when
        # it next waits (a pause or an action), as the contact's signal does.
        self.returning: list[ContactEvent] = []
        self.subject = subject
        self.sends: list[Send] = []
        self.ends_at: datetime | None = None
        self.pauses = 0

    def run(self) -> Simulation:
        interpreter = self.interpreter
        blocking = self._carry_out(interpreter.start(self.now))
        while blocking is not None:
            commands: list[Command] | None
            match blocking:
                case CheckPatch():
                    commands = interpreter.on_patch(True)
                case RunAction(step=step, context=context):
                    self._carry_out(self._return_events())
                    detail = self._act(step, context)
                    commands = interpreter.on_action_done(detail, self.now)
                case ChangeContact(change=change):
                    self.returning.extend(self._change_contact(change))
                    commands = interpreter.on_contact_changed(self.now)
                case PauseUntil(until=until):
                    commands = self._pause(until)
                case BetweenSteps():
                    # Only made when a move to another version was asked: a preview asks none.
                    commands = interpreter.on_go_on(self.now)
            if commands is None:
                break  # the horizon came first
            blocking = self._carry_out(commands)
        return Simulation(
            view=interpreter.view(),
            sends=self.sends,
            ends_at=self.ends_at,
            reached=list(interpreter.reached),
        )

    def _carry_out(self, commands: list[Command]) -> Blocking | None:
        for command in commands:
            match command:
                case Finish():
                    self.ends_at = self.now
                case CheckPatch() | RunAction() | ChangeContact() | PauseUntil() | BetweenSteps():
                    return command
        return None

    # --- the contact ----------------------------------------------------------------------------

    def _accept(self, event: ContactEvent) -> list[Command]:
        """An event reaches the contact, then the enrollment (R1)."""
        if event.accepted_at is None:
            event = event.model_copy(update={"accepted_at": self.now})
        self.contact.apply_event(event)
        return self.interpreter.on_event(event, self.now)

    def _return_events(self) -> list[Command]:
        commands: list[Command] = []
        while self.returning:
            commands += self.interpreter.on_event(self.returning.pop(0), self.now)
        return commands

    def _change_contact(self, change: StepChange) -> list[ContactEvent]:
        """A step's change applied to the contact, and the events it makes, as the contact
        workflow makes them (workflows/contact_profile.py): only real changes of tags, and
        `contact.updated` for fields."""
        added, removed = self.contact.change_tags(change.add_tags, change.remove_tags)
        events = [
            self._made(f"{change.id}:add:{tag}", "contact.tag_added", {"tag": tag}, change.depth)
            for tag in added
        ] + [
            self._made(
                f"{change.id}:remove:{tag}", "contact.tag_removed", {"tag": tag}, change.depth
            )
            for tag in removed
        ]
        if change.fields:
            changed = self.contact.set_fields(change.fields)
            data = {"fields": change.fields, "changed": list(changed)}
            events.append(self._made(f"{change.id}:fields", "contact.updated", data, change.depth))
        return events

    def _made(
        self, event_id: str, event_type: str, data: dict[str, Any], depth: int
    ) -> ContactEvent:
        return ContactEvent.model_validate(
            {
                "id": event_id,
                "contact_id": self.contact.id,
                "type": event_type,
                "accepted_at": self.now,
                "data": data,
                "depth": depth,
            }
        )

    # --- actions and pauses -----------------------------------------------------------------

    def _act(
        self, step: WebhookStep | SendEmailStep | SendSmsStep, context: StepContext
    ) -> dict[str, Any]:
        """What the action's activity would answer, with nothing sent."""
        contact = context.contact
        if isinstance(step, WebhookStep):
            self.sends.append(Send(self.now, step.id, "webhook", step.url))
            return {"status_code": 200, "webhook_id": context.key}
        if isinstance(step, SendEmailStep):
            if not contact.email:
                return {"message_id": context.key, "skipped": "no_email"}
            subject = self.subject(step, context)
            self.sends.append(Send(self.now, step.id, "email", contact.email, subject))
            return {"message_id": context.key}
        if not contact.phone:
            return {"message_id": context.key, "skipped": "no_phone"}
        if contact.sms_unsubscribed:
            return {"message_id": context.key, "skipped": "unsubscribed"}
        self.sends.append(Send(self.now, step.id, "sms", contact.phone))
        return {"message_id": context.key}

    def _pause(self, until: datetime | None) -> list[Command] | None:
        """Wait until `until` unless an event moves the enrollment first; None when the
        horizon (or MAX_PAUSES) comes first."""
        interpreter = self.interpreter
        self.pauses += 1
        if self.pauses > MAX_PAUSES:
            return None
        self._carry_out(self._return_events())
        while not interpreter.move_pending:
            upcoming = self.events[0] if self.events else None
            if (
                upcoming is not None
                and upcoming.at <= self.horizon
                and (until is None or upcoming.at < until)
            ):
                self.events.popleft()
                self.now = max(self.now, upcoming.at)
                self._carry_out(self._accept(upcoming.event))
                continue
            if until is not None and until <= self.horizon:
                self.now = max(self.now, until)
                return interpreter.on_timer(self.now)
            return None
        return interpreter.on_moved(self.now)
