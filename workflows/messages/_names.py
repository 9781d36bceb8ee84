"""Names the workflows, activities and API share: activities, signals, workflow ids, error types,
and the small literal types of the messages."""

from __future__ import annotations

from typing import Literal

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
# A webhook destination the outbound guard refused (goalflow/core/outbound.py); never retried.
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
    # R19: moved to another version of its automation.
    "migrated",
]


def contact_workflow_id(contact_id: str) -> str:
    return f"{CONTACT_PREFIX}{contact_id}"


def automation_workflow_id(automation_id: str) -> str:
    return f"{AUTOMATION_PREFIX}{automation_id}"


def enrollment_workflow_id(automation_id: str, contact_id: str, number: int) -> str:
    return f"{ENROLLMENT_PREFIX}{automation_id}:{contact_id}:{number}"
