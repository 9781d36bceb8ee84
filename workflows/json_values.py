"""Equality of JSON values, as conditions, goal criteria and the contact's fields compare them."""

from __future__ import annotations

from typing import Any


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: unlike Python's `==`, `true` is not `1` and `false` is not `0`
    (numbers still compare by value: `1` equals `1.0`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)
