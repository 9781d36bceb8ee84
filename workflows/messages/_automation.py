"""The automation's and the catalog's messages: versions, publishing, the trigger set."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from workflows.budget import MessagingPolicy
from workflows.definition import Automation, Trigger
from workflows.draft_messages import DraftCatalog, DraftEntry
from workflows.messages._names import AutomationLifecycle, TriggerRefusal


class TriggerOutcome(BaseModel):
    """Reported by a contact workflow to the automation's workflow, which counts them."""

    trigger_id: str
    started: bool
    refused: TriggerRefusal | None = None


class TriggerCount(BaseModel):
    started: int = 0
    refused: dict[str, int] = Field(default_factory=dict)


class PublishRequest(BaseModel):
    automation_id: str
    definition: Automation
    # False: a new automation starts paused and an existing one keeps its state.
    activate: bool = True


class PublishResult(BaseModel):
    automation_id: str
    version: int
    created: bool
    state: AutomationLifecycle = "active"
    revision: int = 0


class AutomationVersion(BaseModel):
    automation_id: str
    version: int
    definition: Automation
    published_at: datetime
    # The automation's state when asked (queries fill it in; stored versions keep the default).
    state: AutomationLifecycle = "active"


class VersionRequest(BaseModel):
    version: int | None = None


class StateRequest(BaseModel):
    state: AutomationLifecycle


class AutomationStatus(BaseModel):
    automation_id: str
    state: AutomationLifecycle
    revision: int


class AutomationState(BaseModel):
    automation_id: str
    versions: list[AutomationVersion] = Field(default_factory=list)
    state: AutomationLifecycle = "active"
    # Counts publishes and state changes, so that the catalog keeps the newest of each.
    revision: int = 0
    trigger_counts: dict[str, TriggerCount] = Field(default_factory=dict)


class CatalogEntry(BaseModel):
    automation_id: str
    name: str
    latest_version: int
    updated_at: datetime
    state: AutomationLifecycle = "active"
    revision: int = 0
    triggers: list[Trigger] = Field(default_factory=list)


class TriggerSetRequest(BaseModel):
    known_revision: int | None = None


class TriggerSet(BaseModel):
    """Every automation's catalog entry; `entries` is None when `known_revision` is current."""

    revision: int
    entries: list[CatalogEntry] | None = None
    # The messaging policy (R20), which travels with the trigger set to every process.
    messaging_policy: MessagingPolicy | None = None


class TriggerLink(BaseModel):
    link_id: str
    name: str
    url: str


class CatalogState(BaseModel):
    automations: dict[str, CatalogEntry] = Field(default_factory=dict)
    trigger_links: dict[str, TriggerLink] = Field(default_factory=dict)
    trigger_revision: int = 0
    drafts: DraftCatalog = Field(default_factory=DraftCatalog)
    # PUT /v1/policies/messaging (R20); a change counts as a trigger-set change, so that every
    # process's copy takes it with its next refresh.
    messaging_policy: MessagingPolicy = Field(default_factory=MessagingPolicy)


class CatalogView(BaseModel):
    automations: list[CatalogEntry]
    trigger_links: list[TriggerLink]
    drafts: list[DraftEntry] = Field(default_factory=list)
