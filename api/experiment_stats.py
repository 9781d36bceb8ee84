"""The intervals of the experiments report (docs/automations.md, Reading your results).

Closed forms, no dependency: a conversion rate's 95 % interval is Wilson's score interval
(Wilson 1927), which stays inside [0, 1] and behaves at 0 and n conversions, where the textbook
"p ± 1.96·SE" (Wald) interval collapses to a point; the difference of two rates gets Newcombe's
hybrid score interval (Newcombe 1998, method 10), built from the two Wilson intervals, for the
same reasons. tests/test_experiment_stats.py checks both against Newcombe's published examples.
"""

from __future__ import annotations

import math

# The 97.5th percentile of the standard normal distribution: a two-sided 95 % interval.
Z95 = 1.959963984540054

Interval = tuple[float, float]


def wilson_interval(met: int, entered: int, z: float = Z95) -> Interval | None:
    """Wilson's score interval for met/entered; None when nobody entered."""
    if entered <= 0:
        return None
    if not 0 <= met <= entered:
        raise ValueError(f"met {met} is not between 0 and entered {entered}")
    p = met / entered
    z2 = z * z
    denominator = 1 + z2 / entered
    centre = (p + z2 / (2 * entered)) / denominator
    half = z * math.sqrt(p * (1 - p) / entered + z2 / (4 * entered * entered)) / denominator
    # The bounds are exactly 0 and 1 at met = 0 and met = entered; rounding must not pass them.
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    met_a: int, entered_a: int, met_b: int, entered_b: int, z: float = Z95
) -> Interval | None:
    """Newcombe's hybrid score interval for rate a − rate b; None when either side is empty."""
    a = wilson_interval(met_a, entered_a, z)
    b = wilson_interval(met_b, entered_b, z)
    if a is None or b is None:
        return None
    p_a, p_b = met_a / entered_a, met_b / entered_b
    d = p_a - p_b
    lower = d - math.sqrt((p_a - a[0]) ** 2 + (b[1] - p_b) ** 2)
    upper = d + math.sqrt((a[1] - p_a) ** 2 + (p_b - b[0]) ** 2)
    return max(-1.0, lower), min(1.0, upper)
