"""The bounds of workflows/limits.py, one by one, and the worst case they add up to: what a
contact or an enrollment hands to its next run (continue-as-new) or to a child it starts, built
from the largest inputs the API accepts, stays well under Temporal's 2 MB payload limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.schemas import MAX_CONTEXT_BYTES, MAX_DEFINITION_BYTES
from workflows.contact import MAX_CARRIED_UTF8
from workflows.contact_enrollments import ENROLL_RECEIPTS
from workflows.contact_triggers import trigger_context
from workflows.definition import Automation
from workflows.enrollment import MAX_TIMELINE
from workflows.event_memory import MEMORY_BYTES, EventMemory, remember
from workflows.events import ContactEvent
from workflows.limits import (
    DEDUPE_KEY_CHARS,
    FORWARD_PART_BYTES,
    MAX_ACTIVE_ENROLLMENTS,
    MAX_AUTOMATIONS_PER_CONTACT,
    MAX_DETAIL_CHARS,
    MAX_PROFILE_BYTES,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TIMELINE_BYTES,
    MAX_VERSIONS_BYTES,
    PROFILE_TOO_LARGE,
    TOO_MANY_ENROLLMENTS,
    VERSIONS_TOO_LARGE,
    after_fields,
    after_save,
    after_tags,
    bounded_detail,
    dedupe_key,
    enrollment_refusal,
    event_refusal,
    forward_parts,
    growth_refusal,
    json_bytes,
    versions_refusal,
)
from workflows.messages import (
    ActiveEnrollment,
    ContactSnapshot,
    ContactState,
    EnrollmentInput,
    EnrollmentProgress,
    EnrollReceipt,
    EnrollResult,
    EventOp,
    GoalStatus,
    PendingWork,
    ProfileSave,
    TimelineEntry,
    Waiting,
)
from workflows.seen_event_ids import DEDUPE_MEMORY

# Temporal refuses a payload past 2 MB; "well under" is what this suite holds the worst to.
TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024
WELL_UNDER = int(TEMPORAL_PAYLOAD_LIMIT * 0.8)

# The widest text the API lets through: 4 bytes of UTF-8 per character.
WIDE = "\U0001d4c1"
CONTACT_ID = WIDE * 200  # CONTACT_ID_PATTERN: 200 characters
EVENT_ID = WIDE * 200  # EventId: 200 characters
AUTOMATION_ID = "a" * 64  # STEP_ID_PATTERN
STEP_ID = "s" * 64
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _enrollment_id(n: int) -> str:
    return f"enr:{AUTOMATION_ID[:-6]}{n:06d}:{CONTACT_ID}:{10**9}"


def _full_profile() -> ContactSnapshot:
    """A profile at its bounds: 500 tags of 200 characters and fields up to 256 KiB."""
    profile = ContactSnapshot(
        id=CONTACT_ID,
        email="a" * 64 + "@" + "b" * 180 + ".example",
        phone="+" + "1" * 39,
        first_name=WIDE * 200,
        last_name=WIDE * 200,
        tags=[f"{i:03d}" + "t" * (MAX_TAG_CHARS - 3) for i in range(MAX_TAGS)],
    )
    n = 0
    while True:
        grown = after_fields(profile, {f"f{n}": WIDE * 1000})
        if growth_refusal(profile, grown) is not None:
            break
        profile, n = grown, n + 1
    for pad in (1000, 100, 10, 1):  # the last bytes too
        while growth_refusal(profile, grown := after_fields(profile, {f"p{n}": "x" * pad})) is None:
            profile, n = grown, n + 1
    assert MAX_PROFILE_BYTES - 16 <= json_bytes(profile) <= MAX_PROFILE_BYTES
    return profile


def _event(n: int, data_bytes: int) -> ContactEvent:
    return ContactEvent(
        id=f"{n:06d}" + WIDE * 198,
        contact_id=CONTACT_ID,
        type="custom",
        accepted_at=T0 + timedelta(seconds=n),
        occurred_at=T0,
        data={"name": WIDE * 50, "blob": WIDE * (data_bytes // 4)},
    )


def _full_memory() -> EventMemory:
    memory = EventMemory()
    for n in range(200):
        remember(memory, _event(n, 16 * 1024), T0 + timedelta(seconds=n))
    return memory


def _full_pending() -> list[PendingWork]:
    pending: list[PendingWork] = []
    n = 0
    while True:
        work = EventOp(event=_event(10_000 + n, 8 * 1024))
        if json_bytes([*pending, work]) > MAX_CARRIED_UTF8:
            return pending
        pending.append(work)
        n += 1


def _definition(target: int) -> Automation:
    """An automation of about `target` bytes of JSON: goal steps, then update_contact steps
    with fields, up to the 500-step limit."""
    steps: list[dict[str, Any]] = [
        {
            "id": f"g{i:03d}" + "s" * 60,
            "type": "goal",
            "any_of": [{"event": "custom", "name": "n"}],
            "if_unmet": {"action": "wait"},
        }
        for i in range(250)
    ]
    base = json_bytes(Automation.model_validate({"name": "w", "steps": steps}))
    per_step = (target - base) // 250 - 120
    steps += [
        {"id": f"u{i:03d}", "type": "update_contact", "fields": {"k": "v" * per_step}}
        for i in range(250)
    ]
    automation = Automation.model_validate({"name": "w" * 200, "steps": steps})
    assert target * 0.97 <= json_bytes(automation) <= target
    return automation


def _context() -> dict[str, Any]:
    context = {"k": "x" * (MAX_CONTEXT_BYTES - 10)}
    assert json_bytes(context) <= MAX_CONTEXT_BYTES
    return context


# --- the worst cases ---------------------------------------------------------------------


def test_worst_contact_state_handed_to_the_next_run_is_well_under_2_mb() -> None:
    state = ContactState(
        contact_id=CONTACT_ID,
        profile=_full_profile(),
        active=[
            ActiveEnrollment(
                enrollment_id=_enrollment_id(n), automation_id=AUTOMATION_ID, version=n
            )
            for n in range(MAX_ACTIVE_ENROLLMENTS)
        ],
        enrollment_counts={
            f"{AUTOMATION_ID[:-6]}{n:06d}": 10**9 for n in range(MAX_AUTOMATIONS_PER_CONTACT)
        },
        recent_event_ids=[dedupe_key(f"{n}{EVENT_ID}") for n in range(DEDUPE_MEMORY)],
        memory=_full_memory(),
        events_seen=10**12,
        enroll_receipts=[
            EnrollReceipt(
                request_id=f"{'f' * 32}:{n:06d}",
                result=EnrollResult(
                    enrollment_id=_enrollment_id(n),
                    automation_id=AUTOMATION_ID,
                    version=10**6,
                    contact_id=CONTACT_ID,
                    created=True,
                ),
            )
            for n in range(ENROLL_RECEIPTS)
        ],
        pending=_full_pending(),
        profile_saved=True,
    )
    parts = {
        name: json_bytes(getattr(state, name))
        for name in ("profile", "active", "enrollment_counts", "recent_event_ids")
    }
    parts |= {
        "memory": json_bytes(state.memory),
        "enroll_receipts": json_bytes(state.enroll_receipts),
        "pending": json_bytes(state.pending),
    }
    total = json_bytes(state)
    assert parts["memory"] <= MEMORY_BYTES + 64
    assert parts["recent_event_ids"] <= DEDUPE_MEMORY * (DEDUPE_KEY_CHARS + 3) + 2
    assert parts["pending"] <= MAX_CARRIED_UTF8
    assert total <= WELL_UNDER, (total, parts)


def test_worst_enrollment_start_is_well_under_2_mb() -> None:
    """What a contact starts an enrollment with: definition, contact, context, looked-back
    events (as much as the contact remembers)."""
    memory = _full_memory()
    start = EnrollmentInput(
        enrollment_id=_enrollment_id(1),
        automation_id=AUTOMATION_ID,
        version=10**6,
        automation=_definition(MAX_DEFINITION_BYTES),
        contact=_full_profile(),
        contact_workflow_id=f"contact:{CONTACT_ID}",
        context=_context(),
        lookback_events=memory.events,
        enrolled_at=T0,
    )
    assert json_bytes(start) <= WELL_UNDER, json_bytes(start)


def test_worst_enrollment_handed_to_the_next_run_is_well_under_2_mb() -> None:
    """What an enrollment continues as new with: its input without looked-back events and with
    only the contact's id, and its progress (a 1,000-entry timeline of the largest entries
    trimmed to its byte budget, every goal met by the longest event id)."""
    automation = _definition(MAX_DEFINITION_BYTES)
    goal_ids = [s.id for s in automation.steps if s.type == "goal"]
    entry = TimelineEntry(
        at=T0,
        kind="step_completed",
        step_id=STEP_ID,
        detail=bounded_detail(
            {"result": "failed", "error": WIDE * 5000, "error_type": WIDE * 5000}
        ),
    )
    timeline = [entry] * MAX_TIMELINE
    while json_bytes(timeline) > MAX_TIMELINE_BYTES:  # as EnrollmentWorkflowV2._record trims
        timeline.pop(1)
    progress = EnrollmentProgress(
        position=499,
        goals=[
            GoalStatus(step_id=g, met=True, met_at=T0, event_id=f"{'x' * 200}:add:{WIDE * 200}")
            for g in goal_ids
        ],
        timeline=timeline,
        timeline_dropped=10**9,
        visits={s.id: 10**9 for s in automation.steps},
        contact=_full_profile(),
        waiting=Waiting(kind="retrying", attempt=8, next_at=T0, last_error=WIDE * 200),
        reached=[s.id for s in automation.steps],
    )
    carried = EnrollmentInput(
        enrollment_id=_enrollment_id(1),
        automation_id=AUTOMATION_ID,
        version=10**6,
        automation=automation,
        contact=ContactSnapshot(id=CONTACT_ID),
        contact_workflow_id=f"contact:{CONTACT_ID}",
        context=_context(),
        progress=progress,
    )
    assert json_bytes(carried) <= WELL_UNDER, {
        "total": json_bytes(carried),
        "goals": json_bytes(progress.goals),
        "timeline": json_bytes(progress.timeline),
    }


# --- the bounds one by one -----------------------------------------------------------------


def test_profile_changes_past_the_cap_are_refused_with_the_size() -> None:
    empty = ContactSnapshot(id="c")
    fits = after_fields(empty, {f"f{i}": "x" * 1000 for i in range(200)})
    assert growth_refusal(empty, fits) is None
    too_big = after_fields(fits, {f"g{i}": "x" * 1000 for i in range(200)})
    error = growth_refusal(fits, too_big)
    assert error is not None and error.type == PROFILE_TOO_LARGE and error.non_retryable
    assert f"would be {json_bytes(too_big)} bytes" in error.message
    assert str(MAX_PROFILE_BYTES) in error.message
    # A profile over the cap from before the bounds may still shrink.
    assert growth_refusal(too_big, fits) is None


def test_a_save_is_measured_as_it_would_be_merged() -> None:
    profile = ContactSnapshot(id="c", tags=["a", "b"], fields={"x": 1})
    save = ProfileSave(id="s", first_name="Ada", timezone="UTC", tags=["b", "c"], fields={"y": 2})
    after = after_save(profile, save)
    assert after.tags == ["b", "c"]
    assert after.fields == {"x": 1, "y": 2, "timezone": "UTC"}
    assert after.first_name == "Ada"
    assert profile.tags == ["a", "b"] and profile.fields == {"x": 1}  # untouched


def test_tags_are_bounded_by_count_and_length() -> None:
    full = ContactSnapshot(id="c", tags=[f"t{i}" for i in range(MAX_TAGS)])
    error = growth_refusal(full, after_tags(full, ["one-more"], []))
    assert error is not None and f"at most {MAX_TAGS}" in error.message
    assert growth_refusal(full, after_tags(full, ["one-more"], ["t0"])) is None
    event = ContactEvent(
        id="e", contact_id="c", type="contact.tag_added", data={"tag": "x" * (MAX_TAG_CHARS + 1)}
    )
    refused = event_refusal(ContactSnapshot(id="c"), event)
    assert refused is not None and f"at most {MAX_TAG_CHARS} characters" in refused.message


def test_contact_updated_events_past_the_cap_are_refused() -> None:
    fields = {"fields": {f"f{i}": "x" * 1000 for i in range(300)}}
    event = ContactEvent(id="e", contact_id="c", type="contact.updated", data=fields)
    assert event_refusal(ContactSnapshot(id="c"), event) is not None
    profile = {"profile": {"email": "x" * (MAX_PROFILE_BYTES + 1)}}
    event = ContactEvent(id="e", contact_id="c", type="contact.updated", data=profile)
    assert event_refusal(ContactSnapshot(id="c"), event) is not None
    other = ContactEvent(id="e", contact_id="c", type="custom", data=fields)
    assert event_refusal(ContactSnapshot(id="c"), other) is None


@pytest.mark.parametrize(
    "event_id",
    [EVENT_ID, "x" * 200, "é" * 22, 'a"b', "a\\b", "~short", "p-" + "0" * 32 + ":updated", "\x01"],
)
def test_dedupe_keys_are_short_whatever_the_id(event_id: str) -> None:
    key = dedupe_key(event_id)
    assert len(key) <= DEDUPE_KEY_CHARS and len(json.dumps(key)) <= DEDUPE_KEY_CHARS + 2
    assert key == dedupe_key(event_id) and key != dedupe_key(event_id + "!")


def test_short_plain_ids_are_kept_as_they_are() -> None:
    assert dedupe_key("e-1") == "e-1"
    assert dedupe_key("a" * DEDUPE_KEY_CHARS) == "a" * DEDUPE_KEY_CHARS


def test_remembered_events_stay_in_their_budget_in_bytes() -> None:
    memory = EventMemory()
    for n in range(300):
        remember(memory, _event(n, 4 * 1024), T0)
    assert json_bytes(memory.events) <= MEMORY_BYTES
    # Taken over by a run: measured again, in bytes.
    assert EventMemory.model_validate_json(memory.model_dump_json()).size == memory.size


def test_timeline_details_are_cut() -> None:
    detail = bounded_detail({"error": "e" * 10_000, "visit": 3, "short": "ok"})
    assert detail == {"error": "e" * MAX_DETAIL_CHARS + "…", "visit": 3, "short": "ok"}


def test_enrollments_are_bounded_per_contact() -> None:
    assert enrollment_refusal(MAX_ACTIVE_ENROLLMENTS - 1, {}, "a") is None
    error = enrollment_refusal(MAX_ACTIVE_ENROLLMENTS, {}, "a")
    assert error is not None and error.type == TOO_MANY_ENROLLMENTS
    counts = {f"a{i}": 1 for i in range(MAX_AUTOMATIONS_PER_CONTACT)}
    assert enrollment_refusal(0, counts, "new") is not None
    assert enrollment_refusal(0, counts, "a1") is None  # one it was in before


def test_large_events_are_forwarded_a_few_enrollments_per_task() -> None:
    active = list(range(10))
    assert forward_parts(active, 1000) == [active]
    parts = forward_parts(active, 1024 * 1024 - 1)
    assert [len(p) for p in parts] == [1] * 10
    assert all(len(p) * 400 * 1024 <= FORWARD_PART_BYTES for p in forward_parts(active, 400 * 1024))


def test_a_triggered_enrollments_context_stays_within_16_kib_of_utf8() -> None:
    """The trigger's context is the event's data when it fits: measured with escapes, so
    never more bytes than the limit, however wide the characters."""
    for chars in (4_000, 4_090, 5_000, 16_000):
        event = ContactEvent(id="e", contact_id="c", type="custom", data={"k": WIDE * chars})
        context = trigger_context(event, "t")
        assert json_bytes(context) <= MAX_CONTEXT_BYTES
    small = ContactEvent(id="e", contact_id="c", type="custom", data={"k": WIDE * 100})
    assert trigger_context(small, "t")["k"] == WIDE * 100


def test_an_automations_versions_are_bounded_together() -> None:
    assert versions_refusal(0, {"k": "x" * 1000}) is None
    error = versions_refusal(MAX_VERSIONS_BYTES - 100, {"k": "x" * 1000})
    assert error is not None and error.type == VERSIONS_TOO_LARGE
