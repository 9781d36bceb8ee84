"""Bounds on what the contact and enrollment workflows keep, so that no sequence of accepted
requests can push a workflow past Temporal's limits (2 MB per payload, ~4 MB per gRPC message;
docs/security.md, "Limits", has the table and the worst cases).

Pure functions: the workflows ask them, before a change, whether it fits, and refuse it (an
update: a `ProfileTooLarge` error the API answers as 422) or leave it out (what no caller waits
on: an event's fields, an automation's step) when it does not.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, TypeVar

from pydantic_core import to_json
from temporalio.exceptions import ApplicationError

from workflows.definition import AddTagStep, RemoveTagStep, UpdateContactStep
from workflows.events import ContactEvent
from workflows.messages import ContactProfile, ContactSnapshot, ProfileSave

T = TypeVar("T")

# The contact's profile (attributes, tags, custom fields) as JSON; the API refuses a request
# that alone is larger with the same number.
MAX_PROFILE_BYTES = 256 * 1024
# Tags per contact (what one `PUT /v1/contacts` may set) and characters per tag.
MAX_TAGS = 500
MAX_TAG_CHARS = 200
# The error type of a refused change (non-retryable).
PROFILE_TOO_LARGE = "ProfileTooLarge"
# Automations a contact is in at once (each event is signalled to each), and automations it was
# ever in (their enrollment counts are kept for re-entry, R13).
MAX_ACTIVE_ENROLLMENTS = 100
MAX_AUTOMATIONS_PER_CONTACT = 1_000
TOO_MANY_ENROLLMENTS = "TooManyEnrollments"

# An automation's workflow keeps every version it published and hands them all to its next run:
# their definitions together stay under this many bytes of JSON (one is at most 512 KiB).
MAX_VERSIONS_BYTES = 1024 * 1024
VERSIONS_TOO_LARGE = "VersionsTooLarge"

# Event ids kept for deduplication: an id longer than this (or not plain printable ASCII) is
# kept as a 120-bit digest of the same length, so 10,000 ids stay under 250 KB whatever their
# size (an id may be 200 characters from the API, more for ids goalflow makes from them).
DEDUPE_KEY_CHARS = 21
_DIGEST_MARK = "~"

# Text values of a timeline entry's `detail` (error messages, event ids) are cut to this many
# characters; the timeline keeps at most MAX_TIMELINE entries and this many bytes of JSON.
MAX_DETAIL_CHARS = 300
MAX_TIMELINE_BYTES = 256 * 1024


# Signal payloads of one event forwarded in one workflow task: a task's commands travel in one
# gRPC message, which Temporal refuses past 4 MB (an event's data may be 1 MiB).
FORWARD_PART_BYTES = 1024 * 1024


def json_bytes(value: Any) -> int:
    """Bytes of `value` as JSON (UTF-8), as Temporal's pydantic converter writes it."""
    return len(to_json(value))


# --- the profile -----------------------------------------------------------------------------


def _copy(profile: ContactSnapshot) -> ContactSnapshot:
    """A copy whose tags and fields can change without touching `profile`."""
    return profile.model_copy(update={"tags": list(profile.tags), "fields": dict(profile.fields)})


def after_save(profile: ContactSnapshot, save: ProfileSave) -> ContactSnapshot:
    """The profile as `PUT /v1/contacts` would leave it (`ProfileChanges.save` in
    workflows/contact_profile.py)."""
    after = _copy(profile)
    after.set_attributes(save)
    after.fields.update(save.fields or {})
    if save.timezone is not None:
        after.fields["timezone"] = save.timezone
    if save.tags is not None:
        kept = [t for t in profile.tags if t in save.tags]
        after.tags = kept + [t for t in dict.fromkeys(save.tags) if t not in kept]
    return after


def after_enroll(profile: ContactSnapshot, given: ContactProfile) -> ContactSnapshot:
    """The profile once an enroll request's contact is merged into it (tags compared exactly)."""
    after = _copy(profile)
    after.merge(given)
    return after


def after_tags(profile: ContactSnapshot, add: list[str], remove: list[str]) -> ContactSnapshot:
    after = _copy(profile)
    after.tags.extend(t for t in dict.fromkeys(add) if t not in profile.tags)
    after.tags = [t for t in after.tags if t not in remove]
    return after


def after_fields(profile: ContactSnapshot, fields: dict[str, Any]) -> ContactSnapshot:
    after = _copy(profile)
    after.fields.update(fields)
    return after


def event_refusal(profile: ContactSnapshot, event: ContactEvent) -> ApplicationError | None:
    """Why applying `event` to `profile` would take it past its bounds (None: it fits). Only
    `contact.tag_added` and `contact.updated` can grow a profile."""
    if event.type not in ("contact.tag_added", "contact.updated"):
        return None
    after = _copy(profile)
    after.apply_event(event)
    return growth_refusal(profile, after)


def step_refusal(
    contact: ContactSnapshot, step: AddTagStep | RemoveTagStep | UpdateContactStep
) -> ApplicationError | None:
    """Why an automation's step would take the contact past its bounds (None: it fits)."""
    match step:
        case AddTagStep():
            return growth_refusal(contact, after_tags(contact, [step.tag], []))
        case UpdateContactStep():
            return growth_refusal(contact, after_fields(contact, step.fields))
    return None


def growth_refusal(before: ContactSnapshot, after: ContactSnapshot) -> ApplicationError | None:
    """The error refusing a change from `before` to `after` that takes the profile past a bound
    and grows it (a profile already past one, kept from before the bounds, may still shrink)."""
    if len(after.tags) > MAX_TAGS and len(after.tags) > len(before.tags):
        return _refused(
            f"the contact would have {len(after.tags)} tags; at most {MAX_TAGS} are kept: "
            "remove some first"
        )
    known = set(before.tags)
    long = next((t for t in after.tags if len(t) > MAX_TAG_CHARS and t not in known), None)
    if long is not None:
        return _refused(f"a tag is at most {MAX_TAG_CHARS} characters; this one has {len(long)}")
    size = json_bytes(after)
    if size > MAX_PROFILE_BYTES and size > json_bytes(before):
        return _refused(
            f"the contact's profile would be {size} bytes as JSON (it is {json_bytes(before)}); "
            f"at most {MAX_PROFILE_BYTES} (256 KiB) are kept: send fewer or shorter custom "
            "fields, or shorten existing ones"
        )
    return None


def enrollment_refusal(
    active: int, counts: dict[str, int], automation_id: str
) -> ApplicationError | None:
    """Why a contact in `active` automations, with enrollment `counts`, may not start an
    enrollment in `automation_id` (None: it may)."""
    if active >= MAX_ACTIVE_ENROLLMENTS:
        message = (
            f"the contact is in {active} automations at once; at most "
            f"{MAX_ACTIVE_ENROLLMENTS}: wait for one to end, or cancel one"
        )
    elif automation_id not in counts and len(counts) >= MAX_AUTOMATIONS_PER_CONTACT:
        message = (
            f"the contact has been in {len(counts)} automations; at most "
            f"{MAX_AUTOMATIONS_PER_CONTACT} different ones are kept per contact"
        )
    else:
        return None
    return ApplicationError(message, type=TOO_MANY_ENROLLMENTS, non_retryable=True)


def versions_refusal(stored: int, definition: Any) -> ApplicationError | None:
    """Why an automation whose versions take `stored` bytes may not keep `definition` too."""
    size = stored + json_bytes(definition)
    if size <= MAX_VERSIONS_BYTES:
        return None
    return ApplicationError(
        f"the automation's versions would take {size} bytes as JSON; at most "
        f"{MAX_VERSIONS_BYTES} (1 MiB) are kept per automation: publish it under a new id",
        type=VERSIONS_TOO_LARGE,
        non_retryable=True,
    )


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=PROFILE_TOO_LARGE, non_retryable=True)


# --- what else grows -------------------------------------------------------------------------


def dedupe_key(event_id: str) -> str:
    """What the contact keeps of an event id for deduplication: short plain ids as they are,
    others as a digest of DEDUPE_KEY_CHARS characters (marked, so it is never a plain id)."""
    if (
        len(event_id) <= DEDUPE_KEY_CHARS
        and event_id.isascii()
        and event_id.isprintable()
        and not event_id.startswith(_DIGEST_MARK)
        and '"' not in event_id
        and "\\" not in event_id
    ):
        return event_id
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=15).digest()
    return _DIGEST_MARK + base64.urlsafe_b64encode(digest).decode()


def forward_parts(active: list[T], event_bytes: int) -> list[list[T]]:
    """`active` cut into parts whose signals of an `event_bytes` event take at most
    FORWARD_PART_BYTES together (at least one enrollment per part)."""
    size = max(1, FORWARD_PART_BYTES // max(event_bytes, 1))
    return [active[i : i + size] for i in range(0, len(active), size)]


def bounded_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry's detail with each text value cut to MAX_DETAIL_CHARS characters."""
    if all(not isinstance(v, str) or len(v) <= MAX_DETAIL_CHARS for v in detail.values()):
        return detail
    return {
        key: value[:MAX_DETAIL_CHARS] + "…"
        if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS
        else value
        for key, value in detail.items()
    }
