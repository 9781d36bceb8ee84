"""Automations and trigger links, stored durably in Temporal itself (no second database).

`AutomationWorkflow`: one per automation id, holding its published versions (R12: versions are
immutable; enrollments carry their own snapshot), its state (active or paused, R17) and how often
each trigger enrolled or was refused. `CatalogWorkflow`: one per namespace, listing automations,
their states and triggers (the trigger set every event-accepting process caches, R14) and the
trigger links.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.budget import MessagingPolicy
    from workflows.draft_messages import DraftEntry
    from workflows.limits import json_bytes, versions_refusal
    from workflows.messages import (
        SIGNAL_TRIGGER_OUTCOME,
        UNKNOWN_VERSION,
        AutomationLifecycle,
        AutomationState,
        AutomationStatus,
        AutomationVersion,
        CatalogEntry,
        CatalogState,
        CatalogView,
        PublishRequest,
        PublishResult,
        StateRequest,
        TriggerCount,
        TriggerLink,
        TriggerOutcome,
        TriggerSet,
        TriggerSetRequest,
        VersionRequest,
    )


async def _continue_as_new_when_suggested(state: object) -> None:
    await workflow.wait_condition(
        lambda: workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
    )
    workflow.continue_as_new(state)


@workflow.defn
class AutomationWorkflow:
    @workflow.init
    def __init__(self, state: AutomationState) -> None:
        self.state = state

    @workflow.run
    async def run(self, state: AutomationState) -> None:
        await _continue_as_new_when_suggested(self.state)

    @workflow.update
    def publish(self, request: PublishRequest) -> PublishResult:
        """A new version (or the latest, when the definition equals it). `activate` makes the
        automation active; without it a new automation starts paused, an existing one keeps
        its state."""
        state = self.state
        versions = state.versions
        if request.activate:
            new_state: AutomationLifecycle = "active"
        else:
            new_state = state.state if versions else "paused"
        state_changed = new_state != state.state
        state.state = new_state
        same = bool(versions) and versions[-1].definition == request.definition
        if state_changed or not same:
            state.revision += 1
        if same:
            return PublishResult(
                automation_id=state.automation_id,
                version=versions[-1].version,
                created=False,
                state=state.state,
                revision=state.revision,
            )
        version = AutomationVersion(
            automation_id=self.state.automation_id,
            version=len(versions) + 1,
            definition=request.definition,
            published_at=workflow.now(),
        )
        versions.append(version)
        workflow.set_current_details(
            f"{request.definition.name} · latest version {version.version}"
        )
        return PublishResult(
            automation_id=state.automation_id,
            version=version.version,
            created=True,
            state=state.state,
            revision=state.revision,
        )

    @publish.validator
    def _versions_fit(self, request: PublishRequest) -> None:
        """A refused version never reaches the history; the versions stay small enough to be
        handed to the next run (workflows/limits.py)."""
        versions = self.state.versions
        if versions and versions[-1].definition == request.definition:
            return
        stored = sum(json_bytes(v.definition) for v in versions)
        error = versions_refusal(stored, request.definition)
        if error is not None:
            raise error

    @workflow.update
    def set_state(self, request: StateRequest) -> AutomationStatus:
        if request.state != self.state.state:
            self.state.state = request.state
            self.state.revision += 1
        return AutomationStatus(
            automation_id=self.state.automation_id,
            state=self.state.state,
            revision=self.state.revision,
        )

    @set_state.validator
    def _has_versions(self, request: StateRequest) -> None:
        if not self.state.versions:
            raise ApplicationError("automation has no published version", type=UNKNOWN_VERSION)

    @workflow.signal(name=SIGNAL_TRIGGER_OUTCOME)
    def trigger_outcome(self, outcome: TriggerOutcome) -> None:
        count = self.state.trigger_counts.setdefault(outcome.trigger_id, TriggerCount())
        if outcome.started:
            count.started += 1
        elif outcome.refused is not None:
            count.refused[outcome.refused] = count.refused.get(outcome.refused, 0) + 1

    @workflow.query
    def trigger_counts(self) -> dict[str, TriggerCount]:
        return self.state.trigger_counts

    @workflow.query
    def versions(self) -> list[AutomationVersion]:
        """Every published version, oldest first."""
        return self.state.versions

    @workflow.query
    def get(self, request: VersionRequest) -> AutomationVersion:
        versions = self.state.versions
        if not versions:
            raise ApplicationError("automation has no published version", type=UNKNOWN_VERSION)
        if request.version is None:
            found = versions[-1]
        elif not 1 <= request.version <= len(versions):
            raise ApplicationError(
                f"automation has no version {request.version}", type=UNKNOWN_VERSION
            )
        else:
            found = versions[request.version - 1]
        return found.model_copy(update={"state": self.state.state})


@workflow.defn
class CatalogWorkflow:
    @workflow.init
    def __init__(self, state: CatalogState) -> None:
        self.state = state

    @workflow.run
    async def run(self, state: CatalogState) -> None:
        await _continue_as_new_when_suggested(self.state)

    @workflow.update
    def register(self, entry: CatalogEntry) -> None:
        """Keep the newest entry of each automation (publishes and state changes may reach us
        out of order from several API processes)."""
        current = self.state.automations.get(entry.automation_id)
        if current is None or (current.revision, current.latest_version) <= (
            entry.revision,
            entry.latest_version,
        ):
            self.state.automations[entry.automation_id] = entry
            # Every change: API processes resolve an automation's latest version from this set
            # too, without a query per enrollment.
            self.state.trigger_revision += 1

    @workflow.query
    def trigger_set(self, request: TriggerSetRequest) -> TriggerSet:
        """Every automation (latest version, state, triggers), unless the caller's copy is
        current."""
        revision = self.state.trigger_revision
        if request.known_revision == revision:
            return TriggerSet(revision=revision)
        entries = list(self.state.automations.values())
        policy = self.state.messaging_policy
        return TriggerSet(revision=revision, entries=entries, messaging_policy=policy)

    @workflow.update
    def set_messaging_policy(self, policy: MessagingPolicy) -> MessagingPolicy:
        """R20: the policy every send granted after this answer follows (each process's copy
        of the trigger set carries it)."""
        self.state.messaging_policy = policy
        self.state.trigger_revision += 1
        return policy

    @workflow.query
    def messaging_policy(self) -> MessagingPolicy:
        return self.state.messaging_policy

    @workflow.update
    def put_trigger_link(self, link: TriggerLink) -> TriggerLink:
        self.state.trigger_links[link.link_id] = link
        return link

    @workflow.query
    def view(self) -> CatalogView:
        return CatalogView(
            automations=sorted(self.state.automations.values(), key=lambda e: e.automation_id),
            trigger_links=sorted(self.state.trigger_links.values(), key=lambda t: t.link_id),
            drafts=self.state.drafts.present(),
        )

    @workflow.update
    def register_draft(self, entry: DraftEntry) -> None:
        """A draft saved or deleted (workflows/drafts.py): the newest entry of each is kept."""
        self.state.drafts.record(entry)
