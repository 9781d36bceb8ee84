"""Inputs and outputs of workflows, updates, signals, queries and activities.

One model per message, all pydantic (serialised by `temporalio.contrib.pydantic`). Activity names
are constants here so that workflows and activity classes never type them twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.definition import (
    Automation,
    SendEmailStep,
    SendSmsStep,
    Trigger,
    WebhookStep,
)
from workflows.events import ContactEvent, TriggerMatch
from workflows.recall import EventMemory
from workflows.tags import AnyCase, add_tags, never, remove_tags

# Activity names.
SEND_WEBHOOK = "send_webhook"
REPORT_OUTCOME = "report_outcome"
SEND_EMAIL = "send_email"
SEND_SMS = "send_sms"

# Signal names shared by workflows that cannot import each other.
SIGNAL_EVENT = "event"
SIGNAL_STEP_CHANGE = "step_change"
SIGNAL_ENROLLMENT_ENDED = "enrollment_ended"
SIGNAL_TRIGGER_OUTCOME = "trigger_outcome"
# To an enrollment from its contact's run that is about to continue as new: report the end by
# signal, since the next run will not see the enrollment complete.
SIGNAL_REPORT_END = "report_end_by_signal"
# Local activity the contact workflow asks for the triggers its own events match.
MATCH_TRIGGERS = "match_triggers"

# Workflow id prefixes. Ids are derived, never looked up: routing must not depend on visibility.
CONTACT_PREFIX = "contact:"
AUTOMATION_PREFIX = "automation:"
ENROLLMENT_PREFIX = "enr:"
CATALOG_WORKFLOW_ID = "goalflow-catalog"
DEFAULT_TASK_QUEUE = "goalflow"


def catalog_workflow_id(task_queue: str) -> str:
    """The catalog of the deployment on `task_queue`: `goalflow-catalog` on the default queue,
    one of its own on any other, so that the catalog always runs where its workers poll (two
    deployments sharing a namespace on different queues never share, nor strand, a catalog)."""
    if task_queue == DEFAULT_TASK_QUEUE:
        return CATALOG_WORKFLOW_ID
    return f"{CATALOG_WORKFLOW_ID}:{task_queue}"


# Error types (ApplicationError.type) that callers act on.
REENTRY_REFUSED = "ReentryRefused"
UNKNOWN_VERSION = "UnknownVersion"
WEBHOOK_REJECTED = "WebhookRejected"
# A webhook destination the outbound guard refused (goalflow/outbound.py); never retried.
OUTBOUND_REFUSED = "OutboundRefused"
SMTP_REJECTED = "SmtpRejected"
SMS_REJECTED = "SmsRejected"

EnrollmentStatus = Literal["active", "completed", "exited", "cancelled", "failed"]
AutomationLifecycle = Literal["active", "paused"]
# Why a trigger that matched did not enroll: the contact is in the automation already, was in
# it and re-entry is not allowed, the automation is paused, the chain of causes is too deep, or
# the contact is in as many automations as it may be (workflows/limits.py).
TriggerRefusal = Literal["active", "reentry", "paused", "chain_cut", "limit"]
TimelineKind = Literal[
    "entered",
    "step_started",
    "step_completed",
    "waiting",
    "goal_met",
    "moved",
    "goal_unmet",
    "timed_out",
    "ended",
]


def contact_workflow_id(contact_id: str) -> str:
    return f"{CONTACT_PREFIX}{contact_id}"


def automation_workflow_id(automation_id: str) -> str:
    return f"{AUTOMATION_PREFIX}{automation_id}"


def enrollment_workflow_id(automation_id: str, contact_id: str, number: int) -> str:
    return f"{ENROLLMENT_PREFIX}{automation_id}:{contact_id}:{number}"


# --- contacts --------------------------------------------------------------------------------


class ContactProfile(BaseModel):
    """What an enrollment request may say about a contact."""

    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)


class ContactSnapshot(BaseModel):
    """The contact as an enrollment sees it: templates and conditions read this."""

    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    unsubscribed: bool = False
    # Set by an `sms.received` event with `opt_out` (STOP), cleared by one with `opt_in`.
    sms_unsubscribed: bool = False

    def template_context(self) -> dict[str, Any]:
        # A field that is not set is left out rather than None: it renders as nothing and
        # `default(...)` fills it in.
        known = self.model_dump(exclude={"fields"}, exclude_none=True)
        return {"contact": {**self.fields, **known, "fields": self.fields}}

    def apply_event(self, event: ContactEvent, any_case: AnyCase = never) -> None:
        """What a contact event changes in the profile: the contact workflow's copy and each
        enrollment's copy both change through this, so they agree. `any_case`: whether tags
        may differ in case (workflows/tags.py)."""
        tag = event.data.get("tag")
        if event.type == "contact.tag_added" and isinstance(tag, str):
            add_tags(self.tags, [tag], any_case)
        elif event.type == "contact.tag_removed" and isinstance(tag, str):
            remove_tags(self.tags, [tag], any_case)
        elif event.type == "contact.updated":
            fields = event.data.get("fields")
            if isinstance(fields, dict):
                self.fields.update(fields)
            # A profile save (`PUT /v1/contacts`) also says which attributes changed.
            attributes = event.data.get("profile")
            if isinstance(attributes, dict):
                for name in ("email", "phone", "first_name", "last_name"):
                    value = attributes.get(name)
                    if isinstance(value, str):
                        setattr(self, name, value)
        elif event.type == "email.unsubscribed":
            self.unsubscribed = True
        elif event.type == "sms.received" and event.data.get("opt_out") is True:
            self.sms_unsubscribed = True
        elif event.type == "sms.received" and event.data.get("opt_in") is True:
            self.sms_unsubscribed = False


class ActiveEnrollment(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int


class PendingWork(BaseModel):
    """Work a contact run accepted but left to the next one when it continued as new: events
    and step changes, which no caller waits on."""

    event: ContactEvent | None = None
    step_change: StepChange | None = None


class QueuedOp(BaseModel):
    """One unit of work in a contact workflow's queue, in acceptance order. Defined here, in a
    module the sandbox passes through, rather than in workflows/contact.py, which the sandbox
    executes afresh for every contact workflow it runs: a pydantic model class is built once
    per process instead of once per workflow."""

    seq: int
    enroll: EnrollRequest | None = None
    event: ContactEvent | None = None
    tags: TagChange | None = None
    step_change: StepChange | None = None
    profile: ProfileSave | None = None


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


class EnrollRequest(BaseModel):
    automation_id: str
    version: int
    automation: Automation
    contact: ContactProfile
    search_attributes: bool = True
    # Idempotency key: a repeat gets the first answer (a bulk batch retried after a crash).
    request_id: str | None = None
    continue_as_new_after_events: int | None = None
    # What templates see as `enrollment.context` (validated and size-capped by the API).
    context: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerCause | None = None
    # GOALFLOW_REPORTING_WEBHOOK_URL was set where the enrollment was asked for: the enrollment
    # reports its start, goals and end (activities/reporting.py). False leaves its commands as
    # they always were.
    report_outcomes: bool = False


class TriggerCause(BaseModel):
    """What started a triggered enrollment."""

    trigger_id: str
    event_id: str
    depth: int = 0


class TriggerOutcome(BaseModel):
    """Reported by a contact workflow to the automation's workflow, which counts them."""

    trigger_id: str
    started: bool
    refused: TriggerRefusal | None = None


class TriggerCount(BaseModel):
    started: int = 0
    refused: dict[str, int] = Field(default_factory=dict)


class EnrollResult(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    created: bool
    status: EnrollmentStatus = "active"


class EnrollReceipt(BaseModel):
    request_id: str
    result: EnrollResult


class EventReceipt(BaseModel):
    event_id: str
    contact_id: str
    duplicate: bool


class EventBatch(BaseModel):
    """Events of one contact, in the order given, accepted by one update (the batch route)."""

    events: list[ContactEvent]


class EventBatchReceipt(BaseModel):
    """One receipt per event of an `EventBatch`, in the same order."""

    receipts: list[EventReceipt]


class TagChange(BaseModel):
    """Tags to add/remove for a contact; `id` makes the resulting events idempotent."""

    id: str
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    # Automations with triggers on the resulting events' types, by type (from the API's copy
    # of the trigger set); the contact workflow matches them against the events it makes.
    triggers: dict[str, list[TriggerMatch]] = Field(default_factory=dict)


class ProfileSave(BaseModel):
    """`PUT /v1/contacts/{id}`: the fields given are set (tags: exactly that set; fields:
    merged); `id` names the events it makes."""

    id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None
    triggers: dict[str, list[TriggerMatch]] = Field(default_factory=dict)


class ProfileSaved(BaseModel):
    contact_id: str
    created: bool
    changed: list[str]


class TagChangeResult(BaseModel):
    contact_id: str
    added: list[str]
    removed: list[str]
    duplicate: bool = False


class StepChange(BaseModel):
    """A change a step of an enrollment makes to its contact (add_tag, remove_tag,
    update_contact). Its `id` is stable per enrollment, step and visit."""

    id: str
    enrollment_id: str
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    # The depth of the events it makes (the enrollment's trigger depth + 1).
    depth: int = 0


class EnrollmentEnded(BaseModel):
    enrollment_id: str
    automation_id: str
    status: EnrollmentStatus


class MatchTriggersRequest(BaseModel):
    events: list[ContactEvent]


class MatchTriggersResult(BaseModel):
    """For each event of the request, in order, the triggers it matched."""

    matches: list[list[TriggerMatch]]


class ContactView(BaseModel):
    contact_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    tags: list[str]
    fields: dict[str, Any]
    unsubscribed: bool
    sms_unsubscribed: bool = False
    active_enrollments: list[ActiveEnrollment]
    enrollment_counts: dict[str, int]
    events_seen: int = 0


# --- enrollments -----------------------------------------------------------------------------


class EnrollmentInput(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    automation: Automation
    contact: ContactSnapshot
    contact_workflow_id: str
    search_attributes: bool = True
    context: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerCause | None = None
    # R15: events the contact accepted before this enrollment (at `enrolled_at`) that a
    # criterion's lookback may reach, oldest first; empty unless the definition has a lookback.
    lookback_events: list[ContactEvent] = Field(default_factory=list)
    enrolled_at: datetime | None = None
    # Signal the contact when the enrollment ends. False when the contact learns it from the
    # enrollment's completion (patch contact-learns-end-from-child-completion).
    end_reported_by_signal: bool = True
    # Set when this run continues an earlier one (continue-as-new).
    progress: EnrollmentProgress | None = None
    # Tests force continue-as-new sooner than Temporal would suggest it.
    continue_as_new_after_events: int | None = None
    # As EnrollRequest.report_outcomes.
    report_outcomes: bool = False


OutcomeType = Literal["enrollment.started", "goal.met", "enrollment.ended"]


class OutcomeReport(BaseModel):
    """One post to the reporting webhook; `webhook_id` stays the same across retries."""

    webhook_id: str
    type: OutcomeType
    timestamp: datetime
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    step_id: str | None = None
    outcome: str | None = None


class TimelineEntry(BaseModel):
    at: datetime
    kind: TimelineKind
    step_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class GoalStatus(BaseModel):
    step_id: str
    met: bool = False
    met_at: datetime | None = None
    event_id: str | None = None


def _unset(value: object) -> bool:
    return value is None


class Waiting(BaseModel):
    # send_window: a send held until its window opens (R16 in docs/automations.md); retrying:
    # an action whose last attempt failed, tried again (`attempt`) at `next_at`, or being tried
    # again now (no `next_at`). The retry fields are left out of answers where they are unset.
    kind: Literal["timer", "goal", "send_window", "retrying"]
    until: datetime | None = None
    goal: str | None = None
    attempt: int | None = Field(None, exclude_if=_unset)
    next_at: datetime | None = Field(None, exclude_if=_unset)
    last_error: str | None = Field(None, exclude_if=_unset)


class EnrollmentProgress(BaseModel):
    """Where an enrollment is, carried across continue-as-new; only taken at a pause."""

    position: int
    goals: list[GoalStatus]
    timeline: list[TimelineEntry]
    timeline_dropped: int
    visits: dict[str, int]
    contact: ContactSnapshot
    waiting: Waiting
    reached: list[str] = Field(default_factory=list)


class EnrollmentView(BaseModel):
    enrollment_id: str
    automation_id: str
    version: int
    contact_id: str
    status: EnrollmentStatus
    current_step: str | None
    waiting: Waiting | None
    goals: list[GoalStatus]
    timeline: list[TimelineEntry]
    outcome: str | None
    timeline_dropped: int = 0
    context: dict[str, Any] = Field(default_factory=dict)


# --- automations -----------------------------------------------------------------------------


class PublishRequest(BaseModel):
    automation_id: str
    definition: Automation
    # False: a new automation starts paused and an existing one keeps its state.
    activate: bool = True


class PublishResult(BaseModel):
    automation_id: str
    version: int
    created: bool
    state: AutomationLifecycle = "active"
    revision: int = 0


class AutomationVersion(BaseModel):
    automation_id: str
    version: int
    definition: Automation
    published_at: datetime
    # The automation's state when asked (queries fill it in; stored versions keep the default).
    state: AutomationLifecycle = "active"


class VersionRequest(BaseModel):
    version: int | None = None


class StateRequest(BaseModel):
    state: AutomationLifecycle


class AutomationStatus(BaseModel):
    automation_id: str
    state: AutomationLifecycle
    revision: int


class AutomationState(BaseModel):
    automation_id: str
    versions: list[AutomationVersion] = Field(default_factory=list)
    state: AutomationLifecycle = "active"
    # Counts publishes and state changes, so that the catalog keeps the newest of each.
    revision: int = 0
    trigger_counts: dict[str, TriggerCount] = Field(default_factory=dict)


class CatalogEntry(BaseModel):
    automation_id: str
    name: str
    latest_version: int
    updated_at: datetime
    state: AutomationLifecycle = "active"
    revision: int = 0
    triggers: list[Trigger] = Field(default_factory=list)


class TriggerSetRequest(BaseModel):
    known_revision: int | None = None


class TriggerSet(BaseModel):
    """Every automation's catalog entry; `entries` is None when `known_revision` is current."""

    revision: int
    entries: list[CatalogEntry] | None = None


class TriggerLink(BaseModel):
    link_id: str
    name: str
    url: str


class CatalogState(BaseModel):
    automations: dict[str, CatalogEntry] = Field(default_factory=dict)
    trigger_links: dict[str, TriggerLink] = Field(default_factory=dict)
    trigger_revision: int = 0


class CatalogView(BaseModel):
    automations: list[CatalogEntry]
    trigger_links: list[TriggerLink]


# --- activities ------------------------------------------------------------------------------


class StepContext(BaseModel):
    """Who a side effect is for; `key` is stable across retries (R10)."""

    enrollment_id: str
    automation_id: str
    step_id: str
    visit: int
    contact: ContactSnapshot
    enrollment_context: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.enrollment_id}:{self.step_id}:{self.visit}"

    def template_context(self) -> dict[str, Any]:
        """What a step's templates see: `contact.*`, `enrollment.id`, `enrollment.context`."""
        return {
            **self.contact.template_context(),
            "enrollment": {"id": self.enrollment_id, "context": self.enrollment_context},
        }


class WebhookRequest(BaseModel):
    context: StepContext
    step: WebhookStep


class WebhookResult(BaseModel):
    status_code: int
    webhook_id: str


class EmailRequest(BaseModel):
    context: StepContext
    step: SendEmailStep


class SmsRequest(BaseModel):
    context: StepContext
    step: SendSmsStep


class DeliveryResult(BaseModel):
    message_id: str
    skipped: str | None = None


EnrollmentInput.model_rebuild()
