"""ISO 8601 durations, restricted to units with a fixed length (weeks, days, hours, minutes,
seconds). Years and months vary in length, so a definition must say what it means in days."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.ASCII,  # `\d` would otherwise accept any Unicode digit (e.g. fullwidth)
)

MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """Parse `P2D`, `PT2S`, `P1W2DT3H` into a timedelta; raise ValueError with a clear reason."""
    # fullmatch: with match, `$` would also accept a trailing newline ("P2D\n").
    match = _DURATION.fullmatch(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        if re.match(r"^P(\d+Y|(\d+[WD])*\d+M)", text):
            raise ValueError(
                f"duration {text!r} uses years or months, whose length varies; use days (P30D)"
            )
        raise ValueError(f"invalid ISO 8601 duration {text!r} (examples: PT2S, PT15M, P3D, P1W)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        value = timedelta(**parts)
    except OverflowError:  # e.g. P99999999999D: far beyond any timedelta
        raise ValueError(f"duration {text!r} is longer than 10 years") from None
    if value <= timedelta(0):
        raise ValueError(f"duration {text!r} must be positive")
    if value > MAX_DURATION:
        raise ValueError(f"duration {text!r} is longer than 10 years")
    return value
