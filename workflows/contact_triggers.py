"""Triggers (R14): the contact enrolls itself into each automation whose trigger an event matched,
right after the event was forwarded, exactly as an enroll request would (R13); a refusal is
counted by the automation's workflow, not an error.

Events from outside arrive with their matches (found by the process that accepted them); for the
events the contact makes itself, the matches come from the candidates a request carried, or from
the worker's trigger cache (a local activity).

Workflow code, run in the contact's sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.events import MAX_TRIGGER_DEPTH, ContactEvent, TriggerMatch
    from workflows.limits import TOO_MANY_ENROLLMENTS
    from workflows.matching import triggers_met_by
    from workflows.messages import (
        MATCH_TRIGGERS,
        SIGNAL_TRIGGER_OUTCOME,
        ContactProfile,
        EnrollRequest,
        EnrollResult,
        MatchTriggersRequest,
        MatchTriggersResult,
        TriggerCause,
        TriggerOutcome,
        TriggerRefusal,
        automation_workflow_id,
    )
    from workflows.patches import CONTACT_ENROLLS_ON_TRIGGERS
    from workflows.tags import AnyCase

# A triggered enrollment's context is the event's data plus the trigger's ids, if it fits in
# this many bytes of JSON (as an API-given context must); else only the ids.
MAX_CONTEXT_BYTES = 16 * 1024
# Asking the worker's trigger cache which triggers the contact's own events match (tag changes
# made by automations) must not hold the contact's queue for long: on failure, no trigger fires.
MATCH_RETRY = RetryPolicy(maximum_attempts=3)


class Triggers:
    """Fires the triggers an event matched for the contact `contact_id`, enrolling it through
    `enroll` (the contact's own enroll path); `patched` asks a patch of the contact's type."""

    def __init__(
        self,
        contact_id: str,
        enroll: Callable[[EnrollRequest], Awaitable[EnrollResult]],
        patched: Callable[[str], bool],
    ) -> None:
        self.contact_id = contact_id
        self.enroll = enroll
        self.patched = patched

    async def match(self, events: list[ContactEvent]) -> list[list[TriggerMatch]]:
        """The triggers each event matches, from the worker's cached trigger set (a local
        activity: one marker, no task dispatch). If the cache cannot answer, none fire."""
        try:
            result = await workflow.execute_local_activity(
                MATCH_TRIGGERS,
                MatchTriggersRequest(events=events),
                result_type=MatchTriggersResult,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=MATCH_RETRY,
                summary="match triggers",
            )
        except ActivityError:
            workflow.logger.warning("trigger set unavailable; no trigger fires for these events")
            return [[] for _ in events]
        return result.matches

    async def fire(self, event: ContactEvent, matches: list[TriggerMatch]) -> None:
        """Enroll the contact into each automation whose trigger `event` matched, in order, and
        report each outcome to the automation's workflow."""
        if not self.patched(CONTACT_ENROLLS_ON_TRIGGERS):
            return
        for match in matches:
            refused: TriggerRefusal | None = None
            if match.paused:
                refused = "paused"
            elif event.depth > MAX_TRIGGER_DEPTH:
                refused = "chain_cut"
                workflow.logger.warning(
                    "trigger chain cut",
                    extra={"event_id": event.id, "automation_id": match.automation_id},
                )
            else:
                request = EnrollRequest(
                    automation_id=match.automation_id,
                    version=match.version,
                    automation=match.definition,
                    contact=ContactProfile(id=self.contact_id),
                    search_attributes=match.search_attributes,
                    report_outcomes=match.report_outcomes,
                    context=trigger_context(event, match.trigger_id),
                    trigger=TriggerCause(
                        trigger_id=match.trigger_id, event_id=event.id, depth=event.depth
                    ),
                )
                try:
                    result = await self.enroll(request)
                except ApplicationError as err:
                    refused = "limit" if err.type == TOO_MANY_ENROLLMENTS else "reentry"
                else:
                    refused = None if result.created else "active"
            outcome = TriggerOutcome(
                trigger_id=match.trigger_id, started=refused is None, refused=refused
            )
            workflow.metric_meter().create_counter(
                "goalflow_trigger_outcomes", "triggers that matched an event, by outcome"
            ).add(
                1,
                {
                    "automation_id": match.automation_id,
                    "trigger_id": match.trigger_id,
                    "outcome": refused or "started",
                },
            )
            try:
                await workflow.get_external_workflow_handle(
                    automation_workflow_id(match.automation_id)
                ).signal(SIGNAL_TRIGGER_OUTCOME, outcome)
            except ApplicationError:
                workflow.logger.warning("automation workflow gone; trigger outcome not counted")


def matching(
    events: list[ContactEvent], candidates: dict[str, list[TriggerMatch]], any_case: AnyCase
) -> list[ContactEvent]:
    """Attach to each event the candidates (automations with a trigger on its type) whose
    triggers it matches, with the first matching trigger's id."""
    for event in events:
        event.triggers = [
            candidate.model_copy(update={"trigger_id": found[0]})
            for candidate in candidates.get(event.type, [])
            if (
                found := triggers_met_by(
                    candidate.definition, event, candidate.automation_id, any_case
                )
            )
        ]
    return events


def trigger_context(event: ContactEvent, trigger_id: str) -> dict[str, Any]:
    ids = {"trigger_event_id": event.id, "trigger_id": trigger_id}
    context = {**event.data, **ids}
    if len(json.dumps(context, default=str)) > MAX_CONTEXT_BYTES:
        return {**ids, "data_omitted": True}
    return context
