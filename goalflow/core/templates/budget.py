"""What one step's templates may spend, and the measure of the values they build.

A template is a few kilobytes of text, so one that computes or allocates without end is a
mistake (or worse), and failing its step beats stalling the process. The limits:

- each value a template builds (by a filter, a function, a method, an operator, `~`, a `[...]` or
  `{...}` literal, a macro or a `{% set %}` block) holds at most MAX_RESULT characters and
  MAX_ITEMS items, counting what it contains (a list repeated inside another counts each time:
  so `==`, `string`, `tojson` and output of any value stay linear);
- all the values a step's renders build hold MAX_WORK characters and items in all;
- a step's renders write at most MAX_RESULT characters, counted as they stream;
- a step's renders take at most RENDER_SECONDS;
- integers have at most MAX_INT_DIGITS digits (Python's own limit for printing one).

Checks that an operation's arguments stay in bounds come before the operation, so that nothing
allocates past the limits or holds the interpreter in one long C call; results are measured
after. The measure walks each new object once: values are immutable in the sandbox, so the size
of what was measured before is kept (and counted against MAX_WORK once).
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator
from typing import Any

from jinja2.exceptions import SecurityError

MAX_RESULT = 1_000_000
MAX_ITEMS = 100_000
MAX_WORK = 10_000_000
MAX_INT_DIGITS = 4_300
MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
RENDER_SECONDS = 2.0

_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))
_CONTAINERS = (list, tuple, set, frozenset, dict, *_VIEWS)


class TemplateLimitError(SecurityError):
    """A render went past one of the limits: the same on every attempt."""


class Budget:
    """The limits one step's renders share (an email's subject, HTML and text; a webhook's URL,
    headers and body)."""

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.output = MAX_RESULT
        self.work = MAX_WORK
        # id -> (the object, kept alive so that its id is not reused; characters; items)
        self._sizes: dict[int, tuple[Any, int, int]] = {}

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the template ran longer than {self.seconds:g} s")

    def emit(self, text: str) -> None:
        self.output -= len(text)
        if self.output < 0:
            raise TemplateLimitError(f"the output grew past {MAX_RESULT:,} characters")

    def _charge(self, units: int) -> None:
        self.work -= units
        if self.work < 0:
            raise TemplateLimitError(
                f"the template built more than {MAX_WORK:,} characters and items in all"
            )

    def built(self, value: Any) -> Any:
        """`value`, once measured within the limits of one value."""
        self.size(value)
        self.check_time()
        return value

    def size(self, value: Any) -> tuple[int, int]:
        """(characters, items) in `value`, counting what it contains."""
        if isinstance(value, int):
            check_int_bits(value.bit_length())
            return 0, 0
        if not isinstance(value, (str, *_CONTAINERS)):
            return 0, 0  # numbers, None, and objects opaque to repr and ==
        known = self._sizes.get(id(value))
        if known is not None:
            return known[1], known[2]
        if isinstance(value, str):
            chars, items = len(value), 0
            _within(chars, items)
            self._charge(chars)
        else:
            chars, items = 0, len(value)  # type: ignore[arg-type]
            _within(chars, items)
            self._charge(items)
            for child in _children(value):
                more_chars, more_items = self.size(child)
                chars += more_chars
                items += more_items
                _within(chars, items)
        self._sizes[id(value)] = (value, chars, items)
        return chars, items


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict | type({}.items())):
        for key, item in value.items() if isinstance(value, dict) else value:
            yield key
            yield item
    else:
        yield from value


def _within(chars: int, items: int) -> None:
    if chars > MAX_RESULT:
        raise TemplateLimitError(f"a value of the template grew past {MAX_RESULT:,} characters")
    if items > MAX_ITEMS:
        raise TemplateLimitError(f"a value of the template grew past {MAX_ITEMS:,} items")


def check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateLimitError(f"a number of the template grew past {MAX_INT_DIGITS:,} digits")


def at_most(value: Any, limit: int, what: str) -> None:
    """Refuse an argument that asks for more than `limit` (a width, a count)."""
    if isinstance(value, int) and value > limit:
        raise TemplateLimitError(f"{what} {value} is over the limit of {limit:,}")


_ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


def active() -> Budget:
    """The budget of the render under way (a fresh one outside any render: compiling)."""
    return _ACTIVE.get() or Budget()


class spending:
    """Make `budget` the one that renders within this block spend from."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __enter__(self) -> Budget:
        self.token = _ACTIVE.set(self.budget)
        return self.budget

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self.token)


def current_or_new() -> tuple[Budget, bool]:
    """The budget of the step under way, or a new one (True) when no step set one."""
    budget = _ACTIVE.get()
    return (Budget(), True) if budget is None else (budget, False)
