"""GET /v1/contacts/{id}/explain over HTTP: each event a trigger listens to (enrolled, refused
with its reason, not matched with the failed filter in words), and the near misses of a goal
not yet met, from the events the contact keeps; no side effect."""

from __future__ import annotations

from typing import Any

from tests.support.api_helpers import held_at_goal, publish, send
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack

PRO_PURCHASE = {"event": "custom", "name": "buy", "where": {"plan": "pro"}}
CONFIRMED = {"event": "appointment.status_changed", "status": ["confirmed"]}


async def test_explain_says_why_each_event_did_or_did_not_enroll_and_meet(stack: Stack) -> None:
    http = stack.http
    automation = await publish(http, {**held_at_goal(PRO_PURCHASE), "triggers": [CONFIRMED]})
    contact = new_id()
    url = f"/v1/contacts/{contact}/explain?automation_id={automation}"
    await send(http, contact, "custom", id="early-pro", data={"name": "buy", "plan": "pro"})
    await send(http, contact, "appointment.status_changed", id="cancelled",
               data={"status": "cancelled"})  # fmt: skip
    await send(http, contact, "appointment.status_changed", id="yes", data={"status": "confirmed"})

    async def explained() -> dict[str, Any]:
        answer = await http.get(url)
        found: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return found

    await assert_eventually(explained, lambda e: len(e.get("enrollments", [])) == 1)
    await send(http, contact, "appointment.status_changed", id="again",
               data={"status": "confirmed"})  # fmt: skip
    await send(http, contact, "custom", id="late-free", data={"name": "buy", "plan": "free"})
    found = await assert_eventually(
        explained, lambda e: len(e["entries"]) == 3 and len(e["goals"][0]["near_misses"]) == 2
    )
    assert (found["contact_id"], found["automation_id"]) == (contact, automation)
    [enrollment] = found["enrollments"]
    assert enrollment["enrollment_id"] == f"enr:{automation}:{contact}:1"
    assert (enrollment["status"], enrollment["current_step"]) == ("active", "goal")
    assert enrollment["waiting"]["kind"] == "goal"
    entries = [(e["event_id"], e["trigger_id"], e["result"], e["reason"]) for e in found["entries"]]
    assert entries == [
        ("cancelled", "trigger-1", "not_matched", 'status "cancelled" is not one of ["confirmed"]'),
        ("yes", "trigger-1", "enrolled", None),
        ("again", "trigger-1", "refused", "already_active"),
    ]
    assert all(e["type"] == "appointment.status_changed" and e["at"] for e in found["entries"])
    [goal] = found["goals"]
    assert (goal["enrollment_id"], goal["step_id"], goal["met"]) == (
        enrollment["enrollment_id"], "goal", False,
    )  # fmt: skip
    misses = [(m["event_id"], m["type"], m["reason"]) for m in goal["near_misses"]]
    assert misses == [
        ("early-pro", "custom", "before the enrollment, and the criterion has no lookback"),
        ("late-free", "custom", 'data.plan "free" is not "pro"'),
    ]
    # Explaining changed nothing.
    assert len((await explained())["entries"]) == 3
    # The dashboard's enrollment page shows the same, as "Why?".
    page = await http.get(f"/ui/enrollments/{enrollment['enrollment_id']}")
    assert page.status_code == 200
    why = page.text.split('id="why-title"', 1)[1]
    assert "status &#34;cancelled&#34; is not one of [&#34;confirmed&#34;]" in why
    assert "already_active" in why
    assert "before the enrollment, and the criterion has no lookback" in why


async def test_explain_of_an_unknown_contact_is_404(stack: Stack) -> None:
    automation = await publish(stack.http, held_at_goal(PRO_PURCHASE))
    answer = await stack.http.get(f"/v1/contacts/{new_id()}/explain?automation_id={automation}")
    assert answer.status_code == 404
    missing = await stack.http.get(f"/v1/contacts/{new_id()}/explain")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "automation_id"]
