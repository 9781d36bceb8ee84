"""Which contact a provider event is from when it names a person only by an email address or a
phone number: the profiles' directory.

Each address and number a contact's profile is saved with is recorded in a `ProfileKeyWorkflow`
whose id is a keyed hash (HMAC-SHA256 under `GOALFLOW_SECRET`) of it, like the phone directory
of SMS recipients (`goalflow.core.sms_recipients`): never in clear in a workflow id or search
attribute, and without the secret the id cannot be computed from an address. Addresses compare
without regard to case (and an internationalised domain as its ASCII form); numbers by their digits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Literal

import idna
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from goalflow.core.slow_worker import raise_if_worker_too_slow
from goalflow.core.sms_recipients import normalize_phone
from goalflow.core.tracking import secret_list
from workflows.directory import (
    PROFILE_KEY_PREFIX,
    ProfileKeySaved,
    ProfileKeyState,
    ProfileKeyWorkflow,
)

Kind = Literal["email", "phone"]


def normalize_email(address: str) -> str | None:
    """The address as the directory keys it: lower case, the domain in IDNA A-labels; None for
    what is not an address."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    return f"{local}@{domain}".casefold()


def _key(kind: Kind, value: str) -> str | None:
    if kind == "email":
        return normalize_email(value)
    digits = normalize_phone(value)
    return digits if digits.lstrip("+") else None


def profile_key_workflow_id(secret: str, task_queue: str, kind: Kind, key: str) -> str:
    """The task queue is hashed in, as for the phone directory: one directory per deployment."""
    message = f"{task_queue}\n{kind}\n{key}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256)
    return f"{PROFILE_KEY_PREFIX}{digest.hexdigest()[:40]}"


class ProfileDirectory:
    """Records the profiles' addresses and numbers (the API, the bulk activity) and looks them
    up (the hook route)."""

    def __init__(self, client: Client, task_queue: str, secret: str) -> None:
        self.client = client
        self.task_queue = task_queue
        # The first secret names the workflow written; all are tried when reading (rotation).
        self.secrets = secret_list(secret)

    async def remember(
        self, contact_id: str, *, email: str | None = None, phone: str | None = None
    ) -> None:
        """Record that `contact_id`'s profile holds `email` and `phone` (those given)."""
        given: list[tuple[Kind, str | None]] = [("email", email), ("phone", phone)]
        await asyncio.gather(
            *(
                self._record(kind, key, contact_id)
                for kind, value in given
                if value and (key := _key(kind, value))
            )
        )

    async def _record(self, kind: Kind, key: str, contact_id: str) -> None:
        await self.client.execute_update_with_start_workflow(
            ProfileKeyWorkflow.record_saved,
            ProfileKeySaved(contact_id=contact_id),
            start_workflow_operation=WithStartWorkflowOperation(
                ProfileKeyWorkflow.run,
                ProfileKeyState(),
                id=profile_key_workflow_id(self.secrets[0], self.task_queue, kind, key),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"the contact whose profile was last saved with this {kind}",
            ),
        )

    async def contact_for(self, kind: Kind, value: str) -> str | None:
        """The contact whose profile was last saved with this address or number; None when no
        profile was."""
        key = _key(kind, value)
        if key is None:
            return None
        for secret in self.secrets:
            handle = self.client.get_workflow_handle(
                profile_key_workflow_id(secret, self.task_queue, kind, key)
            )
            try:
                contact_id: str | None = await handle.query(ProfileKeyWorkflow.contact)
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


def same_address(kind: Kind, a: str | None, b: str) -> bool:
    """Whether a profile's `a` is the address or number `b` (as the directory compares them)."""
    return a is not None and _key(kind, a) is not None and _key(kind, a) == _key(kind, b)
