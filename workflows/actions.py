"""The action runner: an email, text or webhook step's activity, with its retries.

Workflow code, run in the enrollment's sandbox. Retried by the workflow itself, one attempt
per activity, so that the enrollment can say it is retrying (`waiting.kind = "retrying"`) and
each failed attempt is a short line in the history rather than a failure kept, and cut, by the
server. Enrollments started before that patch let Temporal retry the activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from workflows.action_table import (
        ACTION_RETRY,
        ACTIONS,
        LAST_ERROR_CHARS,
        ONE_ATTEMPT,
        Action,
        failed,
        retryable,
    )
    from workflows.definition import SendEmailStep, SendSmsStep, WebhookStep
    from workflows.messages import (
        DeliveryResult,
        StepContext,
        Waiting,
    )
    from workflows.patches import SEND_EMAIL_AS_LOCAL_ACTIVITY, VISIBLE_RETRIES


class ActionRunner:
    """Runs action steps for one enrollment. `patched` asks whether a change applies;
    `show_waiting` sets the enrollment's `waiting` while an action is retried."""

    def __init__(
        self, patched: Callable[[str], bool], show_waiting: Callable[[Waiting | None], None]
    ) -> None:
        self.patched = patched
        self.show_waiting = show_waiting

    async def run(
        self, step: WebhookStep | SendEmailStep | SendSmsStep, context: StepContext
    ) -> dict[str, Any]:
        """Run the step's action to its end: what the timeline keeps of the result, or of a
        permanent failure (the enrollment carries on). Cancelling the enrollment (R11) cancels
        it: asyncio.CancelledError."""
        own_retries = self.patched(VISIBLE_RETRIES)
        retry = ONE_ATTEMPT if own_retries else ACTION_RETRY
        action = ACTIONS[step.type]
        attempt = 1
        while True:
            try:
                result = await self._execute_action(action, step, context, retry)
                break
            except ActivityError as err:
                if isinstance(err.cause, CancelledError):
                    raise asyncio.CancelledError from err
                failure: BaseException | None = err.cause
            except CancelledError as err:
                raise asyncio.CancelledError from err
            except (ApplicationError, TemporalTimeoutError) as err:
                # A local activity's failure arrives as it is, not wrapped in an ActivityError.
                failure = err
            if not own_retries or attempt >= (ACTION_RETRY.maximum_attempts or 1):
                return failed(failure)
            if not retryable(failure):
                return failed(failure)
            attempt += 1
            await self._before_retry(attempt, failure)
        self.show_waiting(None)
        if isinstance(result, DeliveryResult):
            count_budget(result, "email" if isinstance(step, SendEmailStep) else "sms")
        return action.detail(result)

    def _execute_action(
        self,
        action: Action,
        step: WebhookStep | SendEmailStep | SendSmsStep,
        context: StepContext,
        retry: RetryPolicy,
    ) -> Awaitable[Any]:
        """One attempt of the step's activity, as ACTIONS describes it."""
        request = action.request(context=context, step=step)
        timeout = timedelta(seconds=action.timeout_seconds)
        summary = f"{action.label} {step.name or step.id}"
        options: dict[str, Any] = {
            "result_type": action.result_type,
            "start_to_close_timeout": timeout,
            "retry_policy": retry,
            "summary": summary,
        }
        if isinstance(step, SendEmailStep) and self.patched(SEND_EMAIL_AS_LOCAL_ACTIVITY):
            # A local activity: run by this worker within the workflow task, recorded as one
            # marker, no task dispatch; a send takes milliseconds.
            return workflow.execute_local_activity(action.activity, request, **options)
        return workflow.execute_activity(action.activity, request, **options)

    async def _before_retry(self, attempt: int, failure: BaseException | None) -> None:
        """Wait out ACTION_RETRY's backoff before `attempt`, saying so in `waiting`. Not cut
        short by a goal (R3: the move follows the action); cancelling the enrollment cuts it."""
        policy = ACTION_RETRY
        delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 2)
        if policy.maximum_interval is not None:
            delay = min(delay, policy.maximum_interval)
        last_error = failed(failure)["error"][:LAST_ERROR_CHARS]
        self.show_waiting(
            Waiting(
                kind="retrying",
                attempt=attempt,
                next_at=workflow.now() + delay,
                last_error=last_error,
            )
        )
        await workflow.sleep(delay, summary=f"retry {attempt}")
        self.show_waiting(Waiting(kind="retrying", attempt=attempt, last_error=last_error))


def count_budget(sent: DeliveryResult, channel: str) -> None:
    """R20's metrics: sends deferred (by the budget or quiet hours) and skipped, per channel.
    Replay-safe: the SDK does not record workflow metrics while replaying."""
    meter = workflow.metric_meter()
    if sent.wait is not None:
        meter.create_counter(
            "goalflow_sends_deferred", "sends deferred by the message budget or quiet hours"
        ).add(1, {"channel": channel, "reason": sent.wait})
    elif sent.skipped == "budget":
        meter.create_counter(
            "goalflow_sends_skipped", "sends skipped by the message budget (when_capped: skip)"
        ).add(1, {"channel": channel, "reason": "budget"})
