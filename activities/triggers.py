"""The trigger activity: which triggers the events a contact workflow makes itself match (R14).

Answered from this worker process's copy of the trigger set (`goalflow/core/trigger_cache.py`).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from goalflow.core.trigger_cache import TriggerCache
from workflows.messages import MATCH_TRIGGERS, MatchTriggersRequest, MatchTriggersResult


class TriggerActivities:
    """The worker's side: the contact workflow asks which triggers the tag changes made by
    automations match (a local activity, answered from this process's cached copy)."""

    def __init__(self, client: Client, task_queue: str, report_outcomes: bool = False) -> None:
        self.cache = TriggerCache(client, task_queue, report_outcomes=report_outcomes)

    @activity.defn(name=MATCH_TRIGGERS)
    async def match_triggers(self, request: MatchTriggersRequest) -> MatchTriggersResult:
        cache = await self.cache.current()
        return MatchTriggersResult(matches=[cache.match(event) for event in request.events])
