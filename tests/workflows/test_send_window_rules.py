"""R16 send windows at the workflow level, on the time-skipping server: a send reached outside
the window waits for its opening (durably, across continue-as-new) and is then sent; a goal met
meanwhile moves the contact and the send never happens; a step may opt out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.helpers import WorkflowDriver, kinds, new_id, running_engine
from tests.support.send_fakes import Outbox
from workflows.messages import (
    EnrollmentView,
)

BUY = {"event": "custom", "name": "buy"}
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def engine(ts_env: WorkflowEnvironment, outbox: Outbox) -> AsyncIterator[WorkflowDriver]:
    async with running_engine(ts_env, activities=[outbox.send_sms, outbox.send_email]) as engine:
        yield engine


def sms(step_id: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "send_sms", "body": "hi", **extra}


def automation(*steps: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "windows", "settings": settings, "steps": list(steps)}


def hours_from(now: datetime, hours: int) -> str:
    return (now + timedelta(hours=hours)).strftime("%H:00")


def closed_window(now: datetime) -> dict[str, Any]:
    """Every day, opening 2 to 3 hours from `now` (in `now`'s zone), closing an hour later."""
    return {"days": EVERY_DAY, "start": hours_from(now, 3), "end": hours_from(now, 4)}


def next_top_of_hour(now: datetime, hours: int) -> datetime:
    return (now + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)


def held(view: EnrollmentView) -> bool:
    return view.waiting is not None and view.waiting.kind == "send_window"


def at(view: EnrollmentView, kind: str, step_id: str) -> datetime:
    return next(e.at for e in view.timeline if e.kind == kind and e.step_id == step_id)


async def test_send_outside_the_window_waits_for_the_opening(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    contact = new_id()
    enrolled = await engine.enroll(
        automation(sms(), send_window=closed_window(now), timezone="UTC"), contact
    )
    view = await engine.until(enrolled.enrollment_id, held)
    opening = next_top_of_hour(now, 3)
    assert view.waiting is not None and view.waiting.until == opening
    assert view.current_step == "hello"
    assert outbox.sent == []
    waiting = next(e for e in view.timeline if e.kind == "waiting")
    assert waiting.detail == {"send_window": True, "until": opening.isoformat()}

    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == ["hello"]
    assert final.status == "completed"
    assert at(final, "step_completed", "hello") >= opening


async def test_send_inside_the_window_goes_at_once(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    window = {"days": EVERY_DAY, "start": hours_from(now, -1), "end": hours_from(now, 2)}
    enrolled = await engine.enroll(automation(sms(), send_window=window), new_id())
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == ["hello"]
    assert "waiting" not in [kind for kind, _ in kinds(final)]
    assert at(final, "step_completed", "hello") - now < timedelta(minutes=5)


async def test_a_step_with_send_window_null_ignores_the_window(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    enrolled = await engine.enroll(
        automation(
            sms("urgent", send_window=None),
            sms("later"),
            send_window=closed_window(now),
        ),
        new_id(),
    )
    view = await engine.until(enrolled.enrollment_id, held)
    assert view.current_step == "later"
    assert outbox.sent == ["urgent"]
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == ["urgent", "later"]
    assert at(final, "step_completed", "urgent") - now < timedelta(minutes=5)
    assert at(final, "step_completed", "later") >= next_top_of_hour(now, 3)


async def test_a_step_may_name_its_own_window(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    enrolled = await engine.enroll(automation(sms(send_window=closed_window(now))), new_id())
    view = await engine.until(enrolled.enrollment_id, held)
    assert view.waiting is not None and view.waiting.until == next_top_of_hour(now, 3)


async def test_goal_met_during_the_hold_moves_the_contact_and_nothing_is_sent(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    contact = new_id()
    enrolled = await engine.enroll(
        automation(
            {"id": "pitch", "type": "send_email", "subject": "Buy", "html": "<p>now</p>"},
            {"id": "g", "type": "goal", "any_of": [BUY]},
            {"id": "after", "type": "add_tag", "tag": "bought"},
            send_window=closed_window(now),
        ),
        contact,
    )
    await engine.until(enrolled.enrollment_id, held)
    await engine.send(contact, "custom", {"name": "buy"})
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == []
    assert ("moved", "g") in kinds(final)
    pitch = next(e for e in final.timeline if e.kind == "step_completed" and e.step_id == "pitch")
    assert pitch.detail == {"skipped": "moved", "cut_short": True}
    assert final.goals[0].met
    assert at(final, "moved", "g") < next_top_of_hour(now, 3)
    assert (await engine.contact(contact)).tags == ["bought"]


async def test_the_hold_survives_continue_as_new(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    now = (await ts_env.get_current_time()).astimezone(UTC)
    contact = new_id()
    enrolled = await engine.enroll(
        automation(sms(), send_window=closed_window(now)),
        contact,
        enrollment_continue_as_new_after=3,
    )
    await engine.until(enrolled.enrollment_id, held)
    first_run = (await engine.client.get_workflow_handle(enrolled.enrollment_id).describe()).run_id
    for n in range(10):
        await engine.send(contact, "custom", {"name": f"noise-{n}"})
    handle = engine.client.get_workflow_handle(enrolled.enrollment_id)
    await engine.until(enrolled.enrollment_id, held)
    assert (await handle.describe()).run_id != first_run
    view = await engine.view(enrolled.enrollment_id)
    assert view.waiting is not None and view.waiting.until == next_top_of_hour(now, 3)
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == ["hello"]
    assert [k for k, s in kinds(final) if s == "hello"].count("waiting") == 1


async def test_the_contacts_timezone_field_wins_when_valid(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9 all year
    now = await ts_env.get_current_time()
    local = now.astimezone(tokyo)
    # Open now in Tokyo, closed now in UTC (the automation's zone).
    window = {"days": EVERY_DAY, "start": hours_from(local, 0), "end": hours_from(local, 2)}
    definition = automation(sms(), send_window=window, timezone="UTC")
    in_tokyo = await engine.enroll(
        definition, new_id(), contact={"fields": {"timezone": "Asia/Tokyo"}}
    )
    nowhere = await engine.enroll(
        definition, new_id(), contact={"fields": {"timezone": "Nowhere/Land"}}
    )
    # Checked before awaiting any result: awaiting one lets the server skip time.
    view = await engine.until(nowhere.enrollment_id, held)
    assert "waiting" not in [kind for kind, _ in kinds(await engine.view(in_tokyo.enrollment_id))]
    final = await engine.result(in_tokyo.enrollment_id)
    assert "waiting" not in [kind for kind, _ in kinds(final)]
    # Read in UTC, the window opens at Tokyo's hour, nine hours after this one.
    assert view.waiting is not None
    assert view.waiting.until == next_top_of_hour(now.astimezone(UTC), 9)


async def test_dst_spring_forward_opens_when_the_clock_jumps(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    """A window opening at 02:30 Madrid time on the night 02:00 becomes 03:00: the send goes
    at 03:00 summer time, the instant of the jump."""
    madrid = ZoneInfo("Europe/Madrid")
    now = (await ts_env.get_current_time()).astimezone(UTC)
    jump = _next_transition(now, madrid, forward=True)
    # Skip the server's clock to two hours before the jump, then enroll.
    await ts_env.sleep(jump - timedelta(hours=2) - now)
    window = {"days": ["sun"], "start": "02:30", "end": "04:00"}
    enrolled = await engine.enroll(
        automation(sms(), send_window=window, timezone="Europe/Madrid"), new_id()
    )
    view = await engine.until(enrolled.enrollment_id, held)
    assert view.waiting is not None and view.waiting.until == jump
    final = await engine.result(enrolled.enrollment_id)
    assert outbox.sent == ["hello"]
    sent = at(final, "step_completed", "hello").astimezone(madrid)
    assert (sent.strftime("%H"), sent.utcoffset()) == ("03", timedelta(hours=2))


async def test_dst_fall_back_sends_in_the_first_occurrence_of_the_hour(
    engine: WorkflowDriver, outbox: Outbox, ts_env: WorkflowEnvironment
) -> None:
    madrid = ZoneInfo("Europe/Madrid")
    now = (await ts_env.get_current_time()).astimezone(UTC)
    back = _next_transition(now, madrid, forward=False)  # 03:00 CEST becomes 02:00 CET
    await ts_env.sleep(back - timedelta(hours=3) - now)
    window = {"days": ["sun"], "start": "02:30", "end": "02:45"}
    enrolled = await engine.enroll(
        automation(sms(), send_window=window, timezone="Europe/Madrid"), new_id()
    )
    view = await engine.until(enrolled.enrollment_id, held)
    assert view.waiting is not None and view.waiting.until == back - timedelta(minutes=30)
    final = await engine.result(enrolled.enrollment_id)
    sent = at(final, "step_completed", "hello").astimezone(madrid)
    assert sent.utcoffset() == timedelta(hours=2)  # summer time: the first 02:30


def _next_transition(after: datetime, zone: ZoneInfo, *, forward: bool) -> datetime:
    """The next instant (UTC, on the hour) at which `zone` moves its clocks forward/back."""
    instant = after.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    for _ in range(24 * 400):
        before = (instant - timedelta(hours=1)).astimezone(zone).utcoffset()
        offset = instant.astimezone(zone).utcoffset()
        assert before is not None and offset is not None
        if offset != before and (offset > before) == forward:
            return instant
        instant += timedelta(hours=1)
    raise AssertionError("no DST transition within 400 days")
