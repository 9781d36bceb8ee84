"""The steps, the settings and the automation itself."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workflows.definition._base import Duration, StepId, Strict, TagName
from workflows.definition._conditions import (
    Condition,
    IfUnmet,
    IfUnmetContinue,
    OnMet,
    OnMetContinue,
)
from workflows.definition._criteria import GoalCriterion, Trigger

# --- steps -----------------------------------------------------------------------------------


class StepBase(Strict):
    id: StepId
    name: str | None = Field(None, max_length=200, description="shown in the Temporal UI")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCK_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
Clock = Annotated[
    str,
    StringConstraints(pattern=CLOCK_PATTERN),
    Field(description='"HH:MM", 24-hour clock, 00:00 to 23:59'),
]


class SendWindow(Strict):
    """When sends may go out, in the contact's local time (R16 in docs/automations.md)."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: Clock
    end: Clock = Field(
        description="exclusive; before `start`, the window runs overnight into the next day"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.start == self.end:
            raise ValueError("a send window needs end different from start")
        if len(set(self.days)) != len(self.days):
            raise ValueError("a send window lists each day once")
        return self


class _SendStep(StepBase):
    """A step that sends: held by the automation's send window unless it says otherwise."""

    send_window: SendWindow | None = Field(
        None,
        description=(
            "absent: the automation's `settings.send_window`; null: send at any time; "
            "an object: this window instead"
        ),
    )

    def window(self, default: SendWindow | None) -> SendWindow | None:
        """The window that holds this step: its own when it names one (null included)."""
        return self.send_window if "send_window" in self.model_fields_set else default

    @model_serializer(mode="wrap")
    def _dump_explicit_null(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # "send_window": null means "ignore the window", absent means "use it": a dump keeps the
        # key exactly when it was given, so it reads back the same (Temporal's converter writes
        # every null; the API's GET drops nulls).
        data: dict[str, Any] = handler(self)
        if "send_window" in self.model_fields_set:
            if self.send_window is None:
                data["send_window"] = None
        else:
            data.pop("send_window", None)
        return data

    def __eq__(self, other: object) -> bool:
        # Pydantic compares values only; here an absent key and a null differ.
        return (
            super().__eq__(other)
            and isinstance(other, _SendStep)
            and ("send_window" in self.model_fields_set)
            == ("send_window" in other.model_fields_set)
        )


class SendEmailStep(_SendStep):
    type: Literal["send_email"]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    html: Annotated[str, StringConstraints(max_length=500_000)]
    text: Annotated[str, StringConstraints(max_length=500_000)] | None = None
    from_: str | None = Field(None, alias="from")


class SendSmsStep(_SendStep):
    type: Literal["send_sms"]
    body: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class WaitStep(StepBase):
    type: Literal["wait"]
    duration: Duration | None = None
    until: datetime | None = Field(None, description="RFC 3339 with an offset")
    until_time: str | None = Field(None, description='"HH:MM" in the settings/contact timezone')
    weekdays: list[Weekday] | None = Field(None, min_length=1)

    @field_validator("until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("until needs a timezone offset, e.g. 2026-12-01T09:00:00Z")
        return value

    @field_validator("until_time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(CLOCK_PATTERN, value):
            raise ValueError('until_time must be "HH:MM" (24-hour clock)')
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitStep:
        given = [n for n in ("duration", "until", "until_time") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("a wait step needs exactly one of duration, until, until_time")
        if self.weekdays is not None and self.until_time is None:
            raise ValueError("weekdays only applies to until_time")
        return self


class AddTagStep(StepBase):
    type: Literal["add_tag"]
    tag: TagName


class RemoveTagStep(StepBase):
    type: Literal["remove_tag"]
    tag: TagName


class UpdateContactStep(StepBase):
    type: Literal["update_contact"]
    fields: dict[str, Any] = Field(min_length=1)


class WebhookStep(StepBase):
    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(None, description="JSON; every string in it is a template")


class IfElseStep(StepBase):
    type: Literal["if_else"]
    if_: Condition = Field(alias="if")
    then: StepId
    else_: StepId = Field(alias="else")


GoalKind = Literal["any_of", "all_of", "sequence"]
GOAL_KINDS: tuple[GoalKind, ...] = ("any_of", "all_of", "sequence")


class GoalStep(StepBase):
    """A goal: met by any one of its criteria (`any_of`), by all of them in any order
    (`all_of`), or by all of them in the listed order (`sequence`, optionally `within` a
    duration of the first match). R1-R10 and R21 in docs/automations.md."""

    type: Literal["goal"]
    any_of: list[GoalCriterion] | None = Field(
        None, min_length=1, max_length=50, description="met by any one criterion"
    )
    all_of: list[GoalCriterion] | None = Field(
        None, min_length=1, max_length=50, description="met once every criterion has matched"
    )
    sequence: list[GoalCriterion] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="met once the criteria have matched in this order",
    )
    within: Duration | None = Field(
        None,
        description="sequence only: all of it within this long of its first match; a first "
        "match that runs out is dropped and the next one counts",
    )
    on_met: OnMet = Field(default_factory=lambda: OnMetContinue(action="continue"))
    if_unmet: IfUnmet = Field(default_factory=lambda: IfUnmetContinue(action="continue"))
    jump_from: Literal["above", "anywhere"] = "above"

    @model_validator(mode="after")
    def _one_kind(self) -> GoalStep:
        given = [kind for kind in GOAL_KINDS if getattr(self, kind) is not None]
        if not given:
            raise PydanticCustomError(
                "goal_kind_missing",
                "a goal step needs one of any_of, all_of or sequence",
                {"at": "any_of"},
            )
        if len(given) > 1:
            raise PydanticCustomError(
                "goal_kinds",
                "a goal step takes exactly one of any_of, all_of or sequence, not {both}",
                {"at": given[1], "both": " and ".join(given)},
            )
        if self.within is not None and self.sequence is None:
            raise PydanticCustomError(
                "within_without_sequence",
                "within applies to a sequence goal only (use sequence, or remove within)",
                {"at": "within"},
            )
        return self

    @model_serializer(mode="wrap")
    def _dump_given_kind(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # Only the kind given (and `within` when set): an `any_of` goal dumps exactly as it did
        # before the other kinds existed, so enrollment inputs and stored versions stay the same.
        data: dict[str, Any] = handler(self)
        for field in (*GOAL_KINDS, "within"):
            if getattr(self, field) is None:
                data.pop(field, None)
        return data

    @property
    def kind(self) -> GoalKind:
        return next(kind for kind in GOAL_KINDS if getattr(self, kind) is not None)

    @property
    def criteria(self) -> list[GoalCriterion]:
        """The criteria of its kind, in the order of the definition."""
        found: list[GoalCriterion] = getattr(self, self.kind)
        return found


class EndStep(StepBase):
    type: Literal["end"]


class SplitPath(Strict):
    id: StepId
    weight: int = Field(ge=1, le=100, description="relative share of contacts: 1 to 100")
    next: StepId = Field(description="the step this path goes to")


class SplitStep(StepBase):
    """An experiment: each contact takes one path, the same on every enrollment
    (docs/automations.md, Experiments)."""

    type: Literal["split"]
    paths: list[SplitPath] = Field(min_length=2, max_length=5)


class Holdout(Strict):
    """A share of contacts that gets nothing, to measure the automation against
    (docs/automations.md, Experiments)."""

    percent: int = Field(ge=1, le=50, description="share of contacts held out, 1 to 50")
    window: Duration = Field("P14D", description="how long a held-out enrollment listens")


Step = Annotated[
    SendEmailStep
    | SendSmsStep
    | WaitStep
    | AddTagStep
    | RemoveTagStep
    | UpdateContactStep
    | WebhookStep
    | IfElseStep
    | GoalStep
    | EndStep
    | SplitStep,
    Field(discriminator="type"),
]


class AutomationSettings(Strict):
    allow_reentry: bool = False
    timezone: str = "UTC"
    send_window: SendWindow | None = Field(
        None, description="sends wait for it; in the contact's timezone, else `timezone`"
    )
    holdout: Holdout | None = Field(
        None, description="a share of contacts that runs no step (docs/automations.md, Experiments)"
    )
    # R20; absent means "normal" and "defer" (left out of a dump, as a definition without them).
    priority: Literal["transactional", "normal"] | None = Field(
        None, description="transactional sends ignore the message budget (still counted)"
    )
    when_capped: Literal["defer", "skip"] | None = Field(
        None, description="a normal send over the message budget waits for a slot, or skips"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown timezone {value!r}") from err
        return value


class Automation(Strict):
    """An automation definition as published (one version)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str | None = Field(None, max_length=5000)
    settings: AutomationSettings = Field(default_factory=AutomationSettings)
    triggers: list[Trigger] = Field(
        default_factory=list,
        max_length=50,
        description="events that enroll the contact while the automation is active (R14 in "
        "docs/automations.md)",
    )
    steps: list[Step] = Field(min_length=1, max_length=500)

    def trigger_id(self, index: int) -> str:
        given = self.triggers[index].id
        return given if given is not None else f"trigger-{index + 1}"
