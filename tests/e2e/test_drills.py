"""Crash drills (docs/reliability.md) with real processes and real signals.

- a `goalflow worker` SIGKILLed while enrollments wait on timers and while emails are in mid-send
  (the SMTP sink holds its reply, so the kill lands between "message stored" and "250"), then a
  new worker: every enrollment finishes, each email is in the sink under one Message-ID;
- two workers on one task queue, one SIGKILLed mid-run: the other carries on alone;
- the Temporal dev server restarted on its SQLite file while enrollments wait, with the worker
  process left running across the restart: events still reach the enrollments and they finish;
- a `goalflow api` SIGKILLed and restarted mid-traffic: every event a client sent (retrying on
  connection errors with the same event id) is applied exactly once, in order.

Figures are printed (`pytest -s`) and kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from goalflow.cli.dev import DevOptions, start_temporal, stop_process, wait_for_temporal
from goalflow.core.settings import Settings
from goalflow.core.smtp_sink import read_messages
from goalflow.service.contacts import GoalflowService
from tests.support.drills_harness import (
    EVERY_EVENT,
    DrillServer,
    HoldingSink,
    Processes,
    all_ended,
    count_events,
    enroll_all,
    goal_met_ids,
    polling,
    probe_value,
    publish,
    reached,
    timeline,
    views,
    waiting_at,
    workflow_task_identities,
)
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import free_port
from worker import build_worker
from workflows.messages import EnrollmentView


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
async def drill_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DrillServer]:
    options = DevOptions(
        temporal_port=free_port(),
        ui_port=free_port(),
        data_dir=tmp_path_factory.mktemp("drill-temporal"),
    )
    settings = Settings.model_validate({"TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}"})
    server = start_temporal(options)
    try:
        client = await wait_for_temporal(settings, server)
        yield DrillServer(client, settings.temporal_address, f"drills-{uuid.uuid4()}")
    finally:
        stop_process(server)


# --- drill 1: worker SIGKILL mid-wait and mid-send ---------------------------------------------

MAIL_AND_WAIT = {
    "name": "worker kill drill",
    "steps": [
        {"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>Hello</p>"},
        {"id": "pause", "type": "wait", "duration": "PT3S"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "PT10M"},
        },
        {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>Thanks</p>"},
    ],
}
MAIL_AND_WAIT_TIMELINE = [
    ("entered", None),
    ("step_started", "hello"),
    ("step_completed", "hello"),
    ("step_started", "pause"),
    ("waiting", "pause"),
    ("step_completed", "pause"),
    ("waiting", "bought"),
    ("goal_met", "bought"),
    ("step_completed", "bought"),
    ("step_started", "thanks"),
    ("step_completed", "thanks"),
    ("ended", None),
]


async def test_worker_sigkill_mid_wait_and_mid_send(
    drill_server: DrillServer, processes: Processes, tmp_path: Path
) -> None:
    client, queue = drill_server.client, drill_server.queue
    goalflow = GoalflowService(client, queue)
    with HoldingSink(tmp_path / "outbox", hold=1.5) as sink:
        env = {
            "TEMPORAL_ADDRESS": drill_server.address,
            "GOALFLOW_TASK_QUEUE": queue,
            "GOALFLOW_SMTP_URL": sink.url,
            "GOALFLOW_DATA_DIR": str(tmp_path / "data"),
        }
        first = processes.worker(env, "worker-1")
        await polling(client, queue, first)
        automation_id = await publish(goalflow, MAIL_AND_WAIT)

        # Wave 1 gets past its email and waits on its timer; wave 2 is enrolled, and the worker
        # is killed while the sink holds wave 2's emails.
        wave1 = [new_id("kill1") for _ in range(10)]
        wave2 = [new_id("kill2") for _ in range(10)]
        waiting = await enroll_all(goalflow, automation_id, wave1)
        await assert_eventually(
            lambda: views(goalflow, waiting), waiting_at("pause"), within=60, interval=0.5
        )
        sending = await enroll_all(goalflow, automation_id, wave2)
        await assert_eventually(probe_value(sink.held), lambda held: len(held) >= 3, within=60)
        first.kill()
        # The worker is dead: nothing it sent can arrive after this.
        killed_at = time.monotonic()
        held_at_kill = sink.held()

        # While no worker runs, wave 1's timers fire on the server.
        async def timers_fired() -> list[int]:
            return [
                await count_events(client, e, EventType.EVENT_TYPE_TIMER_FIRED) for e in waiting
            ]

        await assert_eventually(timers_fired, lambda fired: all(fired), within=30, interval=0.2)
        unconfirmed = await assert_eventually(
            probe_value(lambda: list(sink.unconfirmed)), lambda found: len(found) >= 1, within=10
        )

        second = processes.worker(env, "worker-2")
        await polling(client, queue, second)
        everyone = waiting + sending
        # The sends cut by the kill are retried once Temporal times their attempt out.
        await assert_eventually(
            lambda: views(goalflow, everyone), waiting_at("bought"), within=150, interval=1
        )
        receipts = await asyncio.gather(
            *(goalflow.send_event(c, "custom", {"name": "buy"}) for c in wave1 + wave2)
        )
        finals = await assert_eventually(
            lambda: views(goalflow, everyone), all_ended, within=120, interval=1
        )
        messages = read_messages(sink.directory)

    for view, receipt in zip(finals, receipts, strict=True):
        assert view.status == "completed", (view.enrollment_id, view.status, view.outcome)
        assert timeline(view) == MAIL_AND_WAIT_TIMELINE, (view.enrollment_id, timeline(view))
        assert view.goals[0].met and view.goals[0].event_id == receipt.event_id

    # Each email in the sink under one Message-ID; repeats are exactly the sends the kill cut,
    # and they repeat that Message-ID.
    ids_by_send: dict[tuple[str, str], set[str]] = defaultdict(set)
    for message in messages:
        ids_by_send[(message["enrollment_id"], message["step_id"])].add(message["message_id"])
    expected_sends = {(e, s) for e in everyone for s in ("hello", "thanks")}
    assert set(ids_by_send) == expected_sends
    assert all(len(ids) == 1 for ids in ids_by_send.values()), ids_by_send
    copies = Counter(message["message_id"] for message in messages)
    repeated = {message_id for message_id, n in copies.items() if n > 1}
    assert repeated == set(unconfirmed), (repeated, unconfirmed)
    assert all(copies[m] == 2 for m in repeated)
    # The sends cut by the kill are ones the sink had from the worker before it died (a snapshot
    # of the held ones taken just before the kill raced sends still arriving).
    assert set(unconfirmed) <= {m for m, at in sink.arrivals.items() if at <= killed_at}

    # The timeline names the Message-ID that went out; Temporal's history shows the retry.
    for view in finals:
        sent = {
            entry.step_id: entry.detail.get("message_id")
            for entry in view.timeline
            if entry.kind == "step_completed" and entry.step_id in ("hello", "thanks")
        }
        assert sent == {
            step: next(iter(ids_by_send[(view.enrollment_id, step)]))
            for step in ("hello", "thanks")
        }
    # Emails are local activities, run inside the killed worker's workflow task: that task
    # timed out and the send was done again in the next one.
    for message_id in unconfirmed:
        enrollment_id = next(e for (e, _), ids in ids_by_send.items() if message_id in ids)
        history = await client.get_workflow_handle(enrollment_id).fetch_history()
        timed_out = [
            event
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        ]
        assert timed_out, (enrollment_id, [e.event_type for e in history.events])

    print(
        f"\nworker SIGKILL drill: {len(everyone)} enrollments, {len(waiting)} waiting on timers "
        f"and {len(held_at_kill)} emails held in mid-send at the kill; "
        f"{len(expected_sends)} emails, {len(messages)} messages in the sink, "
        f"{len(repeated)} repeated with the same Message-ID, lost: 0"
    )


# --- drill 2: two workers, one SIGKILLed -------------------------------------------------------

TAG_WAIT_GOAL_MAIL = {
    "name": "two workers drill",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "PT2S"},
        {"id": "tag", "type": "add_tag", "tag": "drilled"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "PT10M"},
        },
        {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>Thanks</p>"},
    ],
}


async def test_two_workers_one_killed_the_other_carries_on(
    drill_server: DrillServer, processes: Processes, tmp_path: Path
) -> None:
    client, queue = drill_server.client, drill_server.queue
    goalflow = GoalflowService(client, queue)
    with HoldingSink(tmp_path / "outbox", hold=0) as sink:
        env = {
            "TEMPORAL_ADDRESS": drill_server.address,
            "GOALFLOW_TASK_QUEUE": queue,
            "GOALFLOW_SMTP_URL": sink.url,
            "GOALFLOW_DATA_DIR": str(tmp_path / "data"),
        }
        doomed = processes.worker(env, "worker-a")
        survivor = processes.worker(env, "worker-b")
        await polling(client, queue, doomed)
        await polling(client, queue, survivor)
        automation_id = await publish(goalflow, TAG_WAIT_GOAL_MAIL)
        contacts = [new_id("two") for _ in range(30)]
        enrollments = await enroll_all(goalflow, automation_id, contacts)
        await assert_eventually(
            lambda: views(goalflow, enrollments), reached("pause"), within=60, interval=0.5
        )
        doomed_prefix = f"{doomed.pid}@"
        doomed.kill()
        # Who did what up to the kill, read after it: read before it, the 2 s pause's timers
        # could fire (and worker A complete their tasks) while 30 histories were being read.
        before = [await workflow_task_identities(client, e) for e in enrollments]
        assert any(i.startswith(doomed_prefix) for ids in before for i in ids), (
            "worker A did no work before the kill: the drill would prove nothing"
        )

        await assert_eventually(
            lambda: views(goalflow, enrollments), waiting_at("bought"), within=120, interval=1
        )
        await asyncio.gather(*(goalflow.send_event(c, "custom", {"name": "buy"}) for c in contacts))
        finals = await assert_eventually(
            lambda: views(goalflow, enrollments), all_ended, within=120, interval=1
        )
        messages = read_messages(sink.directory)
        contact_views = await asyncio.gather(*(goalflow.contact(c) for c in contacts))

    assert all(v.status == "completed" for v in finals), [
        (v.enrollment_id, v.status) for v in finals
    ]
    assert all("drilled" in v.tags for v in contact_views)
    assert sorted(m["enrollment_id"] for m in messages) == sorted(enrollments)
    assert len({m["message_id"] for m in messages}) == len(enrollments)
    after = [await workflow_task_identities(client, e) for e in enrollments]
    done_by_doomed = sum(i.startswith(doomed_prefix) for ids in before for i in ids)
    for ids_before, ids_after in zip(before, after, strict=True):
        assert all(i.startswith(f"{survivor.pid}@") for i in ids_after[len(ids_before) :])
    print(
        f"\ntwo-workers drill: {len(enrollments)} enrollments, worker A completed "
        f"{done_by_doomed} workflow tasks before its SIGKILL, worker B finished all; "
        f"{len(messages)} emails, each once"
    )


# --- drill 3: Temporal dev server restart ------------------------------------------------------

WAIT_THEN_GOAL = {
    "name": "server restart drill",
    "steps": [
        {"id": "pause", "type": "wait", "duration": "PT3S"},
        {
            "id": "bought",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "if_unmet": {"action": "wait", "timeout": "PT10M"},
        },
        {"id": "done", "type": "end"},
    ],
}


async def test_temporal_restart_on_its_sqlite_file(processes: Processes, tmp_path: Path) -> None:
    options = DevOptions(
        temporal_port=free_port(), ui_port=free_port(), data_dir=tmp_path / "temporal"
    )
    options.data_dir.mkdir()
    settings = Settings.model_validate({"TEMPORAL_ADDRESS": f"127.0.0.1:{options.temporal_port}"})
    queue = f"drill-restart-{uuid.uuid4()}"
    server = start_temporal(options)
    try:
        client = await wait_for_temporal(settings, server)
        goalflow = GoalflowService(client, queue)
        # The worker process stays up across the restart: it must find the server again.
        worker = processes.worker(
            {
                "TEMPORAL_ADDRESS": settings.temporal_address,
                "GOALFLOW_TASK_QUEUE": queue,
                "GOALFLOW_DATA_DIR": str(tmp_path / "data"),
            }
        )
        await polling(client, queue, worker)
        automation_id = await publish(goalflow, WAIT_THEN_GOAL)
        contacts = [new_id("restart") for _ in range(20)]
        enrollments = await enroll_all(goalflow, automation_id, contacts)
        await assert_eventually(
            lambda: views(goalflow, enrollments), waiting_at("pause"), within=60, interval=0.5
        )
        # Half the events are accepted just before the stop, forwarded or not yet.
        early = [await goalflow.send_event(c, "custom", {"name": "buy"}) for c in contacts[:10]]

        stop_process(server)
        server = start_temporal(options)
        client = await wait_for_temporal(settings, server)
        goalflow = GoalflowService(client, queue)
        late = [await goalflow.send_event(c, "custom", {"name": "buy"}) for c in contacts[10:]]
        finals = await assert_eventually(
            lambda: views(goalflow, enrollments), all_ended, within=120, interval=1
        )
        assert worker.popen.poll() is None, worker.output()
        contact_views = await asyncio.gather(*(goalflow.contact(c) for c in contacts))
    finally:
        stop_process(server)

    for view, receipt in zip(finals, early + late, strict=True):
        assert view.status == "completed" and view.outcome == "ended", view
        assert view.goals[0].met and view.goals[0].event_id == receipt.event_id
        assert ("goal_met", "bought") in timeline(view)
    assert all(v.events_seen == 1 for v in contact_views)
    print(
        f"\nTemporal restart drill: {len(enrollments)} enrollments waiting, {len(early)} events "
        f"accepted before the restart and {len(late)} after, all applied; lost: 0"
    )


# --- drill 4: API restart mid-traffic ----------------------------------------------------------


async def test_api_restart_mid_traffic(
    drill_server: DrillServer, processes: Processes, tmp_path: Path
) -> None:
    client, queue = drill_server.client, drill_server.queue
    port = free_port()
    env = {"TEMPORAL_ADDRESS": drill_server.address, "GOALFLOW_TASK_QUEUE": queue}
    url = f"http://127.0.0.1:{port}"
    contacts = [new_id("api") for _ in range(20)]
    per_contact = 15
    sent: dict[str, list[str]] = {
        c: [uuid.uuid4().hex for _ in range(per_contact)] for c in contacts
    }
    answered = 0
    failures: Counter[str] = Counter()
    duplicates_on_retry = 0

    async with (
        httpx.AsyncClient(timeout=10) as activity_http,
        build_worker(client, Settings(), activity_http, task_queue=queue),
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        api = processes.api(port, env, "api-1")

        async def healthy() -> int:
            try:
                return (await http.get("/healthz")).status_code
            except httpx.TransportError:
                return 0

        await assert_eventually(healthy, lambda s: s == 200, within=60)
        automation_id = new_id("drill")
        published = await http.put(f"/v1/automations/{automation_id}", json=EVERY_EVENT)
        assert published.status_code == 201, published.text
        enrollments = []
        for contact in contacts:
            enrolled = await http.post(
                f"/v1/automations/{automation_id}/enrollments", json={"contact": {"id": contact}}
            )
            assert enrolled.status_code == 201, enrolled.text
            enrollments.append(enrolled.json()["enrollment_id"])

        async def post_until_accepted(contact: str, event_id: str) -> None:
            nonlocal answered, duplicates_on_retry
            attempt = 0
            while True:
                attempt += 1
                try:
                    answer = await http.post(
                        "/v1/events",
                        json={
                            "id": event_id,
                            "contact_id": contact,
                            "type": "custom",
                            "data": {"n": event_id},
                        },
                    )
                except httpx.TransportError as err:
                    failures[type(err).__name__] += 1
                    await asyncio.sleep(0.05 * random.random())
                    continue
                if answer.status_code == 202:
                    answered += 1
                    duplicates_on_retry += attempt > 1 and answer.json()["duplicate"]
                    return
                failures[f"HTTP {answer.status_code}"] += 1
                assert answer.status_code == 503, answer.text
                await asyncio.sleep(0.05)

        async def one_contact(contact: str) -> None:
            for event_id in sent[contact]:
                await post_until_accepted(contact, event_id)

        traffic = asyncio.gather(*(one_contact(c) for c in contacts))
        total = len(contacts) * per_contact
        await assert_eventually(probe_value(lambda: answered), lambda n: n >= total // 3, within=60)
        api.kill()
        killed_at = answered
        api = processes.api(port, env, "api-2")
        await asyncio.wait_for(traffic, timeout=120)
        assert api.popen.poll() is None, api.output()

        goalflow = GoalflowService(client, queue)

        async def applied() -> list[EnrollmentView]:
            return await views(goalflow, enrollments)

        finals = await assert_eventually(
            applied,
            lambda found: all(len(goal_met_ids(v)) >= per_contact for v in found),
            within=120,
            interval=1,
        )
        contact_views = await asyncio.gather(*(goalflow.contact(c) for c in contacts))

    for contact, view, contact_view in zip(contacts, finals, contact_views, strict=True):
        assert goal_met_ids(view) == sent[contact], contact
        assert contact_view.events_seen == per_contact
    assert killed_at < total
    assert sum(failures.values()) >= 1, "the restart did not interrupt the traffic"
    print(
        f"\nAPI restart drill: {total} events from {len(contacts)} contacts, API SIGKILLed "
        f"after {killed_at} answers; {sum(failures.values())} failed attempts "
        f"({dict(failures)}) retried with the same id, {duplicates_on_retry} of them answered "
        f"duplicate: true; applied {total}, each once, in order; lost: 0"
    )
