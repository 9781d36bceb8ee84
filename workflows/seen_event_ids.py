"""Deduplication of event ids (R10): the ids a contact has seen, the last DEDUPE_MEMORY of them
carried across continue-as-new.

Pure: the contact workflow holds one and asks it before it queues an event, a tag change or a
step change, and for the ids of the events it makes itself.
"""

from __future__ import annotations

from workflows.limits import dedupe_key
from workflows.messages import ContactState

# Event ids remembered per contact, carried across continue-as-new.
DEDUPE_MEMORY = 10_000


class SeenEventIds:
    """The ids (each as its `dedupe_key`) in `state.recent_event_ids`, oldest first, and a set of
    them for asking; the list grows to twice DEDUPE_MEMORY before it is cut back."""

    def __init__(self, state: ContactState) -> None:
        self.state = state
        self.seen = set(state.recent_event_ids)

    def remember(self, event_id: str) -> bool:
        """Record an event id; False when it was seen before (runs before the keys kept some
        long ids as they are)."""
        key = dedupe_key(event_id)
        if key in self.seen or event_id in self.seen:
            return False
        self.seen.add(key)
        self.state.recent_event_ids.append(key)
        if len(self.state.recent_event_ids) > DEDUPE_MEMORY * 2:
            forget = self.state.recent_event_ids[:-DEDUPE_MEMORY]
            self.state.recent_event_ids = self.state.recent_event_ids[-DEDUPE_MEMORY:]
            self.seen.difference_update(forget)
        return True

    def forget(self, event_id: str) -> None:
        """Forget an id recorded for a change that was refused: the same id may come again."""
        key = dedupe_key(event_id)
        self.seen.discard(key)
        if key in self.state.recent_event_ids:
            self.state.recent_event_ids.remove(key)

    def carried(self) -> list[str]:
        """What the next run takes over."""
        return self.state.recent_event_ids[-DEDUPE_MEMORY:]
