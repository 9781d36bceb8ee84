"""The automation definition (docs/automations.md): pydantic models for steps and goal criteria.

Parsing and validation happen in the API (see `workflows.validation`); workflows receive an
already-validated snapshot and never re-validate it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from workflows.durations import parse_duration

STEP_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]

EMAIL_EVENTS = (
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.replied",
    "email.unsubscribed",
    "email.bounced",
    "email.complained",
)
EmailEvent = Literal[
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.replied",
    "email.unsubscribed",
    "email.bounced",
    "email.complained",
]
AppointmentStatus = Literal["new", "confirmed", "cancelled", "showed", "noshow", "invalid"]
APPOINTMENT_STATUSES: tuple[str, ...] = get_args(AppointmentStatus)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Enumerated values are case-insensitive: `Confirmed` (HighLevel's spelling) is `confirmed`.
AnyCaseStatus = Annotated[AppointmentStatus, BeforeValidator(_lower)]
EventType = Literal[
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.replied",
    "email.unsubscribed",
    "email.bounced",
    "email.complained",
    "trigger_link.clicked",
    "contact.tag_added",
    "contact.tag_removed",
    "appointment.status_changed",
    "custom",
    "contact.updated",
    "contact.created",
    "sms.received",
    "sms.delivered",
    "sms.failed",
    "payment.succeeded",
    "payment.refunded",
    "subscription.started",
    "subscription.cancelled",
    "order.placed",
    "order.fulfilled",
    "order.cancelled",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- goal criteria ---------------------------------------------------------------------------


class EmailCriterion(Strict):
    event: EmailEvent
    email_step: StepId | None = Field(None, description="a send_email step id of this automation")
    url: str | None = Field(None, description="clicked link; `*` matches any run of characters")


class TriggerLinkCriterion(Strict):
    event: Literal["trigger_link.clicked"]
    link_id: str | None = None


class TagCriterion(Strict):
    event: Literal["contact.tag_added", "contact.tag_removed"]
    tag: TagName | None = None


class AppointmentCriterion(Strict):
    event: Literal["appointment.status_changed"]
    status: list[AnyCaseStatus] | None = Field(None, min_length=1)
    calendar_id: str | None = None


class _MoneyFilters(Strict):
    product: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None,
        description="the provider's product id (Stripe's prod_..., Shopify's product_id as a "
        "string); met when the event names it among its products",
    )
    amount_at_least: int | None = Field(
        None, ge=0, description="in minor units (cents): the event's amount is at least this"
    )


class PaymentCriterion(_MoneyFilters):
    event: Literal[
        "payment.succeeded", "payment.refunded", "subscription.started", "subscription.cancelled"
    ]
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] | None = Field(
        None, description="ISO 4217 code, any case"
    )


class OrderCriterion(_MoneyFilters):
    event: Literal["order.placed", "order.fulfilled", "order.cancelled"]


class CustomCriterion(Strict):
    event: Literal["custom"]
    name: str | None = None
    where: dict[str, Any] = Field(
        default_factory=dict, description="each key must equal the event's data value"
    )


ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_LOOKBACK = timedelta(days=30)


def _check_lookback(value: str) -> str:
    if parse_duration(value) > MAX_LOOKBACK:
        raise ValueError(f"lookback {value!r} is longer than P30D")
    return value


class _GoalOptions(Strict):
    """What a goal criterion may add to a trigger's: a goal listens for an enrollment, which
    has a context and a moment it was accepted."""

    match_context: list[ContextKey] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description=(
            "keys whose value in the event's data must equal the enrollment's context; "
            "a key missing (or null) on either side never matches"
        ),
    )
    lookback: Annotated[str, AfterValidator(_check_lookback)] | None = Field(
        None,
        description=(
            "ISO 8601 duration, at most P30D: events accepted up to that long before the "
            "enrollment also count (R15 in docs/automations.md)"
        ),
    )


class SmsCriterion(Strict):
    event: Literal["sms.received", "sms.delivered", "sms.failed"]
    body_matches: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        None,
        description="sms.received only: the text received; case-insensitive, `*` matches any "
        "run of characters",
    )

    @model_validator(mode="after")
    def _body_only_when_received(self) -> SmsCriterion:
        if self.body_matches is not None and self.event != "sms.received":
            raise ValueError("body_matches applies to sms.received only")
        return self


class EmailGoalCriterion(EmailCriterion, _GoalOptions):
    pass


class TriggerLinkGoalCriterion(TriggerLinkCriterion, _GoalOptions):
    pass


class TagGoalCriterion(TagCriterion, _GoalOptions):
    pass


class AppointmentGoalCriterion(AppointmentCriterion, _GoalOptions):
    pass


class CustomGoalCriterion(CustomCriterion, _GoalOptions):
    pass


class SmsGoalCriterion(SmsCriterion, _GoalOptions):
    pass


class PaymentGoalCriterion(PaymentCriterion, _GoalOptions):
    pass


class OrderGoalCriterion(OrderCriterion, _GoalOptions):
    pass


GoalCriterion = Annotated[
    EmailGoalCriterion
    | TriggerLinkGoalCriterion
    | TagGoalCriterion
    | AppointmentGoalCriterion
    | CustomGoalCriterion
    | SmsGoalCriterion
    | PaymentGoalCriterion
    | OrderGoalCriterion,
    Field(discriminator="event"),
]


# --- triggers --------------------------------------------------------------------------------
# A trigger is a goal criterion with an optional id, or `contact.created` (triggers only).


class ContactCreatedCriterion(Strict):
    event: Literal["contact.created"]


class ContactUpdatedCriterion(Strict):
    event: Literal["contact.updated"]
    field: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="only when this profile or custom field changed"
    )


class _TriggerId(Strict):
    id: StepId | None = Field(None, description="defaults to trigger-N (N: position from 1)")


class EmailTrigger(EmailCriterion, _TriggerId):
    pass


class TriggerLinkTrigger(TriggerLinkCriterion, _TriggerId):
    pass


class TagTrigger(TagCriterion, _TriggerId):
    pass


class AppointmentTrigger(AppointmentCriterion, _TriggerId):
    pass


class CustomTrigger(CustomCriterion, _TriggerId):
    pass


class SmsTrigger(SmsCriterion, _TriggerId):
    pass


class PaymentTrigger(PaymentCriterion, _TriggerId):
    pass


class OrderTrigger(OrderCriterion, _TriggerId):
    pass


class ContactCreatedTrigger(ContactCreatedCriterion, _TriggerId):
    pass


class ContactUpdatedTrigger(ContactUpdatedCriterion, _TriggerId):
    pass


Trigger = Annotated[
    EmailTrigger
    | TriggerLinkTrigger
    | TagTrigger
    | AppointmentTrigger
    | CustomTrigger
    | SmsTrigger
    | PaymentTrigger
    | OrderTrigger
    | ContactCreatedTrigger
    | ContactUpdatedTrigger,
    Field(discriminator="event"),
]


# --- goal actions ----------------------------------------------------------------------------


class OnMetContinue(Strict):
    action: Literal["continue"]


class OnMetGoto(Strict):
    action: Literal["goto"]
    step: StepId


class OnMetEnd(Strict):
    action: Literal["end"]


OnMet = Annotated[OnMetContinue | OnMetGoto | OnMetEnd, Field(discriminator="action")]


class IfUnmetEnd(Strict):
    action: Literal["end"]


class IfUnmetContinue(Strict):
    action: Literal["continue"]


class IfUnmetWait(Strict):
    action: Literal["wait"]
    timeout: Duration | None = None
    on_timeout: Literal["end", "continue"] = "end"


IfUnmet = Annotated[IfUnmetEnd | IfUnmetContinue | IfUnmetWait, Field(discriminator="action")]


# --- if/else conditions ----------------------------------------------------------------------


class HasTag(Strict):
    has_tag: TagName


class LacksTag(Strict):
    lacks_tag: TagName


class FieldCondition(Strict):
    """A test on one custom field; exactly one operator is given."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    equals: Any = None
    not_equals: Any = None
    exists: bool | None = None
    in_: list[Any] | None = Field(None, alias="in")
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = [name for name in self.model_fields_set if name != "field"]
        if len(given) != 1:
            raise ValueError(
                "a field condition needs exactly one of equals, not_equals, exists, in, "
                "gt, gte, lt, lte"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump_given_operator(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # Which operator was given is carried by `model_fields_set`, so a dump must contain that
        # operator and no other: a plain dump (every operator as null, as Temporal's converter
        # writes it) would otherwise read back as "several operators", and `exclude_none` would
        # drop an explicit `equals: null`.
        data = handler(self)
        for name in _FIELD_OPERATORS:
            key = "in" if name == "in_" and info.by_alias else name
            if name in self.model_fields_set:
                if key not in data and getattr(self, name) is None:
                    data[key] = None
            else:
                data.pop(key, None)
        return data


_FIELD_OPERATORS = ("equals", "not_equals", "exists", "in_", "gt", "gte", "lt", "lte")


class AllOf(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


class Not(Strict):
    not_: Condition = Field(alias="not")


_CONDITION_KEYS = (
    ("has_tag", "HasTag"),
    ("lacks_tag", "LacksTag"),
    ("field", "FieldCondition"),
    ("all", "AllOf"),
    ("any", "AnyOf"),
    ("not", "Not"),
    ("not_", "Not"),
)


def _condition_kind(value: Any) -> str | None:
    """Pick the condition model from the key that names it, so that a bad condition gets the
    errors of that one model instead of one set per alternative."""
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        for key, kind in _CONDITION_KEYS:
            if key in value:
                return kind
    return None


Condition = Annotated[
    Annotated[HasTag, Tag("HasTag")]
    | Annotated[LacksTag, Tag("LacksTag")]
    | Annotated[FieldCondition, Tag("FieldCondition")]
    | Annotated[AllOf, Tag("AllOf")]
    | Annotated[AnyOf, Tag("AnyOf")]
    | Annotated[Not, Tag("Not")],
    Discriminator(
        _condition_kind,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "a condition is an object with one of has_tag, lacks_tag, field, all, any, not"
        ),
    ),
]
CONDITION_TAGS = frozenset(kind for _, kind in _CONDITION_KEYS)
for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()


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


class GoalStep(StepBase):
    type: Literal["goal"]
    any_of: list[GoalCriterion] = Field(min_length=1, max_length=50)
    on_met: OnMet = Field(default_factory=lambda: OnMetContinue(action="continue"))
    if_unmet: IfUnmet = Field(default_factory=lambda: IfUnmetContinue(action="continue"))
    jump_from: Literal["above", "anywhere"] = "above"


class EndStep(StepBase):
    type: Literal["end"]


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
    | EndStep,
    Field(discriminator="type"),
]


class AutomationSettings(Strict):
    allow_reentry: bool = False
    timezone: str = "UTC"
    send_window: SendWindow | None = Field(
        None, description="sends wait for it; in the contact's timezone, else `timezone`"
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
