"""Publishing a definition, whoever asks (`PUT /v1/automations/{id}`, a draft's publish): the
checks that make it a 422, the publish itself, and the same rules read as a draft's problems."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.schemas import MAX_DEFINITION_BYTES, PublishOut, fits
from goalflow.core.checks import Problem, check_automation
from goalflow.core.outbound import OutboundPolicy, literal_address_refusal
from goalflow.core.settings import Settings
from goalflow.core.validation import parse_automation
from goalflow.service.contacts import GoalflowService
from goalflow.service.error_words import worded
from workflows.definition import Automation, WebhookStep

Error = dict[str, Any]


def _refused_destinations(automation: Automation, policy: OutboundPolicy) -> list[Error]:
    """A webhook URL naming a non-public address outright is refused now rather than at every
    call (hostnames are checked when the call connects: goalflow/core/outbound.py)."""
    errors: list[Error] = []
    for i, step in enumerate(automation.steps):
        if isinstance(step, WebhookStep):
            reason = literal_address_refusal(step.url, policy)
            if reason is not None:
                loc = ("steps", i, "url")
                errors.append(
                    {"type": "outbound_refused", "loc": loc, "msg": reason, "input": step.url}
                )
    return errors


def checked(
    definition: Any, links: set[str], policy: OutboundPolicy
) -> tuple[Automation | None, list[str], list[Error], list[Problem]]:
    """The definition parsed (None when invalid), its warnings as text, the errors a publish
    would answer 422 with (`loc` without the leading "body") and the checks' warnings."""
    try:
        automation, warnings = parse_automation(definition, links)
    except ValidationError as err:
        return None, [], [dict(e) for e in err.errors(include_url=False)], []
    errors = _refused_destinations(automation, policy)
    try:
        # Enrollments carry the definition in Temporal payloads (2 MB at most).
        fits(automation.model_dump(by_alias=True), MAX_DEFINITION_BYTES, "the definition")
    except ValueError as err:
        errors.append({"type": "too_large", "loc": (), "msg": str(err), "input": None})
    if errors:
        return None, [], errors, []
    return automation, warnings, [], check_automation(automation, links)


def problems(definition: Any, errors: list[Error], warnings: list[Problem]) -> list[Problem]:
    """The errors worded as the 422 words them (goalflow/service/error_words.py), then the
    warnings."""
    in_body = worded([{**e, "loc": ("body", *e["loc"])} for e in errors], definition)
    found = [
        Problem(level="error", code=e["type"], loc=list(e["loc"][1:]), message=e["msg"])
        for e in in_body
    ]
    return found + warnings


async def trigger_links(goalflow: GoalflowService) -> set[str]:
    return {link.link_id for link in (await goalflow.catalog()).trigger_links}


async def publish_definition(
    goalflow: GoalflowService,
    settings: Settings,
    automation_id: str,
    definition: Any,
    *,
    activate: bool = True,
) -> tuple[PublishOut, bool]:
    """Publish `definition` as a new version (or answer the latest when it equals it): the
    answer and whether a version was created. A 422 (RequestValidationError at "body" paths)
    when it is not valid."""
    automation, warnings, errors, checks = checked(
        definition, await trigger_links(goalflow), settings.outbound_policy
    )
    if automation is None:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in errors], body=definition
        )
    result = await goalflow.publish(automation_id, automation, activate=activate)
    answer = PublishOut(
        automation_id=automation_id,
        version=result.version,
        state=result.state,
        warnings=warnings,
        problems=checks,
    )
    return answer, result.created
