"""OutcomeReportWorkflow: one post to the reporting webhook, retried with backoff until it is
delivered (activities/reporting.py). The enrollment starts one per outcome as an abandoned child:
the post outlives the enrollment, and a dead receiver never holds the enrollment's steps nor
its end. The workflow id is the report's `webhook-id`: a report is started once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.messages import REPORT_OUTCOME, EnrollmentInput, OutcomeReport, OutcomeType

REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["OutboundRefused"],
)
# After a day of failures the report is dropped (the workflow fails, visible in Temporal).
GIVE_UP_AFTER = timedelta(days=1)


@workflow.defn
class OutcomeReportWorkflow:
    @workflow.run
    async def run(self, report: OutcomeReport) -> None:
        await workflow.execute_activity(
            REPORT_OUTCOME,
            report,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=GIVE_UP_AFTER,
            retry_policy=REPORT_RETRY,
            summary=report.type,
        )


class OutcomeReporter:
    """The enrollment's side: with GOALFLOW_REPORTING_WEBHOOK_URL (`input.report_outcomes`) each
    outcome is posted from a child workflow of its own that outlives the enrollment; without it,
    no command at all."""

    def __init__(self, input: EnrollmentInput) -> None:
        self.input = input
        self.starting = 0

    def report(
        self, kind: OutcomeType, step_id: str | None = None, outcome: str | None = None
    ) -> None:
        if not self.input.report_outcomes:
            return
        enrollment_id = self.input.enrollment_id
        report = OutcomeReport(
            webhook_id=f"report:{enrollment_id}:{kind}" + (f":{step_id}" if step_id else ""),
            type=kind,
            timestamp=workflow.now(),
            enrollment_id=enrollment_id,
            automation_id=self.input.automation_id,
            version=self.input.version,
            contact_id=self.input.contact.id,
            step_id=step_id,
            outcome=outcome,
        )
        self.starting += 1
        asyncio.create_task(self._start(report))  # noqa: RUF006 (counted, awaited by started())

    async def started(self) -> None:
        """Until the reports' workflows have started, never until they are delivered: before
        the enrollment ends or continues as new."""
        if self.input.report_outcomes:
            await workflow.wait_condition(lambda: self.starting == 0)

    async def _start(self, report: OutcomeReport) -> None:
        try:
            await workflow.start_child_workflow(
                OutcomeReportWorkflow.run,
                report,
                id=report.webhook_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{report.type} → reporting webhook",
            )
        except WorkflowAlreadyStartedError:
            pass  # reported already (a run before a continue-as-new)
        finally:
            self.starting -= 1
