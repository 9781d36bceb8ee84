"""if_else conditions on the contact's tags and custom fields."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from temporalio.contrib.pydantic import pydantic_data_converter

from goalflow.core.validation import parse_automation
from workflows.conditions import condition_holds, json_equal
from workflows.definition import Condition, FieldCondition, HasTag, Not
from workflows.messages import ContactSnapshot

_condition: TypeAdapter[Any] = TypeAdapter(Condition)

CONTACT = ContactSnapshot(
    id="c-1",
    email="ada@example.com",
    first_name="Ada",
    tags=["lead", "vip"],
    fields={
        "plan": "pro",
        "score": 42,
        "ratio": 0.5,
        "active": True,
        "count": 0,
        "nickname": None,
        "langs": ["en", "fr"],
        "address": {"city": "Paris"},
        "age_text": "42",
    },
)

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # tags
    ("has_tag present", {"has_tag": "vip"}, True),
    ("has_tag absent", {"has_tag": "customer"}, False),
    ("has_tag is case-sensitive", {"has_tag": "VIP"}, False),
    ("lacks_tag absent", {"lacks_tag": "customer"}, True),
    ("lacks_tag present", {"lacks_tag": "lead"}, False),
    # equals / not_equals
    ("equals string", {"field": "plan", "equals": "pro"}, True),
    ("equals other string", {"field": "plan", "equals": "free"}, False),
    ("equals number", {"field": "score", "equals": 42}, True),
    ("equals int and float", {"field": "score", "equals": 42.0}, True),
    ("equals number vs numeric string", {"field": "age_text", "equals": 42}, False),
    ("equals bool", {"field": "active", "equals": True}, True),
    ("true is not 1", {"field": "active", "equals": 1}, False),
    ("0 is not false", {"field": "count", "equals": False}, False),
    ("equals null on null", {"field": "nickname", "equals": None}, True),
    ("equals null on missing", {"field": "missing", "equals": None}, False),
    ("equals on missing", {"field": "missing", "equals": "x"}, False),
    ("equals list", {"field": "langs", "equals": ["en", "fr"]}, True),
    ("equals list order matters", {"field": "langs", "equals": ["fr", "en"]}, False),
    ("equals object", {"field": "address", "equals": {"city": "Paris"}}, True),
    ("not_equals different", {"field": "plan", "not_equals": "free"}, True),
    ("not_equals same", {"field": "plan", "not_equals": "pro"}, False),
    ("not_equals on missing", {"field": "missing", "not_equals": "pro"}, True),
    ("not_equals true vs 1", {"field": "active", "not_equals": 1}, True),
    # exists
    ("exists on present", {"field": "plan", "exists": True}, True),
    ("exists on falsy value", {"field": "count", "exists": True}, True),
    ("exists on null", {"field": "nickname", "exists": True}, False),
    ("exists on missing", {"field": "missing", "exists": True}, False),
    ("not exists on missing", {"field": "missing", "exists": False}, True),
    ("not exists on present", {"field": "plan", "exists": False}, False),
    ("not exists on null", {"field": "nickname", "exists": False}, True),
    # in
    ("in list", {"field": "plan", "in": ["free", "pro"]}, True),
    ("not in list", {"field": "plan", "in": ["free", "team"]}, False),
    ("in on missing", {"field": "missing", "in": ["pro"]}, False),
    ("in empty list", {"field": "plan", "in": []}, False),
    ("in with numbers", {"field": "score", "in": [41, 42.0]}, True),
    ("true is not in [1]", {"field": "active", "in": [1, 2]}, False),
    ("null in list", {"field": "nickname", "in": [None]}, True),
    # comparisons
    ("gt true", {"field": "score", "gt": 41}, True),
    ("gt equal", {"field": "score", "gt": 42}, False),
    ("gte equal", {"field": "score", "gte": 42}, True),
    ("gte above", {"field": "score", "gte": 43}, False),
    ("lt true", {"field": "ratio", "lt": 0.75}, True),
    ("lt equal", {"field": "ratio", "lt": 0.5}, False),
    ("lte equal", {"field": "ratio", "lte": 0.5}, True),
    ("lte below", {"field": "ratio", "lte": 0.25}, False),
    ("gt on zero", {"field": "count", "gt": -1}, True),
    ("gt on missing", {"field": "missing", "gt": 0}, False),
    ("lt on missing", {"field": "missing", "lt": 100}, False),
    ("gt on a numeric string", {"field": "age_text", "gt": 1}, False),
    ("gt on a bool", {"field": "active", "gt": 0}, False),
    ("lte on null", {"field": "nickname", "lte": 0}, False),
    # all / any / not
    ("all true", {"all": [{"has_tag": "vip"}, {"field": "plan", "equals": "pro"}]}, True),
    ("all one false", {"all": [{"has_tag": "vip"}, {"field": "plan", "equals": "free"}]}, False),
    ("any one true", {"any": [{"has_tag": "customer"}, {"field": "score", "gt": 40}]}, True),
    ("any none true", {"any": [{"has_tag": "customer"}, {"field": "score", "gt": 50}]}, False),
    ("not true", {"not": {"has_tag": "vip"}}, False),
    ("not false", {"not": {"has_tag": "customer"}}, True),
    ("not not", {"not": {"not": {"has_tag": "vip"}}}, True),
    (
        "nested all/any/not",
        {
            "all": [
                {"any": [{"has_tag": "nope"}, {"not": {"lacks_tag": "lead"}}]},
                {"not": {"field": "missing", "exists": True}},
                {"any": [{"field": "score", "lt": 0}, {"field": "langs", "equals": ["en", "fr"]}]},
            ]
        },
        True,
    ),
    (
        "nested all/any/not, one leaf flipped",
        {
            "all": [
                {"any": [{"has_tag": "nope"}, {"not": {"lacks_tag": "lead"}}]},
                {"not": {"field": "plan", "exists": True}},
            ]
        },
        False,
    ),
]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_condition_holds(condition: dict[str, Any], expected: bool) -> None:
    parsed = _condition.validate_python(condition)
    assert condition_holds(parsed, CONTACT) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_condition_survives_serialisation(condition: dict[str, Any], expected: bool) -> None:
    # Definitions reach workflows through Temporal's converter and are stored as dumps: the
    # condition must read back as the same condition, with the same outcome.
    parsed = _condition.validate_python(condition)
    converter = pydantic_data_converter.payload_converter
    # `Condition` is an annotated union, not a class: the converter takes any type hint.
    hint = cast(type, Condition)
    [via_temporal] = converter.from_payloads(converter.to_payloads([parsed]), [hint])
    assert via_temporal == parsed
    assert condition_holds(via_temporal, CONTACT) is expected
    for dump in (
        _condition.dump_python(parsed, by_alias=True, exclude_none=True),
        _condition.dump_python(parsed, by_alias=True),
        _condition.dump_python(parsed),
    ):
        again = _condition.validate_python(dump)
        assert again == parsed
        assert condition_holds(again, CONTACT) is expected


def test_conditions_parse_to_the_right_models() -> None:
    assert _condition.validate_python({"has_tag": "x"}) == HasTag(has_tag="x")
    negated = _condition.validate_python({"not": {"field": "a", "in": [1]}})
    assert isinstance(negated, Not)
    assert isinstance(negated.not_, FieldCondition)
    assert negated.not_.in_ == [1]
    assert negated.not_.model_fields_set == {"field", "in_"}


def test_field_condition_dump_keeps_only_the_given_operator() -> None:
    parsed = _condition.validate_python({"field": "nickname", "equals": None})
    assert _condition.dump_python(parsed, by_alias=True) == {"field": "nickname", "equals": None}
    assert _condition.dump_python(parsed, exclude_none=True) == {
        "field": "nickname",
        "equals": None,
    }
    parsed = _condition.validate_python({"field": "plan", "in": ["a"]})
    assert _condition.dump_python(parsed, by_alias=True) == {"field": "plan", "in": ["a"]}
    assert _condition.dump_python(parsed) == {"field": "plan", "in_": ["a"]}


def test_empty_contact() -> None:
    empty = ContactSnapshot(id="c-2")
    assert condition_holds(HasTag(has_tag="vip"), empty) is False
    assert condition_holds(_condition.validate_python({"lacks_tag": "vip"}), empty) is True
    assert condition_holds(_condition.validate_python({"field": "x", "exists": False}), empty)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (0, False, False),
        (True, True, True),
        (None, None, True),
        (None, 0, False),
        ("1", 1, False),
        ([1, True], [1.0, True], True),
        ([1, True], [1, 1], False),
        ({"a": [1]}, {"a": [1.0]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": True}, {"a": 1}, False),
    ],
)
def test_json_equal(a: Any, b: Any, expected: bool) -> None:
    assert json_equal(a, b) is expected
    assert json_equal(b, a) is expected


# --- refused at validation -------------------------------------------------------------------


def _if_else(condition: Any) -> dict[str, Any]:
    return {
        "name": "branch",
        "steps": [
            {"id": "branch", "type": "if_else", "if": condition, "then": "yes", "else": "no"},
            {"id": "yes", "type": "end"},
            {"id": "no", "type": "end"},
        ],
    }


def _only_error(condition: Any) -> ErrorDetails:
    with pytest.raises(ValidationError) as info:
        parse_automation(_if_else(condition))
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "score", "gt": 1, "lt": 10},
        {"field": "plan", "equals": "pro", "not_equals": "free"},
        {"field": "plan", "equals": None, "exists": True},
        {"field": "plan"},
    ],
)
def test_field_condition_needs_exactly_one_operator(condition: dict[str, Any]) -> None:
    error = _only_error(condition)
    assert error["loc"] == ("steps", 0, "if")
    assert error["type"] == "value_error"
    assert "exactly one of equals, not_equals, exists, in, gt, gte, lt, lte" in error["msg"]


def test_two_operators_nested_are_refused_at_their_path() -> None:
    condition = {"all": [{"has_tag": "x"}, {"not": {"field": "a", "gte": 1, "lte": 2}}]}
    error = _only_error(condition)
    assert error["loc"] == ("steps", 0, "if", "all", 1, "not")
    assert error["type"] == "value_error"


@pytest.mark.parametrize(
    ("condition", "loc", "error_type"),
    [
        ({"has_tags": "vip"}, ("steps", 0, "if"), "invalid_condition"),
        ({}, ("steps", 0, "if"), "invalid_condition"),
        ("vip", ("steps", 0, "if"), "invalid_condition"),
        ({"all": []}, ("steps", 0, "if", "all"), "too_short"),
        ({"any": [{"bogus": 1}]}, ("steps", 0, "if", "any", 0), "invalid_condition"),
        ({"has_tag": ""}, ("steps", 0, "if", "has_tag"), "string_too_short"),
        ({"has_tag": "a", "lacks_tag": "b"}, ("steps", 0, "if", "lacks_tag"), "extra_forbidden"),
        ({"field": "score", "gt": "high"}, ("steps", 0, "if", "gt"), "float_parsing"),
        ({"field": "plan", "in": "pro"}, ("steps", 0, "if", "in"), "list_type"),
        ({"field": "", "exists": True}, ("steps", 0, "if", "field"), "string_too_short"),
    ],
)
def test_bad_conditions_are_refused(condition: Any, loc: tuple[Any, ...], error_type: str) -> None:
    error = _only_error(condition)
    assert error["loc"] == loc
    assert error["type"] == error_type
