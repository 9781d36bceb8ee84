"""The send activities' side of the message budget (R20 in docs/automations.md).

Before an email or text of a normal automation goes out, the activity asks the contact's
workflow for a slot: one update, decided there in acceptance order against the contact's ledger
(workflows/contact_budget.py). The answer is a slot, "ask again at T" (the enrollment waits,
`waiting.kind = "budget"` or `"quiet_hours"`) or "skip". A transactional send is counted after
it went out, by a signal, without asking. The policy is this process's copy of the catalog's
(goalflow/core/trigger_cache.py), refreshed as publishing is: a send with no policy for its
channel asks nothing and costs nothing more.
"""

from __future__ import annotations

import structlog
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.trigger_cache import TriggerCache
from workflows.budget import (
    SIGNAL_SEND_RECORDED,
    UPDATE_GRANT_SEND,
    Channel,
    GrantAnswer,
    GrantRequest,
    SendingRules,
    SentRecord,
)
from workflows.messages import DeliveryResult, StepContext, contact_workflow_id

log = structlog.get_logger("goalflow.send_budget")


class MessageBudget:
    """Asks a contact's workflow for send slots, with the policy of this process's catalog copy
    (`cache`, shared with the trigger matching when given)."""

    def __init__(self, client: Client, task_queue: str, cache: TriggerCache | None = None) -> None:
        self.client = client
        self.cache = cache or TriggerCache(client, task_queue, search_attributes=False)

    async def ask(self, context: StepContext, channel: Channel) -> DeliveryResult | None:
        """None: send now. Otherwise the answer to give instead of sending: wait, or skipped.
        A contact whose workflow cannot answer (gone, or too old to know the budget) sends."""
        policy = (await self.cache.current()).messaging_policy
        rules = context.sending or SendingRules()
        if rules.priority == "transactional" or not policy.applies_to(channel):
            return None
        request = GrantRequest(
            key=context.key,
            channel=channel,
            when_capped=rules.when_capped,
            timezone=rules.timezone,
            policy=policy,
        )
        handle = self.client.get_workflow_handle(contact_workflow_id(context.contact.id))
        try:
            answer = await handle.execute_update(
                UPDATE_GRANT_SEND, request, result_type=GrantAnswer
            )
        except WorkflowUpdateFailedError:
            log.warning("contact cannot grant a send; sending", contact_id=context.contact.id)
            return None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            log.warning("contact workflow gone; sending", contact_id=context.contact.id)
            return None
        if answer.granted:
            return None
        if answer.skipped:
            return DeliveryResult(message_id="", skipped="budget")
        return DeliveryResult(message_id="", wait=answer.wait, until=answer.until)

    async def sent(self, context: StepContext, channel: Channel) -> None:
        """After a send: a transactional one is counted against the contact's budget."""
        rules = context.sending or SendingRules()
        if rules.priority != "transactional":
            return
        policy = (await self.cache.current()).messaging_policy
        if policy.cap(channel) is None:
            return
        handle = self.client.get_workflow_handle(contact_workflow_id(context.contact.id))
        try:
            await handle.signal(
                SIGNAL_SEND_RECORDED, SentRecord(key=context.key, channel=channel, policy=policy)
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
