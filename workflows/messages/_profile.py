"""The contact's profile: its fields, defined once, and every way it changes.

`ProfileAttributes` is the one list of the contact's own attributes; every model that carries
them (here, `ContactView`, the API's schemas) derives from it. `ContactSnapshot` is the one model
of profile changes: the contact workflow (an enroll request's contact, a profile save, a step's
change, an event) and each enrollment's copy (an event) change the profile only through its
methods, and the bounds of workflows/limits.py predict them on a copy.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from workflows.events import ContactEvent, TriggerMatch
from workflows.json_values import json_equal
from workflows.tags import AnyCase, add_tags, never, remove_tags


class ProfileAttributes(BaseModel):
    """The contact's own attributes; None is "not given" (a merge leaves the profile's value)."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None


PROFILE_ATTRIBUTES: tuple[str, ...] = tuple(ProfileAttributes.model_fields)


class Keyed(BaseModel):
    """An `id` that comes first in a model's JSON: a model listing `Keyed` after its other bases
    gets its fields first (pydantic takes fields from the last base first)."""

    id: str


class ContactProfile(ProfileAttributes, Keyed):
    """What an enrollment request may say about a contact."""

    tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)


class ContactSnapshot(ContactProfile):
    """The contact as an enrollment sees it: templates and conditions read this."""

    unsubscribed: bool = False
    # Set by an `sms.received` event with `opt_out` (STOP), cleared by one with `opt_in`.
    sms_unsubscribed: bool = False

    def template_context(self) -> dict[str, Any]:
        # A field that is not set is left out rather than None: it renders as nothing and
        # `default(...)` fills it in.
        known = self.model_dump(exclude={"fields"}, exclude_none=True)
        return {"contact": {**self.fields, **known, "fields": self.fields}}

    # --- changes ------------------------------------------------------------------------------
    # `any_case`: whether tags may differ in case (workflows/tags.py), asked only when a tag
    # differs from another but for case.

    def set_attributes(self, given: ProfileAttributes) -> dict[str, str]:
        """Set the attributes `given` has; those whose value changed, with the new value."""
        changed: dict[str, str] = {}
        for name in PROFILE_ATTRIBUTES:
            value = getattr(given, name)
            if value is not None and getattr(self, name) != value:
                setattr(self, name, value)
                changed[name] = value
        return changed

    def set_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Merge custom fields; those whose value changed (as JSON compares them)."""
        changes = {
            key: value
            for key, value in fields.items()
            if key not in self.fields or not json_equal(self.fields[key], value)
        }
        self.fields.update(changes)
        return changes

    def change_tags(
        self, add: list[str], remove: list[str], any_case: AnyCase = never
    ) -> tuple[list[str], list[str]]:
        """Add, then remove, tags; those added and those removed."""
        return add_tags(self.tags, add, any_case), remove_tags(self.tags, remove, any_case)

    def merge(self, given: ContactProfile, any_case: AnyCase = never) -> None:
        """An enroll request's contact: its attributes and fields set, its tags added."""
        self.set_attributes(given)
        self.fields.update(given.fields)
        add_tags(self.tags, given.tags, any_case)

    def apply_event(self, event: ContactEvent, any_case: AnyCase = never) -> None:
        """What a contact event changes in the profile: the contact workflow's copy and each
        enrollment's copy both change through this, so they agree."""
        tag = event.data.get("tag")
        if event.type == "contact.tag_added" and isinstance(tag, str):
            add_tags(self.tags, [tag], any_case)
        elif event.type == "contact.tag_removed" and isinstance(tag, str):
            remove_tags(self.tags, [tag], any_case)
        elif event.type == "contact.updated":
            fields = event.data.get("fields")
            if isinstance(fields, dict):
                self.fields.update(fields)
            # A profile save (`PUT /v1/contacts`) also says which attributes changed.
            attributes = event.data.get("profile")
            if isinstance(attributes, dict):
                for name in PROFILE_ATTRIBUTES:
                    value = attributes.get(name)
                    if isinstance(value, str):
                        setattr(self, name, value)
        elif event.type == "email.unsubscribed":
            self.unsubscribed = True
        elif event.type == "sms.received" and event.data.get("opt_out") is True:
            self.sms_unsubscribed = True
        elif event.type == "sms.received" and event.data.get("opt_in") is True:
            self.sms_unsubscribed = False


class ProfileSave(ProfileAttributes, Keyed):
    """`PUT /v1/contacts/{id}`: the fields given are set (tags: exactly that set; fields:
    merged); `id` names the events it makes."""

    timezone: str | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None
    triggers: dict[str, list[TriggerMatch]] = Field(default_factory=dict)


class ProfileSaved(BaseModel):
    contact_id: str
    created: bool
    changed: list[str]
