"""The contact's profile changes as the contact workflow makes them: an enroll request's contact,
a tag change, a profile save (`PUT /v1/contacts`), a step's change, an accepted event. Each is
checked against the profile's bounds (workflows/limits.py), applied through the one model of
profile changes (`ContactSnapshot`), and turned into the events it makes (`contact.tag_added`,
`contact.tag_removed`, `contact.created`, `contact.updated`).

Workflow code, run in the contact's sandbox (events are stamped with `workflow.now()`, the bounds
ask a patch).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.events import ContactEvent
    from workflows.limits import (
        after_enroll,
        after_fields,
        after_save,
        after_tags,
        event_refusal,
        growth_refusal,
    )
    from workflows.messages import (
        ContactSnapshot,
        ContactState,
        EnrollRequest,
        ProfileSave,
        StepChange,
        TagChange,
    )
    from workflows.patches import CONTACT_BOUNDS_PROFILE
    from workflows.tags import AnyCase, tag_diff


class ProfileChanges:
    """`state.profile` and the changes made to it; `any_case` says whether tags may differ in
    case (workflows/tags.py)."""

    def __init__(self, state: ContactState, any_case: AnyCase) -> None:
        self.state = state
        self.any_case = any_case

    @property
    def profile(self) -> ContactSnapshot:
        return self.state.profile

    # --- the bounds -------------------------------------------------------------------------

    def too_large(self, error: ApplicationError | None) -> bool:
        """Whether a change that `error` refuses is left out. Runs recorded before the bounds
        (no marker) took such changes: they replay as they ran."""
        return error is not None and workflow.patched(CONTACT_BOUNDS_PROFILE)

    def refuse(self, after: ContactSnapshot) -> None:
        """Refuse (an update's answer, 422 at the API) a change that would leave the profile as
        `after`, past its bounds (workflows/limits.py)."""
        error = growth_refusal(self.profile, after)
        if error is not None and self.too_large(error):
            raise error

    # --- the changes ------------------------------------------------------------------------

    def apply_event(self, event: ContactEvent) -> None:
        """An accepted event, unless it would take the profile past its bounds."""
        if not self.too_large(event_refusal(self.profile, event)):
            self.profile.apply_event(event, self.any_case)

    def merge_enrollment(self, request: EnrollRequest) -> None:
        """An enroll request's contact: refused past the bounds, else merged."""
        self.refuse(after_enroll(self.profile, request.contact))
        self.profile.merge(request.contact, self.any_case)

    def change_tags(self, change: TagChange) -> tuple[list[str], list[str], list[ContactEvent]]:
        """A tag change (refused past the bounds): the tags added, removed, and their events."""
        self.refuse(after_tags(self.profile, change.add, change.remove))
        return self.tag_changes(change.id, change.add, change.remove, 0)

    def step_change(self, change: StepChange) -> list[ContactEvent]:
        """A step's change; what would take the profile past its bounds is left out, since the
        step said so already. The events it makes."""
        profile = self.profile
        add = change.add_tags
        if self.too_large(growth_refusal(profile, after_tags(profile, add, change.remove_tags))):
            add = []
        _, _, events = self.tag_changes(change.id, add, change.remove_tags, change.depth)
        if change.fields and self.too_large(
            growth_refusal(profile, after_fields(profile, change.fields))
        ):
            change = change.model_copy(update={"fields": {}})
        if change.fields:
            changed = profile.set_fields(change.fields)
            data = {"fields": change.fields, "changed": list(changed)}
            events.append(self.event(f"{change.id}:fields", "contact.updated", data, change.depth))
        return events

    def save(self, save: ProfileSave) -> tuple[bool, list[str], list[ContactEvent]]:
        """`PUT /v1/contacts/{id}`: whether it created the contact, what it changed, and its
        events: the first save is `contact.created`, a later one that changed something
        `contact.updated` with `data.changed`, then the tag events."""
        profile = self.profile
        self.refuse(after_save(profile, save))
        created = not self.state.profile_saved
        self.state.profile_saved = True
        attributes: dict[str, Any] = profile.set_attributes(save)
        changed = list(attributes)
        fields = dict(save.fields or {})
        if save.timezone is not None:
            fields["timezone"] = save.timezone
        field_changes = profile.set_fields(fields)
        changed += field_changes
        add: list[str] = []
        remove: list[str] = []
        if save.tags is not None:
            add, remove = tag_diff(profile.tags, save.tags, self.any_case)
        _, _, tag_events = self.tag_changes(save.id, add, remove, 0)
        if tag_events:
            changed.append("tags")
        events: list[ContactEvent] = []
        if created:
            data = {**profile.model_dump(exclude={"id", "unsubscribed"})}
            events.append(self.event(f"{save.id}:created", "contact.created", data, 0))
        elif changed:
            data = {"changed": changed, "fields": field_changes, "profile": attributes}
            events.append(self.event(f"{save.id}:updated", "contact.updated", data, 0))
        return created, changed, [*events, *tag_events]

    def tag_changes(
        self, change_id: str, add: list[str], remove: list[str], depth: int
    ) -> tuple[list[str], list[str], list[ContactEvent]]:
        """Apply tag changes; each real change becomes an event like any other."""
        added, removed = self.profile.change_tags(add, remove, self.any_case)
        events = [
            self.event(f"{change_id}:add:{tag}", "contact.tag_added", {"tag": tag}, depth)
            for tag in added
        ] + [
            self.event(f"{change_id}:remove:{tag}", "contact.tag_removed", {"tag": tag}, depth)
            for tag in removed
        ]
        return added, removed, events

    def event(
        self, event_id: str, event_type: str, data: dict[str, Any], depth: int
    ) -> ContactEvent:
        """An event the contact makes itself, accepted now."""
        return ContactEvent.model_validate(
            {
                "id": event_id,
                "contact_id": self.state.contact_id,
                "type": event_type,
                "accepted_at": workflow.now(),
                "data": data,
                "depth": depth,
            }
        )

    def forgettable(self) -> bool:
        """Whether the profile holds nothing worth keeping."""
        profile = self.profile
        return not (
            profile.tags or profile.fields or profile.unsubscribed or profile.sms_unsubscribed
        )
