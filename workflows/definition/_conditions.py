"""What a goal does when met or reached unmet, and the conditions of `if_else`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    model_serializer,
    model_validator,
)

from workflows.definition._base import Duration, StepId, Strict, TagName

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
