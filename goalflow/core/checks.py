"""Checks of a valid definition: warnings that never block a publish (docs/automations.md,
"Checks"). Each names the field to change (`loc`, a path in the document, as a 422 gives) and says
what to change.

Pure functions of the parsed definition and the trigger links that exist; the API returns them
with drafts and with every publish, and the builder shows each beside its field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any, Literal

from jinja2 import TemplateError
from pydantic import BaseModel, ValidationError

from goalflow.core.templates import trigger_link_ids
from goalflow.core.validation import templates_of
from workflows.definition import (
    Automation,
    EmailCriterion,
    GoalStep,
    IfElseStep,
    OnMetGoto,
    SendEmailStep,
    SplitStep,
    TriggerLinkCriterion,
)
from workflows.globs import glob_matches

Loc = tuple[int | str, ...]
CheckCode = Literal[
    "unreachable_step",
    "unknown_trigger_link",
    "link_not_in_email",
    "wait_forever",
    "goal_before_its_email",
]


class Problem(BaseModel):
    """One thing to fix (`error`: the publish would be refused) or to look at (`warning`)."""

    level: Literal["error", "warning"]
    code: str
    loc: list[int | str]
    message: str


def _warning(loc: Loc, code: CheckCode, message: str) -> Problem:
    return Problem(level="warning", code=code, loc=list(loc), message=message)


def check_automation(
    automation: Automation, known_trigger_links: Collection[str] | None = None
) -> list[Problem]:
    """Every warning of a valid definition, in document order of the check that finds it.
    `known_trigger_links` None: trigger links are not checked."""
    found = [
        *_unreachable_steps(automation),
        *_goal_criteria(automation),
        *_email_links(automation),
    ]
    if known_trigger_links is not None:
        found += _unknown_trigger_links(automation, known_trigger_links)
    return found


def errors_as_problems(err: ValidationError) -> list[Problem]:
    """A definition's validation errors (the 422 of a publish) as problems, same `loc`."""
    return [
        Problem(level="error", code=e["type"], loc=list(e["loc"]), message=e["msg"])
        for e in err.errors(include_url=False)
    ]


# --- unreachable_step ------------------------------------------------------------------------


def _next_steps(automation: Automation, positions: dict[str, int], i: int) -> set[int]:
    """Where a run goes from step i: the next step, a branch, a goal's jump when met, or on
    when unmet."""
    step = automation.steps[i]
    after = {i + 1} if i + 1 < len(automation.steps) else set()
    if step.type == "end":
        return set()
    if isinstance(step, IfElseStep):
        return {positions[step.then], positions[step.else_]}
    if isinstance(step, SplitStep):
        return {positions[path.next] for path in step.paths}
    if not isinstance(step, GoalStep):
        return after
    found: set[int] = set()
    if isinstance(step.on_met, OnMetGoto):
        found.add(positions[step.on_met.step])
    elif step.on_met.action == "continue":
        found |= after
    unmet = step.if_unmet
    if unmet.action == "continue" or (
        unmet.action == "wait" and unmet.timeout is not None and unmet.on_timeout == "continue"
    ):
        found |= after
    return found


def _unreachable_steps(automation: Automation) -> Iterator[Problem]:
    """Steps no run reaches from the first: by the next step, a branch or a goal's jump, or as
    a goal met early (R3) by a contact held at a step above it (anywhere, with `jump_from:
    anywhere`)."""
    steps = automation.steps
    positions = {step.id: i for i, step in enumerate(steps)}
    reached = {0}
    # A contact is at a step when an event comes unless the step passes in the same instant.
    holds = [not isinstance(step, IfElseStep | SplitStep) and step.type != "end" for step in steps]
    changed = True
    while changed:
        changed = False
        for i in sorted(reached):
            for j in _next_steps(automation, positions, i) - reached:
                reached.add(j)
                changed = True
        for j, step in enumerate(steps):
            if j in reached or not isinstance(step, GoalStep):
                continue
            if step.jump_from == "anywhere" or any(holds[k] for k in reached if k < j):
                reached.add(j)
                changed = True
    for i, step in enumerate(steps):
        if i not in reached:
            yield _warning(
                ("steps", i),
                "unreachable_step",
                f"no run reaches step {step.id!r}: it follows a step that ends or always jumps "
                "away, and no branch or goal jumps to it; move it, jump to it, or remove it",
            )


# --- goals -----------------------------------------------------------------------------------


def _goal_criteria(automation: Automation) -> Iterator[Problem]:
    positions = {step.id: i for i, step in enumerate(automation.steps)}
    for i, step in enumerate(automation.steps):
        if not isinstance(step, GoalStep):
            continue
        unmet = step.if_unmet
        if unmet.action == "wait" and unmet.timeout is None:
            yield _warning(
                ("steps", i, "if_unmet", "timeout"),
                "wait_forever",
                f"a contact that reaches goal {step.id!r} unmet waits for it forever: set a "
                "limit (e.g. P14D) and what happens when it runs out",
            )
        if step.jump_from != "above":
            continue
        for j, criterion in enumerate(step.criteria):
            email_step = criterion.email_step if isinstance(criterion, EmailCriterion) else None
            if email_step is not None and positions.get(email_step, -1) > i:
                yield _warning(
                    ("steps", i, step.kind, j, "email_step"),
                    "goal_before_its_email",
                    f"email {email_step!r} is sent after goal {step.id!r}, so only an event of "
                    "a later visit can meet it: move the goal below the email, or set jump_from "
                    "to anywhere",
                )


# --- links -----------------------------------------------------------------------------------

_HREF = re.compile(r"""(?<![\w-])href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


def email_links(step: SendEmailStep) -> list[str]:
    """The links of an email's HTML as written (templates unrendered)."""
    return [next(g for g in m.groups() if g is not None) for m in _HREF.finditer(step.html)]


def _email_links(automation: Automation) -> Iterator[Problem]:
    emails = {s.id: s for s in automation.steps if isinstance(s, SendEmailStep)}
    criteria: list[tuple[Loc, Any]] = [
        (("triggers", i), t) for i, t in enumerate(automation.triggers)
    ]
    for i, step in enumerate(automation.steps):
        if isinstance(step, GoalStep):
            criteria += [(("steps", i, step.kind, j), c) for j, c in enumerate(step.criteria)]
    for loc, criterion in criteria:
        if not isinstance(criterion, EmailCriterion) or criterion.event != "email.clicked":
            continue
        if criterion.url is None or criterion.email_step not in emails:
            continue
        links = email_links(emails[criterion.email_step])
        # A link written as a template could render to anything: it may match.
        if any("{{" in link or "{%" in link for link in links):
            continue
        if not any(glob_matches(criterion.url, link) for link in links):
            yield _warning(
                (*loc, "url"),
                "link_not_in_email",
                f"no link of email {criterion.email_step!r} matches {criterion.url!r}: copy the "
                "link from the email, or end the pattern with * to match its variants",
            )


def _unknown_trigger_links(automation: Automation, known: Collection[str]) -> Iterator[Problem]:
    def unknown(loc: Loc, link: str) -> Problem:
        return _warning(
            loc,
            "unknown_trigger_link",
            f"trigger link {link!r} is not defined yet: create it (PUT /v1/trigger-links/"
            f"{link}) or use the id of one that exists",
        )

    criteria: list[tuple[Loc, Any]] = [
        (("triggers", i), t) for i, t in enumerate(automation.triggers)
    ]
    for i, step in enumerate(automation.steps):
        for where, source in templates_of(step):
            try:
                ids = trigger_link_ids(source)
            except TemplateError:
                continue
            for link in dict.fromkeys(ids):
                if link not in known:
                    yield unknown(("steps", i, *where), link)
        if isinstance(step, GoalStep):
            criteria += [(("steps", i, step.kind, j), c) for j, c in enumerate(step.criteria)]
    for loc, criterion in criteria:
        link_id = criterion.link_id if isinstance(criterion, TriggerLinkCriterion) else None
        if link_id is not None and link_id not in known:
            yield unknown((*loc, "link_id"), link_id)
