"""One request, one trace, through the messages it sends to running workflows.

temporalio's TracingInterceptor puts all a workflow does in the trace of the request that
started it; a later update or signal is a span in that trace, only *linked* to its sender. A
contact's workflow lives long and most requests reach it running (`POST /v1/events`), so the
email that an event's goal sends would sit in the trace of the contact's first request. This
interceptor goes inside the SDK's (after it in the interceptor list) and, for a message whose
headers carry a trace context:

- runs the handler in the sender's context, with a `HandleUpdate:…`/`HandleSignal:…` span in
  the sender's trace (unless the workflow's own trace is the sender's: the SDK's span is there);
- makes the commands the workflow issues in the same workflow task (activities, local
  activities, child workflows, signals), from the handler or from the main coroutine it woke,
  children of the sender's context. The contact's `accept_event` update queues the event; its
  main loop forwards it by signal to the enrollments; their signal handler sets the goal's move;
  their main loop sends the email: all in one workflow task each, so all in the request's trace.

A later workflow task (a timer that fires, an activity's result) is the workflow's own again:
an email sent three days after an event is not that event's. The remembered message lives in
memory only: the commands are the same with tracing or without (their headers differ, and
headers are not part of Temporal's determinism checks); no span is made while replaying (the
SDK's rule, kept by `completed_span`). Public API only: the SDK interceptor's header key,
propagator and payload converter, and `temporalio.contrib.opentelemetry.workflow.completed_span`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import opentelemetry.context
import opentelemetry.trace
import temporalio.api.common.v1
import temporalio.client
import temporalio.worker
import temporalio.workflow
from opentelemetry.context import Context
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.opentelemetry.workflow import completed_span

# Set on the context a message handler runs in: its commands follow its own sender.
_HANDLING = opentelemetry.context.create_key("goalflow_handling_message")

Carrier = dict[str, Any]


class CausalTracingInterceptor(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """Put right after `tracing` in the client's interceptors (goalflow/core/tracing.py); the
    worker built on the client takes both, in that order."""

    def __init__(self, tracing: TracingInterceptor) -> None:
        self.tracing = tracing

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        class Bound(CausalWorkflowInboundInterceptor):
            tracing = self.tracing

        return Bound


@dataclass(frozen=True)
class _Cause:
    """The trace context of the last message handled, and the workflow task it came in."""

    carrier: Carrier
    history_length: int


class CausalWorkflowInboundInterceptor(temporalio.worker.WorkflowInboundInterceptor):
    tracing: ClassVar[TracingInterceptor]

    def __init__(self, next: temporalio.worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._cause: _Cause | None = None

    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(CausalWorkflowOutboundInterceptor(outbound, self))

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        with self._handling(f"HandleSignal:{input.signal}", input.headers):
            await super().handle_signal(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        with self._handling(f"HandleUpdate:{input.update}", input.headers):
            return await super().handle_update_handler(input)

    @contextmanager
    def caused(self) -> Iterator[None]:
        """Around an outbound command: outside a handler, in the workflow task of a traced
        message, the command is a child of that message's sender."""
        cause = self._cause
        if (
            cause is None
            or opentelemetry.context.get_value(_HANDLING)
            or cause.history_length != temporalio.workflow.info().get_current_history_length()
        ):
            yield
            return
        with _attached(self._extract(cause.carrier)):
            yield

    @contextmanager
    def _handling(
        self, name: str, headers: Mapping[str, temporalio.api.common.v1.Payload]
    ) -> Iterator[None]:
        sent = self._carrier(headers)
        if sent is None:
            self._cause = None  # an untraced message: what follows is the workflow's own
            yield
            return
        self._cause = _Cause(sent, temporalio.workflow.info().get_current_history_length())
        context = self._extract(sent)
        with _attached(opentelemetry.context.set_value(_HANDLING, True, context)):
            if _trace_id(context) != self._workflow_trace_id():
                completed_span(name)
            yield

    def _carrier(self, headers: Mapping[str, temporalio.api.common.v1.Payload]) -> Carrier | None:
        payload = headers.get(self.tracing.header_key)
        if not payload:
            return None
        carrier: Carrier | None = self.tracing.payload_converter.from_payloads([payload])[0]
        return carrier or None

    def _extract(self, carrier: Carrier) -> Context:
        """The current context (the SDK's interceptor is on it) with the carrier's span."""
        return self.tracing.text_map_propagator.extract(
            carrier, opentelemetry.context.get_current()
        )

    def _workflow_trace_id(self) -> int | None:
        own = self._carrier(temporalio.workflow.info().headers)
        return None if own is None else _trace_id(self.tracing.text_map_propagator.extract(own))


class CausalWorkflowOutboundInterceptor(temporalio.worker.WorkflowOutboundInterceptor):
    """Calls the SDK's outbound interceptor (which makes the command's span from the current
    context and puts it in the command's headers) under the message's context."""

    def __init__(
        self,
        next: temporalio.worker.WorkflowOutboundInterceptor,
        root: CausalWorkflowInboundInterceptor,
    ) -> None:
        super().__init__(next)
        self.root = root

    def start_activity(
        self, input: temporalio.worker.StartActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with self.root.caused():
            return super().start_activity(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        with self.root.caused():
            return super().start_local_activity(input)

    async def start_child_workflow(
        self, input: temporalio.worker.StartChildWorkflowInput
    ) -> temporalio.workflow.ChildWorkflowHandle[Any, Any]:
        with self.root.caused():
            return await super().start_child_workflow(input)

    async def signal_child_workflow(
        self, input: temporalio.worker.SignalChildWorkflowInput
    ) -> None:
        with self.root.caused():
            await super().signal_child_workflow(input)

    async def signal_external_workflow(
        self, input: temporalio.worker.SignalExternalWorkflowInput
    ) -> None:
        with self.root.caused():
            await super().signal_external_workflow(input)


@contextmanager
def _attached(context: Context) -> Iterator[None]:
    token = opentelemetry.context.attach(context)
    try:
        yield
    finally:
        # A handler of an evicted workflow is closed wherever garbage collection runs, where
        # this context is not the current one and the token is not valid: nothing to detach.
        if opentelemetry.context.get_current() is context:
            opentelemetry.context.detach(token)


def _trace_id(context: Context) -> int:
    return opentelemetry.trace.get_current_span(context).get_span_context().trace_id
