"""Goal criteria and triggers: what an event must be to meet a goal or start an enrollment."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from workflows.definition._base import AnyCaseStatus, EmailEvent, StepId, Strict, TagName
from workflows.durations import parse_duration

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
MAX_MIN_COUNT = 1000


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
    min_count: int | None = Field(
        None,
        ge=2,
        le=MAX_MIN_COUNT,
        description=(
            "2 to 1000: the criterion matches at its n-th matching event, not its first "
            "(R21 in docs/automations.md)"
        ),
    )

    @model_serializer(mode="wrap")
    def _dump_min_count_when_set(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # A criterion without `min_count` dumps as it did before the field existed (Temporal's
        # converter writes every null): enrollment inputs and stored versions stay the same.
        data: dict[str, Any] = handler(self)
        if self.min_count is None:
            data.pop("min_count", None)
        return data

    @property
    def needed(self) -> int:
        """How many matching events the criterion needs: its `min_count`, else 1."""
        return self.min_count or 1


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
