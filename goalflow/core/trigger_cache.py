"""The trigger set, as every process that accepts events keeps it (R14).

The catalog workflow holds, per automation with triggers, its latest version, its state and its
triggers. Each API process and each worker keeps a copy, with the definitions of those versions
(immutable, fetched once). Matching an event is then pure and local: an event that matches
nothing costs Temporal nothing more, and the matches travel with the event in the update that
accepts it.

How a copy stays current: an API process *watches* the catalog (`run`): it long-polls the
catalog workflow's history and asks for the trigger set (one query) only when a new event there
says the catalog changed: an update completed (publish, pause, resume, a policy), a signal, a
new run. While nothing changes it makes no query at all, and a change reaches it within the
long poll's return plus one query: well inside R14's 2 s. Until a catalog exists, and after a
watch fails, it checks again every `interval`. A copy nobody watches (the worker's, used by
activities) is refreshed on use when older than `interval`, as is a watched copy whose watch is
down. The process that served a publish/pause/resume refreshes every copy it holds at once
(`invalidate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.automation import AutomationWorkflow, CatalogWorkflow
from workflows.budget import MessagingPolicy
from workflows.definition import Automation
from workflows.events import ContactEvent, TriggerMatch
from workflows.matching import triggers_met_by
from workflows.messages import (
    AutomationVersion,
    CatalogEntry,
    TriggerSet,
    TriggerSetRequest,
    VersionRequest,
    automation_workflow_id,
    catalog_workflow_id,
)

log = structlog.get_logger("goalflow.triggers")

# Seconds between refreshes of a copy nobody watches, and between attempts to watch.
REFRESH_INTERVAL = 1.0
# History events of the catalog after which its trigger set may have changed.
CHANGES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass(frozen=True)
class _Armed:
    entry: CatalogEntry
    definition: Automation


# Every copy in this process: a publish, pause or resume served here reaches them all at once
# (`goalflow dev` runs the API and the worker in one process; elsewhere the interval bounds it).
_COPIES: weakref.WeakSet[TriggerCache] = weakref.WeakSet()


class TriggerCache:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        *,
        interval: float = REFRESH_INTERVAL,
        search_attributes: bool = True,
        report_outcomes: bool = False,
    ) -> None:
        self.client = client
        self.report_outcomes = report_outcomes
        self.catalog_id = catalog_workflow_id(task_queue)
        self.interval = interval
        self.search_attributes = search_attributes
        self.revision: int | None = None
        self.armed: list[_Armed] = []
        self.definitions: dict[tuple[str, int], Automation] = {}
        # Every automation's catalog entry (latest version, state), and the versions asked for
        # (immutable, but for the state): enrollments resolve "latest" here, not by a query.
        self.entries: dict[str, CatalogEntry] = {}
        self.versions: dict[tuple[str, int], AutomationVersion] = {}
        # The messaging policy (R20) the send activities of this process follow.
        self.messaging_policy = MessagingPolicy()
        self.refreshed_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self.queries = 0
        self.invalidated_at = float("-inf")
        # True while `run` watches the catalog: the copy is then current without asking.
        self.watching = False
        _COPIES.add(self)

    @property
    def empty(self) -> bool:
        return not self.armed

    async def current(self) -> TriggerCache:
        """Itself, refreshed first when the copy is older than the interval (a caller waits
        only for the one refresh in flight)."""
        if self.watching and self.refreshed_at > float("-inf"):
            return self
        if time.monotonic() - self.refreshed_at > self.interval:
            try:
                await self.refresh()
            except Exception:
                log.warning("trigger set refresh failed", exc_info=True)
                self.refreshed_at = time.monotonic()
        return self

    def invalidate(self) -> None:
        """The next `current()` of every copy in this process refreshes, with a query that
        starts after this call (after a publish/pause/resume served by this process)."""
        for copy in list(_COPIES):
            copy.refreshed_at = float("-inf")
            copy.invalidated_at = time.monotonic()
            copy._refreshing = None

    async def refresh(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())
        await asyncio.shield(self._refreshing)

    async def run(self) -> None:
        """Watch the catalog until cancelled (API processes run this in the background, so
        that no request waits for a refresh): one query to begin, then one per change."""
        while True:
            try:
                await self._watch()
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # no catalog yet: nothing to watch
                    log.warning("trigger set watch failed", exc_info=True)
            except Exception:
                log.warning("trigger set watch failed", exc_info=True)
            finally:
                self.watching = False
            await asyncio.sleep(self.interval)

    async def _watch(self) -> None:
        """Refresh now, then after each event of the catalog's current run that may change the
        trigger set, until the run closes (it continues as new). Events in a burst take one
        refresh in flight and at most one after it."""
        described = await self.client.get_workflow_handle(self.catalog_id).describe()
        known = described.history_length  # what the refresh below already reflects
        await self.refresh()
        self.watching = True
        run = self.client.get_workflow_handle(self.catalog_id, run_id=described.run_id)
        changed = asyncio.Event()

        async def refresher() -> None:
            while True:
                await changed.wait()
                changed.clear()
                await self.refresh()

        refreshing = asyncio.create_task(refresher())
        try:
            async for event in run.fetch_history_events(wait_new_event=True):
                if event.event_id > known and event.event_type in CHANGES:
                    changed.set()
                if refreshing.done():
                    refreshing.result()  # a failed refresh ends the watch
        finally:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing

    async def _refresh(self) -> None:
        started = time.monotonic()
        handle = self.client.get_workflow_handle(self.catalog_id)
        self.queries += 1
        try:
            found: TriggerSet = await handle.query(
                CatalogWorkflow.trigger_set, TriggerSetRequest(known_revision=self.revision)
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            found = TriggerSet(revision=0, entries=[])
        stale = self.revision is not None and found.revision < self.revision
        if found.entries is not None and not stale:
            # (A refresh overtaken by a newer one after an invalidate() must not undo it.)
            triggered = [e for e in found.entries if e.triggers]
            await self._fetch_definitions(triggered)
            self.armed = [
                _Armed(entry, self.definitions[(entry.automation_id, entry.latest_version)])
                for entry in sorted(triggered, key=lambda e: e.automation_id)
            ]
            self.entries = {e.automation_id: e for e in found.entries}
            self.messaging_policy = found.messaging_policy or MessagingPolicy()
            self.revision = found.revision
        if started >= self.invalidated_at:
            self.refreshed_at = max(self.refreshed_at, started)

    async def _fetch_definitions(self, entries: Iterable[CatalogEntry]) -> None:
        missing = [
            (e.automation_id, e.latest_version)
            for e in entries
            if (e.automation_id, e.latest_version) not in self.definitions
        ]

        async def fetch(automation_id: str, version: int) -> None:
            handle = self.client.get_workflow_handle(automation_workflow_id(automation_id))
            found: AutomationVersion = await handle.query(
                AutomationWorkflow.get, VersionRequest(version=version)
            )
            self.definitions[(automation_id, version)] = found.definition

        await asyncio.gather(*(fetch(a, v) for a, v in missing))

    def match(self, event: ContactEvent) -> list[TriggerMatch]:
        """The first trigger of each automation that the event matches; a paused automation's
        match is marked so (it is only counted as refused, R17)."""
        matches: list[TriggerMatch] = []
        for armed in self.armed:
            entry = armed.entry
            found = triggers_met_by(armed.definition, event, entry.automation_id)
            if found:
                matches.append(self._match(armed, found[0]))
        return matches

    def candidates(self, event_types: Iterable[str]) -> dict[str, list[TriggerMatch]]:
        """For events the contact workflow makes itself (tag changes, profile saves), whose
        data only it knows: per event type, the automations with a trigger on that type. The
        workflow matches their triggers against each event it makes."""
        wanted = set(event_types)
        found: dict[str, list[TriggerMatch]] = {}
        for armed in self.armed:
            for event_type in dict.fromkeys(t.event for t in armed.definition.triggers):
                if event_type in wanted:
                    found.setdefault(event_type, []).append(self._match(armed, ""))
        return found

    def _match(self, armed: _Armed, trigger_id: str) -> TriggerMatch:
        entry = armed.entry
        return TriggerMatch(
            automation_id=entry.automation_id,
            version=entry.latest_version,
            trigger_id=trigger_id,
            definition=armed.definition,
            paused=entry.state == "paused",
            search_attributes=self.search_attributes,
            report_outcomes=self.report_outcomes,
        )
