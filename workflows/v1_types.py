"""The first contact and enrollment types, ContactWorkflow and EnrollmentWorkflow.

Contacts and enrollments started before the V2 types ran as these, and some may still be running
(an enrollment lives for weeks, a contact for as long as it is remembered). They run the V2 code,
but ask `workflow.patched` for every change made since they were released, as their histories
expect: each patch wrote a marker and a `TemporalChangeVersion` upsert into them. A contact of the
first type stays one and keeps starting enrollments of the first type, the child type its history
holds.

A module of its own: the sandbox executes a workflow's module afresh for each workflow it keeps,
and V2 workflows need not pay for these classes. The V2 modules are imported here under the
sandbox's guard, not passed through, so that their code stays checked in these types too.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.contact import ContactWorkflowV2
from workflows.enrollment import EnrollmentWorkflowV2

with workflow.unsafe.imports_passed_through():
    from workflows.messages import ContactState, ContactView, EnrollmentInput, EnrollmentView


@workflow.defn
class EnrollmentWorkflow(EnrollmentWorkflowV2):
    ALL_PATCHES_BUILT_IN = False

    @workflow.run
    async def run(self, input: EnrollmentInput) -> EnrollmentView:
        return await super().run(input)


@workflow.defn
class ContactWorkflow(ContactWorkflowV2):
    ALL_PATCHES_BUILT_IN = False
    ENROLLMENT = "EnrollmentWorkflow"

    @workflow.run
    async def run(self, state: ContactState) -> ContactView:
        return await super().run(state)
