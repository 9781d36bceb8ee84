"""The contact's messages and pure pieces, without a server: the queue's tagged union reads the
shape stored histories hold, the profile's fields are defined once and keep their JSON order,
every message model is complete at import (the sandbox cannot finish one), and the seen event
ids."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json
from temporalio.contrib.pydantic import pydantic_data_converter

import workflows.messages
from api.schemas import ContactIn, ContactOut, ContactProfileIn, ProfileAttributesIn
from workflows.events import ContactEvent
from workflows.messages import (
    PROFILE_ATTRIBUTES,
    ContactProfile,
    ContactSnapshot,
    ContactState,
    ContactView,
    EnrollOp,
    EventOp,
    ProfileSave,
    QueuedOp,
    StepChange,
    StepChangeOp,
    TagChange,
    TagsOp,
)
from workflows.seen_event_ids import DEDUPE_MEMORY, SeenEventIds

EVENT: dict[str, Any] = {
    "id": "e1",
    "contact_id": "c1",
    "type": "custom",
    "occurred_at": None,
    "accepted_at": "2026-03-01T10:00:00Z",
    "data": {"name": "signed_up"},
    "depth": 0,
    "triggers": [],
}
STEP_CHANGE: dict[str, Any] = {
    "id": "enr:a:c1:1:tag:1",
    "enrollment_id": "enr:a:c1:1",
    "add_tags": ["lead"],
    "remove_tags": [],
    "fields": {},
    "depth": 1,
}


class PendingWorkBefore(BaseModel):
    """`PendingWork` as it was before the tagged union: what older runs wrote and read."""

    event: ContactEvent | None = None
    step_change: StepChange | None = None


def _state(pending: list[dict[str, Any]]) -> dict[str, Any]:
    return {"contact_id": "c1", "profile": {"id": "c1"}, "pending": pending}


def test_a_continue_as_new_input_in_the_shape_before_the_union_still_reads() -> None:
    # As the pydantic converter wrote a ContactState with a backlog before the union.
    stored = _state(
        [{"event": EVENT, "step_change": None}, {"event": None, "step_change": STEP_CHANGE}]
    )
    payload = pydantic_data_converter.payload_converter.to_payloads([stored])[0]
    [state] = pydantic_data_converter.payload_converter.from_payloads([payload], [ContactState])
    assert isinstance(state, ContactState)
    first, second = state.pending
    assert isinstance(first, EventOp) and first.event.id == "e1"
    assert isinstance(second, StepChangeOp) and second.step_change.add_tags == ["lead"]


def test_a_backlog_written_now_reads_in_the_shape_before() -> None:
    state = ContactState.model_validate(_state([]))
    state.pending = [
        EventOp(event=ContactEvent.model_validate(EVENT)),
        StepChangeOp(step_change=StepChange.model_validate(STEP_CHANGE)),
    ]
    written = to_json(state)
    assert ContactState.model_validate_json(written) == state
    before = TypeAdapter(list[PendingWorkBefore]).validate_python(
        ContactState.model_validate_json(written).model_dump()["pending"]
    )
    assert before[0].event is not None and before[0].step_change is None
    assert before[1].step_change is not None and before[1].event is None


def test_a_queued_op_in_the_shape_of_five_optional_fields_reads_as_its_kind() -> None:
    tags = {"id": "t1", "add": ["vip"], "remove": []}
    old = {"seq": 3, "enroll": None, "event": None, "tags": tags, "step_change": None}
    op = TypeAdapter(QueuedOp).validate_python({**old, "profile": None})
    assert isinstance(op, TagsOp) and op.tags.add == ["vip"]
    with pytest.raises(ValueError):
        TypeAdapter(QueuedOp).validate_python({"seq": 4, "event": None})


def test_each_kind_of_work_round_trips_through_json() -> None:
    adapter = TypeAdapter(QueuedOp)
    for op in (
        EventOp(event=ContactEvent.model_validate(EVENT)),
        StepChangeOp(step_change=StepChange.model_validate(STEP_CHANGE)),
        TagsOp(tags=TagChange(id="t1", add=["vip"])),
    ):
        assert adapter.validate_json(adapter.dump_json(op)) == op
    assert EnrollOp.model_fields["kind"].default == "enroll"


def test_every_message_model_is_complete_at_import() -> None:
    """The sandbox cannot finish a model with a forward reference left: the update carrying
    it would be refused as undecodable."""
    incomplete = [
        name
        for name in workflows.messages.__all__
        if isinstance(model := getattr(workflows.messages, name), type)
        and issubclass(model, BaseModel)
        and not model.__pydantic_complete__
    ]
    assert incomplete == []


def test_the_profile_fields_are_defined_once_and_keep_their_json_order() -> None:
    assert PROFILE_ATTRIBUTES == ("email", "phone", "first_name", "last_name")
    attributes = list(PROFILE_ATTRIBUTES)
    assert list(ContactProfile.model_fields) == ["id", *attributes, "tags", "fields"]
    assert list(ContactSnapshot.model_fields) == [
        *ContactProfile.model_fields,
        "unsubscribed",
        "sms_unsubscribed",
    ]
    assert list(ProfileSave.model_fields) == [
        "id",
        *attributes,
        "timezone",
        "tags",
        "fields",
        "triggers",
    ]
    assert list(ContactView.model_fields)[:5] == ["contact_id", *attributes]
    # The API's requests check the same attributes; its answer reuses them.
    assert tuple(ProfileAttributesIn.model_fields) == PROFILE_ATTRIBUTES
    assert list(ContactIn.model_fields) == ["id", *attributes, "tags", "fields"]
    assert list(ContactProfileIn.model_fields)[:4] == attributes
    assert list(ContactOut.model_fields)[:5] == ["contact_id", *attributes]


def test_a_profile_save_sets_only_what_changed_and_a_merge_sets_what_is_given() -> None:
    profile = ContactSnapshot(id="c1", email="a@example.com", tags=["Lead"])
    changed = profile.set_attributes(ProfileSave(id="s1", email="a@example.com", phone="+1555"))
    assert changed == {"phone": "+1555"}
    profile.merge(ContactProfile(id="c1", first_name="Ana", tags=["lead", "vip"]))
    assert (profile.first_name, profile.tags) == ("Ana", ["Lead", "lead", "vip"])
    assert profile.set_fields({"n": 1}) == {"n": 1}
    assert profile.set_fields({"n": 1.0, "m": True}) == {"m": True}  # 1.0 is 1 as JSON


def test_seen_event_ids_remember_forget_and_cut_back() -> None:
    state = ContactState.model_validate(_state([]))
    seen = SeenEventIds(state)
    assert seen.remember("e1") and not seen.remember("e1")
    seen.forget("e1")
    assert seen.remember("e1")
    long_id = "x" * 300
    assert seen.remember(long_id) and not seen.remember(long_id)
    assert all(len(key) <= 21 for key in state.recent_event_ids)
    for n in range(DEDUPE_MEMORY * 2):
        seen.remember(f"n{n}")
    assert len(seen.carried()) == DEDUPE_MEMORY
    assert not seen.remember(f"n{DEDUPE_MEMORY * 2 - 1}")
