"""Validation of a whole definition: the pydantic models plus the rules that span steps.

`parse_automation` raises a pydantic `ValidationError` whose errors carry the path (`loc`) of each
offending field, so the API can answer 422 exactly as FastAPI does for its own request models.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

from jinja2 import TemplateSyntaxError
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from goalflow.core.templates import (
    TemplateOverLimit,
    compile_template,
    iter_strings,
    trigger_link_ids,
)
from workflows.criteria_limits import criteria_errors
from workflows.definition import (
    CONDITION_TAGS,
    Automation,
    EmailCriterion,
    GoalStep,
    IfElseStep,
    OnMetGoto,
    SendEmailStep,
    SendSmsStep,
    SplitStep,
    WaitStep,
    WebhookStep,
)
from workflows.experiments import split_errors

Loc = tuple[int | str, ...]


class _Errors:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.items: list[InitErrorDetails] = []

    def add(self, loc: Loc, kind: str, message: str) -> None:
        self.items.append(
            InitErrorDetails(
                type=PydanticCustomError(kind, message),
                loc=loc,
                input=_lookup(self.data, loc),
            )
        )

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError.from_exception_data("Automation", self.items)


def _lookup(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# Keys whose value selects the model of a tagged union; pydantic puts that value in `loc`.
_DISCRIMINATORS = ("type", "event", "action")


def _document_loc(data: Any, loc: Loc, error_type: str, ctx: dict[str, Any] | None) -> Loc:
    """The path of the offending field in the submitted document.

    pydantic inserts the tag of a union member into `loc` (`("steps", 0, "wait", "duration")`,
    `("steps", 1, "if_else", "if", "FieldCondition")`); those are not keys of the document and
    would make the same field answer with two different paths (the rules checked below use
    document paths). An unknown or missing tag is reported at the tag's own field
    (`("steps", 2, "type")`) rather than at the whole object."""
    out: list[int | str] = []
    current = data
    for k, part in enumerate(loc):
        last = k == len(loc) - 1
        if isinstance(current, dict) and isinstance(part, str):
            tags = {v for d in _DISCRIMINATORS if isinstance(v := current.get(d), str)}
            if part in tags | CONDITION_TAGS and not (last and error_type == "missing"):
                continue
            if part not in current and not last:
                continue
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
        out.append(part)
    if error_type in ("union_tag_invalid", "union_tag_not_found") and ctx:
        field = str(ctx.get("discriminator", "")).strip("'")
        if field.isidentifier():
            out.append(field)
    return tuple(out)


def _with_document_locs(data: Any, err: ValidationError) -> ValidationError:
    items: list[InitErrorDetails] = []
    for e in err.errors():
        ctx = e.get("ctx")
        loc = _document_loc(data, e["loc"], e["type"], ctx)
        if ctx and isinstance(ctx.get("at"), str):
            # A rule across an object's fields names the field to change (workflows/definition).
            loc = (*loc, ctx["at"])
        try:  # a built-in error type keeps its type, message and documentation url
            ValidationError.from_exception_data(
                err.title,
                [InitErrorDetails(type=e["type"], loc=loc, input=e["input"], ctx=ctx or {})],
            )
            kind: Any = e["type"]
        except (KeyError, TypeError, ValueError):
            kind = PydanticCustomError(e["type"], e["msg"])
        detail = InitErrorDetails(type=kind, loc=loc, input=e["input"])
        if ctx and isinstance(kind, str):
            detail["ctx"] = ctx
        items.append(detail)
    return ValidationError.from_exception_data(err.title, items)


def parse_automation(
    data: Any, known_trigger_links: Collection[str] | None = None
) -> tuple[Automation, list[str]]:
    """Validate a definition; return it with warnings (e.g. unknown trigger link ids)."""
    try:
        automation = Automation.model_validate(data)
    except ValidationError as err:
        raise _with_document_locs(data, err) from None
    errors = _Errors(data)
    warnings: list[str] = []
    positions: dict[str, int] = {}

    for i, step in enumerate(automation.steps):
        if step.id in positions:
            errors.add(
                ("steps", i, "id"),
                "duplicate_step_id",
                f"step id {step.id!r} is already used by step {positions[step.id]}",
            )
        else:
            positions[step.id] = i

    email_steps = {s.id for s in automation.steps if isinstance(s, SendEmailStep)}
    for i, step in enumerate(automation.steps):
        if isinstance(step, IfElseStep):
            for field, target in (("then", step.then), ("else", step.else_)):
                if target not in positions:
                    errors.add(("steps", i, field), "unknown_step", f"no step has id {target!r}")
        if isinstance(step, GoalStep):
            if isinstance(step.on_met, OnMetGoto) and step.on_met.step not in positions:
                errors.add(
                    ("steps", i, "on_met", "step"),
                    "unknown_step",
                    f"no step has id {step.on_met.step!r}",
                )
            for j, criterion in enumerate(step.criteria):
                if (
                    isinstance(criterion, EmailCriterion)
                    and criterion.email_step is not None
                    and criterion.email_step not in email_steps
                ):
                    errors.add(
                        ("steps", i, step.kind, j, "email_step"),
                        "unknown_email_step",
                        f"{criterion.email_step!r} is not a send_email step of this automation",
                    )
        for where, source in templates_of(step):
            try:
                compile_template(source)
                warnings.extend(
                    f"steps.{i}.{'.'.join(map(str, where))}: trigger link {link!r} "
                    "is not defined yet"
                    for link in trigger_link_ids(source)
                    if known_trigger_links is None or link not in known_trigger_links
                )
            except TemplateOverLimit as err:
                errors.add(
                    ("steps", i, *where),
                    "template_limit",
                    f"template asks for more than a render may build: {err.message} "
                    f"(line {err.lineno})",
                )
            except TemplateSyntaxError as err:
                errors.add(
                    ("steps", i, *where),
                    "template_syntax",
                    f"template does not compile: {err.message} (line {err.lineno})",
                )

        for where, message in _unsendable(step):
            errors.add(("steps", i, *where), "line_break", message)

    trigger_ids: dict[str, int] = {}
    for i, trigger in enumerate(automation.triggers):
        trigger_id = automation.trigger_id(i)
        if trigger_id in trigger_ids:
            errors.add(
                ("triggers", i, "id"),
                "duplicate_trigger_id",
                f"trigger id {trigger_id!r} is already used by trigger {trigger_ids[trigger_id]}",
            )
        else:
            trigger_ids[trigger_id] = i
        if (
            isinstance(trigger, EmailCriterion)
            and trigger.email_step is not None
            and trigger.email_step not in email_steps
        ):
            errors.add(
                ("triggers", i, "email_step"),
                "unknown_email_step",
                f"{trigger.email_step!r} is not a send_email step of this automation",
            )

    for loc, kind, message in criteria_errors(automation):
        errors.add(loc, kind, message)
    for loc, kind, message in split_errors(automation, positions):
        errors.add(loc, kind, message)

    errors.raise_if_any()
    for loc in _loops_without_pause(automation, positions):
        errors.add(
            loc,
            "loop_without_wait",
            "this jump closes a loop with no wait or goal step on it",
        )
    errors.raise_if_any()
    return automation, warnings


# What no message can carry in a header (header injection): CR, LF and NUL.
_LINE_BREAK = re.compile(r"[\r\n\x00]")
# RFC 9110: a header name is a token.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _unsendable(step: Any) -> Iterator[tuple[Loc, str]]:
    """Header names and values, and an email's `from`, that no request or message can carry.
    A header name that is a template is checked once rendered, at send."""
    if isinstance(step, WebhookStep):
        for name, value in step.headers.items():
            templated = any(mark in name for mark in ("{{", "{%", "{#"))
            if _LINE_BREAK.search(name) or not (templated or _FIELD_NAME.fullmatch(name)):
                yield (
                    ("headers", name),
                    "a header name is letters, digits and !#$%&'*+-.^_`|~ only: "
                    "no spaces, line breaks or colons",
                )
            if _LINE_BREAK.search(value):
                yield ("headers", name), "a header value cannot hold a line break (CR, LF) or NUL"
    if isinstance(step, SendEmailStep) and step.from_ and _LINE_BREAK.search(step.from_):
        yield ("from",), "`from` cannot hold a line break (CR, LF) or NUL"


def templates_of(step: Any) -> list[tuple[Loc, str]]:
    """Every template of a step, with the path of its field inside the step."""
    if isinstance(step, SendEmailStep):
        found: list[tuple[Loc, str]] = [(("subject",), step.subject), (("html",), step.html)]
        if step.text is not None:
            found.append((("text",), step.text))
        return found
    if isinstance(step, SendSmsStep):
        return [(("body",), step.body)]
    if isinstance(step, WebhookStep):
        found = [(("url",), step.url)]
        found += [(("headers", k), v) for k, v in step.headers.items()]
        found += [(("body", *path), s) for path, s in iter_strings(step.body)]
        return found
    return []


def successors(automation: Automation, positions: dict[str, int], i: int) -> list[tuple[int, Loc]]:
    """Where control can go after step i in document order (events aside), with the field
    that sends it there."""
    step = automation.steps[i]
    after: list[tuple[int, Loc]] = [(i + 1, ("steps", i))] if i + 1 < len(automation.steps) else []
    if step.type == "end":
        return []
    if isinstance(step, IfElseStep):
        return [
            (positions[step.then], ("steps", i, "then")),
            (positions[step.else_], ("steps", i, "else")),
        ]
    if isinstance(step, SplitStep):
        return [
            (positions[p.next], ("steps", i, "paths", j, "next")) for j, p in enumerate(step.paths)
        ]
    if isinstance(step, GoalStep) and isinstance(step.on_met, OnMetGoto):
        return [*after, (positions[step.on_met.step], ("steps", i, "on_met", "step"))]
    return after


def _loops_without_pause(automation: Automation, positions: dict[str, int]) -> list[Loc]:
    """Each edge that closes a cycle whose steps include no wait and no goal."""
    steps = automation.steps
    pausing = {i for i, s in enumerate(steps) if isinstance(s, WaitStep | GoalStep)}
    # Only steps that do not pause can form a bad loop: search the graph restricted to them.
    found: list[Loc] = []
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done

    def visit(start: int) -> None:
        # Each frame: node, its edges not yet followed, and the edge that led to it
        # (source position and loc; None for the start).
        stack: list[tuple[int, list[tuple[int, Loc]], tuple[int, Loc] | None]] = [
            (start, successors(automation, positions, start), None)
        ]
        state[start] = 1
        while stack:
            node, edges, _ = stack[-1]
            if not edges:
                state[node] = 2
                stack.pop()
                continue
            target, loc = edges.pop()
            if target in pausing:
                continue
            if state.get(target) == 1:
                # Report the jumps that go back up the document on this cycle (every cycle has
                # one; "next step" edges only go down), not whichever edge closed it.
                on_stack = [frame[0] for frame in stack]
                cycle = [
                    frame[2]
                    for frame in stack[on_stack.index(target) + 1 :]
                    if frame[2] is not None
                ]
                cycle.append((node, loc))
                ends = [*on_stack[on_stack.index(target) + 1 :], target]
                for (source, edge_loc), end in zip(cycle, ends, strict=True):
                    if end <= source and edge_loc not in found:
                        found.append(edge_loc)
            elif target not in state:
                state[target] = 1
                stack.append((target, successors(automation, positions, target), (node, loc)))

    for i in range(len(steps)):
        if i not in pausing and i not in state:
            visit(i)
    return found
