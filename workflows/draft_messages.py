"""What drafts are made of: the draft, the messages of its workflow (workflows/drafts.py) and
what the catalog keeps of each draft to list it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

DRAFT_PREFIX = "draft:"
# A draft is any JSON object of at most this many bytes (the continue-as-new input stays well
# under Temporal's 2 MB payload limit).
MAX_DRAFT_BYTES = 1024 * 1024
DRAFT_TOO_LARGE = "DraftTooLarge"
# Names shown in the list of automations are cut to this many characters.
MAX_LISTED_NAME = 200


def draft_workflow_id(automation_id: str) -> str:
    return f"{DRAFT_PREFIX}{automation_id}"


class Draft(BaseModel):
    definition: dict[str, Any]
    saved_at: datetime
    # The latest published version when the draft was started (None: never published then).
    base_version: int | None = None


class DraftState(BaseModel):
    automation_id: str
    draft: Draft | None = None
    # Counts saves and deletions, so that the catalog keeps the newest of each.
    revision: int = 0


class DraftSave(BaseModel):
    definition: dict[str, Any]
    # The latest published version now: the base of a draft this save starts.
    latest_version: int | None = None
    # Start a new draft even when there is one (restoring a version).
    replace: bool = False


class DraftDiscard(BaseModel):
    # Only if the draft is still the one of this revision (None: whatever it is).
    if_revision: int | None = None


class DraftChange(BaseModel):
    """The draft after a save or a deletion (None: there is none), and whether it changed."""

    automation_id: str
    draft: Draft | None
    revision: int
    changed: bool = True


class DraftEntry(BaseModel):
    """What the catalog keeps of a draft: enough to list it."""

    automation_id: str
    present: bool
    name: str | None = None
    saved_at: datetime | None = None
    revision: int = 0


def draft_entry(change: DraftChange) -> DraftEntry:
    draft = change.draft
    name = draft.definition.get("name") if draft is not None else None
    return DraftEntry(
        automation_id=change.automation_id,
        present=draft is not None,
        name=name[:MAX_LISTED_NAME] if isinstance(name, str) else None,
        saved_at=draft.saved_at if draft is not None else None,
        revision=change.revision,
    )


class DraftCatalog(BaseModel):
    """The catalog's drafts, by automation id: the newest entry of each (absent ones too, so
    that an older save arriving late cannot bring a deleted draft back)."""

    entries: dict[str, DraftEntry] = Field(default_factory=dict)

    def record(self, entry: DraftEntry) -> None:
        current = self.entries.get(entry.automation_id)
        if current is None or current.revision <= entry.revision:
            self.entries[entry.automation_id] = entry

    def present(self) -> list[DraftEntry]:
        return sorted(
            (e for e in self.entries.values() if e.present), key=lambda e: e.automation_id
        )
