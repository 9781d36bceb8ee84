"""Enrollment `context`: given to `POST …/enrollments`, returned by the enrollment view, seen by
templates as `enrollment.context`; too large or not an object is a 422 with the path."""

from __future__ import annotations

from typing import Any

from tests.support.helpers import new_id
from tests.support.messaging import enrollment, messages_for, publish
from tests.support.stack import Stack

MAILS_CONTEXT: dict[str, Any] = {
    "name": "context in templates",
    "steps": [
        {
            "id": "mail",
            "type": "send_email",
            "subject": "Order {{ enrollment.context.order_id }}",
            "html": "<p>{{ enrollment.context.lines[0].sku }} for {{ contact.first_name }}</p>",
        },
        {"id": "sms", "type": "send_sms", "body": "Order {{ enrollment.context.order_id }}"},
    ],
}


async def test_context_is_kept_shown_and_rendered(stack: Stack) -> None:
    automation_id = await publish(stack, MAILS_CONTEXT)
    contact_id = new_id()
    context = {"order_id": "o-42", "lines": [{"sku": "tea"}]}
    answer = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments",
        json={
            "contact": {
                "id": contact_id,
                "email": "ctx@example.com",
                "phone": "+15550100",
                "first_name": "Ada",
            },
            "context": context,
        },
    )
    assert answer.status_code == 201, answer.text
    view = await enrollment(stack, answer.json()["enrollment_id"])
    assert view["context"] == context
    mail, sms = await messages_for(stack, contact_id, 2)
    assert mail["subject"] == "Order o-42"
    assert "tea for Ada" in mail["html"]
    assert sms["text"] == "Order o-42"


async def test_context_defaults_to_an_empty_object(stack: Stack) -> None:
    automation_id = await publish(stack, {"name": "end", "steps": [{"id": "e", "type": "end"}]})
    answer = await stack.http.post(
        f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": new_id()}}
    )
    assert answer.status_code == 201, answer.text
    assert (await enrollment(stack, answer.json()["enrollment_id"]))["context"] == {}


async def test_bad_context_is_a_422_with_its_path(stack: Stack) -> None:
    automation_id = await publish(stack, {"name": "end", "steps": [{"id": "e", "type": "end"}]})
    url = f"/v1/automations/{automation_id}/enrollments"
    contact = {"id": new_id()}
    for bad in ([1, 2], "text", 3, None):
        answer = await stack.http.post(url, json={"contact": contact, "context": bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert ["body", "context"] in [e["loc"] for e in answer.json()["detail"]], answer.text
    too_large = {"blob": "x" * (16 * 1024)}
    answer = await stack.http.post(url, json={"contact": contact, "context": too_large})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", "context"]]
    assert "16384" in detail[0]["msg"]
    # Just under the limit is accepted.
    fits = {"blob": "x" * (16 * 1024 - 20)}
    answer = await stack.http.post(url, json={"contact": contact, "context": fits})
    assert answer.status_code == 201, answer.text
