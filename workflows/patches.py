"""Every `workflow.patched` id the workflows use, with why it exists and when it can go.

A patch id guards a change to the commands a workflow issues: executions started before the
change replay the old branch (their histories lack the marker), executions started after take
the new one and write the marker. The first types, ContactWorkflow and EnrollmentWorkflow
(workflows/v1_types.py), still ask `workflow.patched` for each id below; the V2 types
(`ContactWorkflowV2`, `EnrollmentWorkflowV2`) have every change built in and never ask
(`ALL_PATCHES_BUILT_IN`), and the bulk workflow asks for its one id.

An id can go, branch and all, once no execution that may replay the old branch is running:
for the contact and enrollment ids, when no execution of the first types is left (an
enrollment lives for weeks, a contact for as long as it is remembered; list them with
`WorkflowType="ContactWorkflow"` / `"EnrollmentWorkflow"` in the Temporal UI). Removing one
earlier needs `workflow.deprecate_patch` first, and `python -m tests.workflow_fingerprints
--update`, since the fingerprint lists the ids.

Plain constants, passed through the sandbox: no workflow code runs here.
"""

from __future__ import annotations

# --- the enrollment (workflows/enrollment.py and the modules it drives) ------------------------

# R15: goals met by events accepted before the enrollment (a criterion's lookback) move the
# contact before the first step. Enrollments started earlier never had looked-back events.
ENROLLMENT_APPLIES_LOOKBACK = "enrollment-applies-lookback"

# Email, text and webhook steps retried by the workflow itself, one attempt per activity, so
# that the enrollment shows `waiting.kind = "retrying"`; earlier ones let Temporal retry the
# activity (ACTION_RETRY as the activity's retry policy).
VISIBLE_RETRIES = "action-retries-in-workflow"

# Emails sent by local activities (one marker, no task dispatch) rather than activities.
SEND_EMAIL_AS_LOCAL_ACTIVITY = "send-email-as-local-activity"

# R16: a send held until its send window opens (a timer); earlier enrollments sent at once.
SEND_WINDOW_HOLD = "send-window-hold"

# Search attributes written at pauses and at the end, and only when they changed, rather than
# at every step.
SEARCH_ATTRIBUTES_AT_PAUSES = "search-attributes-at-pauses"

# An event or a contact-changing step that would take the contact past its bounds
# (workflows/limits.py) is not applied (the step fails instead); timeline details are bounded.
# Asked by both enrollment types, V2 included, since it came after them.
ENROLLMENT_BOUNDS_CONTACT = "enrollment-bounds-contact"

# R20: a send the message budget defers waits (`waiting.kind = "budget"` / "quiet_hours") and
# asks again. Only sends answered by code that knows the budget are deferred, so no recorded
# history reaches it; asked by both enrollment types, V2 included, and only on a deferral.
ENROLLMENT_WAITS_FOR_BUDGET = "enrollment-waits-for-budget"

# --- the contact (workflows/contact.py) --------------------------------------------------------

# Tag changes made by enrollment steps are matched against triggers by a local activity.
CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES = "contact-asks-triggers-for-automated-tag-changes"

# The contact learns that an enrollment ended from the child's completion instead of a signal
# from the enrollment.
CONTACT_LEARNS_END_FROM_CHILD_COMPLETION = "contact-learns-end-from-child-completion"

# An enroll update that finds the automation's enrollment active, one this run started, first
# lets the rest of its workflow task apply (a 1 ms timer, cancelled unsent if the enrollment's
# end is in that task), so that an enrollment that just ended is not answered as active (R13).
# Asked by both contact types, and only on that path.
CONTACT_ENROLL_SEES_END_IN_THE_SAME_TASK = "contact-enroll-sees-end-in-the-same-task"

# Events matching an automation's triggers enroll the contact (R17).
CONTACT_ENROLLS_ON_TRIGGERS = "contact-enrolls-on-triggers"

# The contact continues as new with a backlog, carrying the accepted events to the next run.
CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW = "contact-carries-backlog-across-continue-as-new"

# A change that would take the profile past its bounds (workflows/limits.py) is refused, and a
# backlog past the carried UTF-8 bytes is not carried. Asked by both contact types.
CONTACT_BOUNDS_PROFILE = "contact-bounds-profile"

# A large event is forwarded to the enrollments a few per workflow task (one message per task,
# which Temporal refuses past 4 MB). Asked by both contact types, and only when it needs parts.
CONTACT_FORWARDS_IN_PARTS = "contact-forwards-in-parts"

# --- the contact and the enrollment -------------------------------------------------------------

# Tags that differ only by case are one tag (workflows/tags.py). Asked by every type, V2
# included, and lazily: only when two tags differ but for case, inside matching and tag changes.
TAGS_ANY_CASE = "tags-any-case"

# --- bulk jobs (workflows/bulk.py) -------------------------------------------------------------

# POST /v1/jobs/{id}/cancel stops a job between batches. Bulk jobs have no second type: the id
# stays until no job started before the change is running; the branch can then be taken
# unconditionally after a `workflow.deprecate_patch` release.
BULK_CANCEL_BETWEEN_BATCHES = "bulk-cancel-between-batches"

ALL = (
    ENROLLMENT_APPLIES_LOOKBACK,
    VISIBLE_RETRIES,
    SEND_EMAIL_AS_LOCAL_ACTIVITY,
    SEND_WINDOW_HOLD,
    SEARCH_ATTRIBUTES_AT_PAUSES,
    ENROLLMENT_BOUNDS_CONTACT,
    ENROLLMENT_WAITS_FOR_BUDGET,
    CONTACT_ASKS_TRIGGERS_FOR_AUTOMATED_TAG_CHANGES,
    CONTACT_LEARNS_END_FROM_CHILD_COMPLETION,
    CONTACT_ENROLLS_ON_TRIGGERS,
    CONTACT_CARRIES_BACKLOG_ACROSS_CONTINUE_AS_NEW,
    CONTACT_BOUNDS_PROFILE,
    CONTACT_FORWARDS_IN_PARTS,
    CONTACT_ENROLL_SEES_END_IN_THE_SAME_TASK,
    TAGS_ANY_CASE,
    BULK_CANCEL_BETWEEN_BATCHES,
)
