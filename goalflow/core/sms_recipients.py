"""Who an inbound SMS is from, without an index of phone numbers.

Each SMS goalflow sends records its recipient in a `PhoneWorkflow` whose id is a keyed hash
(HMAC-SHA256 under `GOALFLOW_SECRET`) of the number: the number is never in clear in a workflow
id or search attribute, and without the secret the id cannot be computed from a number. A reply
from that number is attributed to the contact it was last sent to.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.slow_worker import raise_if_worker_too_slow
from goalflow.core.tracking import secret_list
from workflows.phone_numbers import PHONE_PREFIX, PhoneSent, PhoneState, PhoneWorkflow

_NOT_DIGITS = re.compile(r"\D")


def normalize_phone(phone: str) -> str:
    """The digits of a number, with its leading `+` if it has one: "+1 (415) 555-0100" and
    "+14155550100" are one number."""
    text = phone.strip()
    digits = _NOT_DIGITS.sub("", text)
    return f"+{digits}" if text.startswith("+") else digits


def phone_workflow_id(secret: str, task_queue: str, phone: str) -> str:
    """The task queue is hashed in too: a workflow runs on the queue that started it, so each
    deployment (and each test worker) keeps a directory of its own."""
    message = f"{task_queue}\n{normalize_phone(phone)}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256)
    return f"{PHONE_PREFIX}{digest.hexdigest()[:40]}"


class PhoneDirectory:
    """Records SMS recipients (the SMS activity) and looks senders up (the hook route)."""

    def __init__(self, client: Client, task_queue: str, secret: str) -> None:
        self.client = client
        self.task_queue = task_queue
        # The first secret names the workflow written; all are tried when reading (rotation).
        self.secrets = secret_list(secret)

    async def remember(self, phone: str, contact_id: str) -> None:
        if not normalize_phone(phone).lstrip("+"):
            return
        await self.client.execute_update_with_start_workflow(
            PhoneWorkflow.record_sent,
            PhoneSent(contact_id=contact_id),
            start_workflow_operation=WithStartWorkflowOperation(
                PhoneWorkflow.run,
                PhoneState(),
                id=phone_workflow_id(self.secrets[0], self.task_queue, phone),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary="the contact this phone number was last texted for",
            ),
        )

    async def contact_for(self, phone: str) -> str | None:
        """The contact last sent an SMS at this number; None when goalflow never texted it."""
        if not normalize_phone(phone).lstrip("+"):
            return None
        for secret in self.secrets:
            handle = self.client.get_workflow_handle(
                phone_workflow_id(secret, self.task_queue, phone)
            )
            try:
                contact_id: str | None = await handle.query(PhoneWorkflow.contact)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            except WorkflowQueryFailedError as err:
                raise_if_worker_too_slow(err)
                continue
            if contact_id is not None:
                return contact_id
        return None
