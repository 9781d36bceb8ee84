"""Burst: 2,000 events for 200 contacts over HTTP, shuffled across contacts, 20% of them repeating
an id already sent, many in flight at once. Each distinct event is applied exactly once and each
contact's enrollment hears its events in the order they were sent."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter

from goalflow.service.contacts import GoalflowService
from tests.support.drills_harness import EVERY_EVENT, goal_met_ids
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import Stack
from workflows.messages import EnrollmentView

CONTACTS = 200
SENDS_PER_CONTACT = 10
DUPLICATES_PER_CONTACT = 2  # 20% of the sends repeat an earlier id of the same contact
IN_FLIGHT = 64


def contact_plan(rng: random.Random) -> list[str]:
    """The ids one contact sends, in order: each duplicate comes after its original."""
    distinct = [uuid.uuid4().hex for _ in range(SENDS_PER_CONTACT - DUPLICATES_PER_CONTACT)]
    plan = list(distinct)
    for _ in range(DUPLICATES_PER_CONTACT):
        original = rng.choice(distinct)
        plan.insert(rng.randint(plan.index(original) + 1, len(plan)), original)
    return plan


async def test_burst_of_2000_events_with_duplicates(stack: Stack) -> None:
    rng = random.Random(7)
    http = stack.http
    automation_id = new_id("burst")
    published = await http.put(f"/v1/automations/{automation_id}", json=EVERY_EVENT)
    assert published.status_code == 201, published.text

    contacts = [new_id("burst") for _ in range(CONTACTS)]
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def enroll(contact: str) -> str:
        async with limit:
            answer = await http.post(
                f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": contact}}
            )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["enrollment_id"])

    enrollments = await asyncio.gather(*(enroll(c) for c in contacts))

    plans = {c: contact_plan(rng) for c in contacts}
    # One global order, shuffled across contacts; a contact's k-th send waits for its (k-1)-th
    # answer, so its own events go out in order while everyone else's interleave.
    schedule = [c for c in contacts for _ in range(SENDS_PER_CONTACT)]
    rng.shuffle(schedule)
    answered: dict[str, list[asyncio.Event]] = {
        c: [asyncio.Event() for _ in range(SENDS_PER_CONTACT)] for c in contacts
    }
    answers: list[tuple[str, int, dict[str, object]]] = []
    statuses: Counter[int] = Counter()

    async def send(contact: str, k: int) -> None:
        if k:
            await answered[contact][k - 1].wait()
        event_id = plans[contact][k]
        async with limit:
            answer = await http.post(
                "/v1/events",
                json={
                    "id": event_id,
                    "contact_id": contact,
                    "type": "custom",
                    "data": {"name": "burst", "k": k},
                },
            )
        statuses[answer.status_code] += 1
        assert answer.status_code == 202, answer.text
        answers.append((contact, k, answer.json()))
        answered[contact][k].set()

    started = time.monotonic()
    position: Counter[str] = Counter()
    sends = []
    for contact in schedule:
        sends.append(send(contact, position[contact]))
        position[contact] += 1
    await asyncio.gather(*sends)
    sent_in = time.monotonic() - started

    # The API says which sends were duplicates: exactly the repeated ids.
    for contact, k, body in answers:
        repeat = plans[contact][k] in plans[contact][:k]
        assert body["duplicate"] is repeat, (contact, k, body)
    duplicates = sum(bool(body["duplicate"]) for _, _, body in answers)
    assert duplicates == CONTACTS * DUPLICATES_PER_CONTACT

    goalflow = GoalflowService(stack.env.client, stack.settings.task_queue)
    expected = {c: list(dict.fromkeys(plans[c])) for c in contacts}

    async def heard() -> list[EnrollmentView]:
        return list(await asyncio.gather(*(goalflow.enrollment(e) for e in enrollments)))

    finals = await assert_eventually(
        heard,
        lambda found: all(
            len(goal_met_ids(v)) >= len(expected[c]) for c, v in zip(contacts, found, strict=True)
        ),
        within=120,
        interval=1,
    )
    applied_in = time.monotonic() - started
    for contact, view in zip(contacts, finals, strict=True):
        assert goal_met_ids(view) == expected[contact], contact
    seen = await asyncio.gather(*(goalflow.contact(c) for c in contacts))
    assert [v.events_seen for v in seen] == [len(expected[c]) for c in contacts]

    distinct = sum(len(ids) for ids in expected.values())
    print(
        f"\nburst: {len(answers)} events sent for {CONTACTS} contacts, {IN_FLIGHT} in flight, "
        f"{duplicates} duplicate ids (answered duplicate: true), {distinct} applied once each, "
        f"in order per contact; lost: 0; answers {dict(statuses)}; all answered in "
        f"{sent_in:.1f} s ({len(answers) / sent_in:.0f}/s), all applied after {applied_in:.1f} s"
    )
