"""The contact's ordered queue: enrollments, events, tag changes, step changes and profile saves,
done one at a time in acceptance order (R1), so that an enrollment accepted before an event is
started before that event is forwarded.

Workflow code, run in the contact's sandbox: a caller that waits for its work's answer (an
update) waits on the workflow's condition. The queue also measures what it holds, for deciding
whether it can go to the next run when the contact continues as new.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.messages import EventOp, PendingWork, QueuedOp, StepChangeOp


class OrderedQueue:
    """Work in acceptance order, each with a sequence number that its answer is kept under until
    its caller takes it. `awaited` counts the work a caller waits on; `chars` and `utf8` measure
    the rest (events and step changes) as JSON, in characters and in bytes."""

    def __init__(self) -> None:
        self.items: list[tuple[int, QueuedOp]] = []
        self.results: dict[int, Any] = {}
        self.next_seq = 0
        self.awaited = 0
        self.chars = 0
        self.utf8 = 0

    def __bool__(self) -> bool:
        return bool(self.items)

    def push(self, op: QueuedOp) -> int:
        seq = self.next_seq
        self.next_seq += 1
        self.items.append((seq, op))
        self._count(op, 1)
        return seq

    def pop(self) -> tuple[int, QueuedOp]:
        seq, op = self.items.pop(0)
        self._count(op, -1)
        return seq, op

    def answer(self, seq: int, result: Any) -> None:
        """The answer to the work `seq`: a result, or a deliberate refusal (ApplicationError)
        that its caller raises."""
        self.results[seq] = result

    async def enqueue(self, op: QueuedOp) -> Any:
        """Queue `op` and wait for its answer."""
        seq = self.push(op)
        await workflow.wait_condition(lambda: seq in self.results)
        result = self.results.pop(seq)
        if isinstance(result, ApplicationError):
            raise result
        return result

    def carried(self) -> list[PendingWork]:
        """The work the next run takes over (only what no caller waits on can be queued then)."""
        return [op for _, op in self.items if isinstance(op, EventOp | StepChangeOp)]

    def _count(self, op: QueuedOp, sign: int) -> None:
        if isinstance(op, EventOp | StepChangeOp):
            text = (op.event if isinstance(op, EventOp) else op.step_change).model_dump_json()
            self.chars += sign * len(text)  # characters, as runs before counted
            self.utf8 += sign * len(text.encode("utf-8", "surrogatepass"))
        else:
            self.awaited += sign
