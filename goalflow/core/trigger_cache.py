"""The trigger set, as every process that accepts events keeps it (R14).

The catalog workflow holds, per automation with triggers, its latest version, its state and its
triggers. Each API process and each worker keeps a copy, refreshed at most `interval` seconds
apart (one catalog query per process per refresh, a cheap one when nothing changed), with the
definitions of those versions (immutable, fetched once). Matching an event is then pure and
local: an event that matches nothing costs Temporal nothing more, and the matches travel with
the event in the update that accepts it. Publishing, pausing or resuming therefore takes effect
in every process within `interval` plus one query (the process that served the call refreshes
at once).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
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

# Seconds between refreshes: publish/pause/resume reach every process within about this long.
REFRESH_INTERVAL = 1.0


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
        _COPIES.add(self)

    @property
    def empty(self) -> bool:
        return not self.armed

    async def current(self) -> TriggerCache:
        """Itself, refreshed first when the copy is older than the interval (a caller waits
        only for the one refresh in flight)."""
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
        """Refresh every interval until cancelled (API processes run this in the background so
        that no request waits for a refresh)."""
        while True:
            try:
                await self.refresh()
            except Exception:
                log.warning("trigger set refresh failed", exc_info=True)
            await asyncio.sleep(self.interval)

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
