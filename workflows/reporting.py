"""OutcomeReportWorkflow: one post to the reporting webhook, retried with backoff until it is
delivered (activities/reporting.py). The enrollment starts one per outcome as an abandoned child:
the post outlives the enrollment, and a dead receiver never holds the enrollment's steps nor
its end. The workflow id is the report's `webhook-id`: a report is started once."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.messages import REPORT_OUTCOME, OutcomeReport

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
