"""The experiments report's intervals against published worked examples.

Wilson's score interval: Newcombe, "Two-sided confidence intervals for the single proportion:
comparison of seven methods", Statistics in Medicine 17 (1998) 857–872, Table I (method 3).
The difference of two proportions: Newcombe, "Interval estimation for the difference between
independent proportions: comparison of eleven methods", Statistics in Medicine 17 (1998)
873–890, Table II (method 10, the hybrid score interval). Both given to 4 decimals."""

from __future__ import annotations

import pytest

from api.experiment_stats import difference_interval, wilson_interval
from api.experiments import Group, group, lift


@pytest.mark.parametrize(
    ("met", "entered", "lower", "upper"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_interval_matches_newcombe_table_i(
    met: int, entered: int, lower: float, upper: float
) -> None:
    interval = wilson_interval(met, entered)
    assert interval is not None
    assert interval == pytest.approx((lower, upper), abs=5e-5)


def test_wilson_interval_by_hand() -> None:
    # 5 of 10, z = 1.96: centre (0.5 + 0.19208) / 1.38416 = 0.5, half-width
    # 1.96 · sqrt(0.025 + 0.009604) / 1.38416 = 1.96 · 0.1860215 / 1.38416 = 0.2634104:
    # (0.2365896, 0.7634104).
    assert wilson_interval(5, 10, z=1.96) == pytest.approx((0.2365896, 0.7634104), abs=1e-7)


@pytest.mark.parametrize(
    ("a", "b", "lower", "upper"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
        ((0, 10), (0, 20), -0.1611, 0.2775),
        ((10, 10), (0, 20), 0.6791, 1.0),
    ],
)
def test_difference_interval_matches_newcombe_table_ii(
    a: tuple[int, int], b: tuple[int, int], lower: float, upper: float
) -> None:
    interval = difference_interval(*a, *b)
    assert interval is not None
    assert interval == pytest.approx((lower, upper), abs=5e-5)


def test_nobody_entered_gives_no_rate_and_no_interval() -> None:
    assert wilson_interval(0, 0) is None
    assert difference_interval(3, 10, 0, 0) is None
    empty = group(0, {"bought": 0})
    assert empty.goals["bought"].rate is None and empty.goals["bought"].ci95 is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_lift_of_the_treated_over_the_held_out() -> None:
    treated, held_out = group(70, {"bought": 56}), group(80, {"bought": 48})
    assert isinstance(treated, Group)
    assert treated.goals["bought"].rate == 0.8
    lifted = lift(treated, held_out)["bought"]
    assert lifted.absolute == pytest.approx(0.2)
    assert lifted.relative == pytest.approx(0.2 / 0.6, abs=1e-6)  # rounded to 6 digits
    assert lifted.ci95 == pytest.approx((0.0524, 0.3339), abs=5e-5)
    # A held-out rate of 0: no relative lift (it would be infinite), the rest as usual.
    zero = lift(group(10, {"bought": 10}), group(20, {"bought": 0}))["bought"]
    assert zero.relative is None and zero.absolute == 1.0
