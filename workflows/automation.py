"""Automations and trigger links, stored durably in Temporal itself (no second database).

`AutomationWorkflow`: one per automation id, holding its published versions (R12: versions are
immutable; enrollments carry their own snapshot). `CatalogWorkflow`: one per namespace, listing
automations and the trigger links.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.messages import (
        UNKNOWN_VERSION,
        AutomationState,
        AutomationVersion,
        CatalogEntry,
        CatalogState,
        CatalogView,
        PublishRequest,
        PublishResult,
        TriggerLink,
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
        versions = self.state.versions
        if versions and versions[-1].definition == request.definition:
            return PublishResult(
                automation_id=self.state.automation_id, version=versions[-1].version, created=False
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
            automation_id=self.state.automation_id, version=version.version, created=True
        )

    @workflow.query
    def get(self, request: VersionRequest) -> AutomationVersion:
        versions = self.state.versions
        if not versions:
            raise ApplicationError("automation has no published version", type=UNKNOWN_VERSION)
        if request.version is None:
            return versions[-1]
        if not 1 <= request.version <= len(versions):
            raise ApplicationError(
                f"automation has no version {request.version}", type=UNKNOWN_VERSION
            )
        return versions[request.version - 1]


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
        current = self.state.automations.get(entry.automation_id)
        if current is None or current.latest_version <= entry.latest_version:
            self.state.automations[entry.automation_id] = entry

    @workflow.update
    def put_trigger_link(self, link: TriggerLink) -> TriggerLink:
        self.state.trigger_links[link.link_id] = link
        return link

    @workflow.query
    def view(self) -> CatalogView:
        return CatalogView(
            automations=sorted(self.state.automations.values(), key=lambda e: e.automation_id),
            trigger_links=sorted(self.state.trigger_links.values(), key=lambda t: t.link_id),
        )
