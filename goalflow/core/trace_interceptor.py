"""temporalio's TracingInterceptor, extended so that one request is one trace through messages.

The SDK's interceptor puts everything a workflow does in the trace of the request that started
it; an update or signal it receives later is a span of that trace, only *linked* to the sender.
goalflow's contact workflows live for months and most requests reach a running one
(`POST /v1/events`), so a request would end at the workflow's door. Here:

- An update or signal that carries a trace context in its headers is handled under that
  context: its span is a child of the sender's span (linked to the workflow's own trace).
  Without one, it is the SDK's span, in the workflow's trace.
- The workflow remembers, in memory only, the context of the last message it handled: its
  *cause*. The commands it issues outside a handler (signals, child workflows, activities, local
  activities), typically from its main coroutine that the handler woke, are children of that
  cause until the next message replaces it. The contact's `accept_event` update queues the
  event; its main loop forwards it to the enrollment (a signal, in the request's trace); the
  enrollment's handler records the move and its main coroutine sends the email (an activity in
  the request's trace too).

Several messages handled in one workflow task: what follows is attributed to the last one. The
commands a workflow issues are the same with or without tracing (only their headers differ,
which replay does not compare), and spans are only made when not replaying, as in the SDK.
This subclasses the SDK's documented extension point (`TracingWorkflowInboundInterceptor`) and
its `_completed_span` hook; tests/api/test_tracing.py fails if they change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import opentelemetry.context
import opentelemetry.trace
import temporalio.api.common.v1
import temporalio.worker
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor

# On the context while a message handler runs: its own commands follow its context as is.
_HANDLING = opentelemetry.context.create_key("goalflow_handling_message")

Carrier = dict[str, Any]
Headers = Any  # Mapping[str, temporalio.api.common.v1.Payload]
SERVER = opentelemetry.trace.SpanKind.SERVER


class CausalTracingInterceptor(TracingInterceptor):
    """The process's Temporal interceptor when tracing is on (goalflow/core/tracing.py)."""

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the SDK's span-making function
        return CausalWorkflowInboundInterceptor


class CausalWorkflowInboundInterceptor(TracingWorkflowInboundInterceptor):
    def __init__(self, next: temporalio.worker.WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        # The trace context of the last message handled: the parent of the commands after it.
        self._cause: Carrier | None = None

    async def handle_signal(self, input: temporalio.worker.HandleSignalInput) -> None:
        with self._message(f"HandleSignal:{input.signal}", input.headers, remember=True):
            await self.next.handle_signal(input)

    def handle_update_validator(self, input: temporalio.worker.HandleUpdateInput) -> None:
        with self._message(f"ValidateUpdate:{input.update}", input.headers, remember=False):
            self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: temporalio.worker.HandleUpdateInput) -> Any:
        with self._message(f"HandleUpdate:{input.update}", input.headers, remember=True):
            return await self.next.handle_update_handler(input)

    @contextmanager
    def _message(self, name: str, headers: Headers, *, remember: bool) -> Iterator[None]:
        """Handle a message under its sender's context when it has one (its span a child of
        the sender's, linked to the workflow's trace), else as the SDK does."""
        sent = self._sender(headers)
        with self._top_level_workflow_context(success_is_complete=False):
            if sent is None:
                if remember:
                    self._cause = None  # what follows is the workflow's own again
                self._completed_span(name, kind=SERVER)
                yield
                return
            if remember:
                self._cause = sent
            context = self._set_on_context(self.text_map_propagator.extract(sent))
            token = opentelemetry.context.attach(
                opentelemetry.context.set_value(_HANDLING, True, context)
            )
            try:
                self._completed_span(
                    name, link_context_carrier=self._load_workflow_context_carrier(), kind=SERVER
                )
                yield
            finally:
                opentelemetry.context.detach(token)

    def _sender(self, headers: Headers) -> Carrier | None:
        payload: temporalio.api.common.v1.Payload | None = headers.get(self.header_key)
        if not payload:
            return None
        carrier = self.payload_converter.from_payloads([payload])[0]
        return carrier if isinstance(carrier, dict) and carrier else None

    def _completed_span(self, span_name: str, **kwargs: Any) -> None:
        """The SDK's span for an outbound command (`add_to_outbound`), made a child of the last
        message's context when issued outside a handler."""
        cause = self._cause
        if (
            cause is None
            or kwargs.get("add_to_outbound") is None
            or opentelemetry.context.get_value(_HANDLING)
        ):
            super()._completed_span(span_name, **kwargs)
            return
        context = self._set_on_context(self.text_map_propagator.extract(cause))
        token = opentelemetry.context.attach(context)
        try:
            super()._completed_span(span_name, **kwargs)
        finally:
            opentelemetry.context.detach(token)
