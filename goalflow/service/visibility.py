"""Enrollments as Temporal visibility sees them: listing and stats.

Visibility is eventually consistent (about a second behind on the dev server, a few seconds on a
cluster with Elasticsearch): these answers may lag what `GET /v1/enrollments/{id}` says. They
never route anything (R1 in docs/automations.md). The status of an ended enrollment is in its
memo (the workflow upserts it when it ends); an execution that continued as new is not an
enrollment of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from workflows.definition import Automation, GoalStep, SendEmailStep, SendSmsStep, WaitStep
from workflows.messages import EnrollmentStatus
from workflows.search_attributes import AUTOMATION_ID, CONTACT_ID, GOALS_MET, STEP

# Both enrollment types: EnrollmentWorkflowV2, and EnrollmentWorkflow for older enrollments.
ENROLLMENT_TYPES = "WorkflowType IN ('EnrollmentWorkflowV2', 'EnrollmentWorkflow')"
ENROLLMENTS = f"{ENROLLMENT_TYPES} AND ExecutionStatus != 'ContinuedAsNew'"
ENDED_STATUSES: tuple[EnrollmentStatus, ...] = ("completed", "exited", "cancelled", "failed")
# A listing filtered on an ended status reads at most this many visibility pages per request
# (the status is in the memo, so Temporal cannot filter on it); `next_page_token` goes on.
MAX_SCAN_PAGES = 20
# Visibility page size when reading every ended enrollment for stats.
STATS_PAGE = 1000


class EnrollmentSummary(BaseModel):
    enrollment_id: str
    automation_id: str | None
    contact_id: str | None
    version: int | None
    status: str
    current_step: str | None
    started_at: datetime | None


class StepCount(BaseModel):
    step_id: str
    type: str
    name: str | None
    here: int
    reached: int
    met: int | None = Field(None, description="goal steps only")

    @model_serializer(mode="wrap")
    def _met_for_goals_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.met is None:
            data.pop("met", None)
        return data


class StepCounts(BaseModel):
    automation_id: str
    version: int
    steps: list[StepCount]


class BadPageToken(ValueError):
    pass


def quote(value: str) -> str:
    """A string literal of Temporal's list filter (its parser reads MySQL's escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Characters that no literal carries through every visibility store: Temporal parses the filter,
# then writes it out again as SQL with MySQL's escapes (`\"`, `\\`), which SQLite (the dev
# server's store) reads as backslashes of the value: `= 'say"hi"'` matches the stored value
# `say\"hi\"`, never `say"hi"`, however the literal is escaped. So a contact id holding one is
# looked up by its prefix up to the first of them (`STARTS_WITH`, which they do not reach), and
# the exact id is checked on what comes back.
_UNSAFE_IN_LITERALS = re.compile(r'["\\]')


def _contact_prefix(contact_id: str) -> str | None:
    """The part of `contact_id` a filter can carry exactly; None when that is all of it."""
    found = _UNSAFE_IN_LITERALS.search(contact_id)
    return None if found is None else contact_id[: found.start()]


def contact_checked_here(contact_id: str | None) -> bool:
    """Whether the enrollments `enrollment_query` finds for `contact_id` include other contacts'
    (the filter could only name its prefix), so each must be checked against the id."""
    return contact_id is not None and _contact_prefix(contact_id) is not None


def enrollment_query(
    automation_id: str | None = None,
    contact_id: str | None = None,
    status: EnrollmentStatus | None = None,
) -> str:
    clauses = [ENROLLMENTS]
    if automation_id:
        clauses.append(f"{AUTOMATION_ID.name} = {quote(automation_id)}")
    if contact_id:
        prefix = _contact_prefix(contact_id)
        if prefix is None:
            clauses.append(f"{CONTACT_ID.name} = {quote(contact_id)}")
        elif prefix:
            clauses.append(f"{CONTACT_ID.name} STARTS_WITH {quote(prefix)}")
    if status == "active":
        clauses.append("ExecutionStatus = 'Running'")
    elif status is not None:
        clauses.append("ExecutionStatus != 'Running'")
    return " AND ".join(clauses)


def status_of(execution: WorkflowExecution, memo: Mapping[str, Any]) -> EnrollmentStatus:
    if execution.status in (WorkflowExecutionStatus.RUNNING, None):
        return "active"
    recorded = memo.get("status")
    if recorded in ENDED_STATUSES:
        return cast(EnrollmentStatus, recorded)
    # Ended without saying how: stopped from outside (Temporal UI, CLI) or crashed.
    if execution.status in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED):
        return "cancelled"
    if execution.status == WorkflowExecutionStatus.COMPLETED:
        return "completed"
    return "failed"


async def summary_of(execution: WorkflowExecution) -> EnrollmentSummary:
    memo = await execution.memo()
    attributes = {pair.key.name: pair.value for pair in execution.typed_search_attributes}
    return EnrollmentSummary(
        enrollment_id=execution.id,
        automation_id=attributes.get(AUTOMATION_ID.name),
        contact_id=attributes.get(CONTACT_ID.name),
        version=memo.get("version"),
        status=status_of(execution, memo),
        current_step=attributes.get(STEP.name) or None,
        started_at=execution.start_time,
    )


def _encode_token(token: bytes | None, skip: int) -> str | None:
    if token is None:
        return None
    text = json.dumps({"t": base64.b64encode(token).decode(), "s": skip})
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_token(text: str | None) -> tuple[bytes | None, int]:
    if not text:
        return None, 0
    try:
        data = json.loads(base64.b64decode(text, altchars=b"-_", validate=True))
        token = base64.b64decode(data["t"], validate=True)
        skip = int(data["s"])
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise BadPageToken(text) from err
    if skip < 0:
        raise BadPageToken(text)
    return token or None, skip


async def list_enrollments(
    client: Client,
    *,
    automation_id: str | None,
    contact_id: str | None,
    status: EnrollmentStatus | None,
    page_size: int,
    page_token: str | None,
) -> tuple[list[EnrollmentSummary], str | None]:
    """One page of enrollments, newest first, and the token of the next page (None: no more).

    Raises BadPageToken for a token this function did not issue."""
    query = enrollment_query(automation_id, contact_id, status)
    token, skip = _decode_token(page_token)
    filter_ended = status is not None and status != "active"
    filter_contact = contact_checked_here(contact_id)
    items: list[EnrollmentSummary] = []
    for _ in range(MAX_SCAN_PAGES):
        iterator = client.list_workflows(query, page_size=page_size, next_page_token=token)
        await iterator.fetch_next_page()
        page = list(iterator.current_page or [])
        for position in range(skip, len(page)):
            summary = await summary_of(page[position])
            if filter_ended and summary.status != status:
                continue
            if filter_contact and summary.contact_id != contact_id:
                continue
            items.append(summary)
            if len(items) == page_size:
                if position + 1 < len(page):
                    # Resume inside this page: the same token, past what was returned.
                    return items, _encode_token(token or b"", position + 1)
                return items, _encode_token(iterator.next_page_token, 0)
        skip = 0
        token = iterator.next_page_token
        if not token:
            return items, None
    return items, _encode_token(token, 0)


async def enrollment_stats(
    client: Client, automation_id: str, goal_ids: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts by status, and per goal how many enrollments met it."""
    base = enrollment_query(automation_id)

    async def count(query: str) -> int:
        return (await client.count_workflows(query)).count

    async def ended() -> Counter[str]:
        counts: Counter[str] = Counter()
        async for execution in client.list_workflows(
            f"{base} AND ExecutionStatus != 'Running'", page_size=STATS_PAGE
        ):
            counts[status_of(execution, await execution.memo())] += 1
        return counts

    active, by_status, met = await asyncio.gather(
        count(f"{base} AND ExecutionStatus = 'Running'"),
        ended(),
        asyncio.gather(
            *(count(f"{base} AND {GOALS_MET.name} = {quote(goal)}") for goal in goal_ids)
        ),
    )
    statuses: dict[str, int] = {"active": active}
    statuses.update({status: by_status.get(status, 0) for status in ENDED_STATUSES})
    return statuses, dict(zip(goal_ids, met, strict=True))


def can_rest(definition: Automation, position: int) -> bool:
    """Whether visibility can show an enrollment at this step: the first step (named at start),
    and the steps an enrollment pauses at (a wait, a goal that waits, a send held by a send
    window), which are where the step's search attribute is written. Elsewhere an enrollment
    passes in milliseconds, and counting it would cost a query for a 0."""
    step = definition.steps[position]
    if position == 0 or isinstance(step, WaitStep):
        return True
    if isinstance(step, GoalStep):
        return step.if_unmet.action == "wait"
    if isinstance(step, SendEmailStep | SendSmsStep):
        return step.window(definition.settings.send_window) is not None
    return False


async def step_counts(
    client: Client, automation_id: str, version: int, definition: Automation
) -> list[StepCount]:
    """Per step of one version: enrollments of that version at the step now (`here`), that ever
    reached it (`reached`), and for goals how many met it (`met`). Count queries only, on the
    `GoalflowVersion` and `GoalflowReached` search attributes the enrollments set in the upserts
    they make anyway; eventually consistent, like every visibility answer."""
    base = f"{enrollment_query(automation_id)} AND GoalflowVersion = {int(version)}"

    async def count(query: str) -> int:
        return (await client.count_workflows(query)).count

    steps = definition.steps
    goals = [s for s in steps if isinstance(s, GoalStep)]

    async def at_step(position: int) -> int:
        if not can_rest(definition, position):
            return 0  # never written to visibility: no query
        step_id = quote(steps[position].id)
        return await count(f"{base} AND ExecutionStatus = 'Running' AND GoalflowStep = {step_id}")

    counted = await asyncio.gather(
        *(at_step(i) for i in range(len(steps))),
        *(count(f"{base} AND GoalflowReached = {quote(s.id)}") for s in steps),
        *(count(f"{base} AND GoalflowGoalsMet = {quote(g.id)}") for g in goals),
    )
    here, reached, met = (
        counted[: len(steps)],
        counted[len(steps) : 2 * len(steps)],
        dict(zip((g.id for g in goals), counted[2 * len(steps) :], strict=True)),
    )
    return [
        StepCount(
            step_id=step.id,
            type=step.type,
            name=step.name,
            here=here[i],
            reached=reached[i],
            met=met.get(step.id),
        )
        for i, step in enumerate(steps)
    ]
