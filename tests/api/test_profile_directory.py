"""The profiles' directory (goalflow.core.profiles): keyed hashes only, addresses compared without
regard to case, kept up to date by every way a profile is saved (here a bulk job's rows)."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowExecutionStatus

from goalflow.core.profiles import normalize_email, profile_key_workflow_id
from tests.api.test_hooks_bookings import CONFIRMED, calendly_invitee
from tests.api.test_triggers import publish
from tests.e2e.test_bulk import finished
from tests.support.messaging import until
from tests.support.provider_signing import calendly_headers, dumps, goal_met, hook_stack, listening
from tests.support.stack import Stack

__all__ = ["hook_stack"]


def test_the_workflow_id_is_a_keyed_hash_of_the_address_in_any_case() -> None:
    address = "Ana.Lopez@Clínica.example"
    key = normalize_email(address)
    assert key == "ana.lopez@xn--clnica-4va.example"
    assert normalize_email("ANA.LOPEZ@xn--clnica-4va.EXAMPLE") == key
    workflow_id = profile_key_workflow_id("s3cret", "queue", "email", key)
    assert workflow_id.startswith("profile-key:")
    assert "ana" not in workflow_id.lower() and "example" not in workflow_id
    # Without the secret, the id cannot be computed from the address.
    assert profile_key_workflow_id("other", "queue", "email", key) != workflow_id
    assert profile_key_workflow_id("s3cret", "queue", "phone", key) != workflow_id


async def test_a_bulk_row_records_its_address_and_a_booking_then_finds_it(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    automation = await publish(stack.http, listening(CONFIRMED))
    contact = f"c-{uuid.uuid4().hex[:10]}"
    address = f"{contact}@Bulk.example"
    answer = await stack.http.post(
        f"/v1/automations/{automation}/enrollments/bulk",
        json={"contacts": [{"id": contact, "email": address}]},
    )
    assert answer.status_code == 202, answer.text
    job = await finished(stack.http, answer.json()["job_id"])
    assert job["created"] == 1, job
    key = normalize_email(address)
    assert key is not None
    workflow_id = profile_key_workflow_id(
        stack.settings.secret, stack.settings.task_queue, "email", key
    )
    described = await stack.env.client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    assert address.lower() not in str(described.raw_description).lower()
    enrollment_id = f"enr:{automation}:{contact}:1"
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    body = dumps(calendly_invitee("invitee.created", "https://calendly.com/a", email=address))
    answer = await stack.http.post(
        "/v1/hooks/calendly", content=body, headers=calendly_headers(body)
    )
    assert answer.json()["accepted"] == 2, answer.text
    await until(stack, enrollment_id, goal_met("got"))
