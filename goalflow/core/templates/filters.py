"""Jinja2's filters and globals, each bounded for the sandbox (goalflow/core/templates/sandbox.py).

Every filter's result is measured. Those whose arguments decide how much they produce, or whose
work grows faster than their input, check their arguments first; `striptags` is replaced by a
linear version (markupsafe's rescans the text for every tag). Nothing is removed: `pprint`,
`urlize`, `wordwrap`, `xmlattr` and the rest are bounded like the others.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.filters import FILTERS
from jinja2.utils import Cycler, Joiner, generate_lorem_ipsum
from markupsafe import Markup

from goalflow.core.templates.budget import (
    MAX_ITEMS,
    MAX_RESULT,
    TemplateLimitError,
    active,
    at_most,
)
from goalflow.core.templates.sandbox import TemplateNamespace, check_percent, replaced_length

# Filters written as Python loops over their text: a smaller input keeps each call short.
MAX_SLOW_TEXT = 100_000
# lipsum(n, html, min, max) writes about n × max words.
MAX_LIPSUM_WORDS = 100_000
MAX_ROUND_PRECISION = 400
MAX_JSON_INDENT = 16

_Args = dict[str, Any]


def _text_at_most(value: Any, limit: int, what: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise TemplateLimitError(f"{what} takes at most {limit:,} characters")


def _center(a: _Args) -> None:
    at_most(a.get("width"), MAX_RESULT, "the width")


def _indent(a: _Args) -> None:
    width = a.get("width", 4)
    per_line = len(width) if isinstance(width, str) else width
    lines = str(a["s"]).count("\n") + 1
    if isinstance(per_line, int) and lines * per_line + len(str(a["s"])) > MAX_RESULT:
        raise TemplateLimitError("the result of indent would be too long")


def _wordwrap(a: _Args) -> None:
    _text_at_most(a["s"], MAX_SLOW_TEXT, "wordwrap")
    wrapstring = a.get("wrapstring") or "\n"
    if isinstance(wrapstring, str) and len(a["s"]) * len(wrapstring) > MAX_RESULT:
        raise TemplateLimitError("the result of wordwrap would be too long")


def _urlize(a: _Args) -> None:
    _text_at_most(a["value"], MAX_SLOW_TEXT, "urlize")


def _replace(a: _Args) -> None:
    text = str(a["s"])
    count = a.get("count")
    if replaced_length(text, a["old"], a["new"], -1 if count is None else count) > MAX_RESULT:
        raise TemplateLimitError("the result of replace would be too long")


def _format(a: _Args) -> None:
    check_percent(str(a["value"]), a.get("kwargs") or a.get("args", ()))


def _join(a: _Args) -> None:
    value = a["value"]
    separator = a.get("d", "")
    chars, _ = active().size(value)
    if isinstance(separator, str) and chars + len(separator) * len(value) > MAX_RESULT:
        raise TemplateLimitError("the result of join would be too long")


def _batch(a: _Args) -> None:
    at_most(a.get("linecount"), MAX_ITEMS, "the batch size")


def _slice(a: _Args) -> None:
    at_most(a.get("slices"), MAX_ITEMS, "the number of slices")


def _round(a: _Args) -> None:
    precision = a.get("precision", 0)
    if isinstance(precision, int) and abs(precision) > MAX_ROUND_PRECISION:
        raise TemplateLimitError(f"round takes a precision of at most {MAX_ROUND_PRECISION}")


def _sum(a: _Args) -> None:
    if not isinstance(a.get("start", 0), int | float):
        raise TemplateLimitError("sum adds numbers: its start must be a number")


def _tojson(a: _Args) -> None:
    indent = a.get("indent")
    if isinstance(indent, str):
        indent = len(indent)
    at_most(indent, MAX_JSON_INDENT, "the indent")


# The arguments each filter checks before it runs; the others are measured after.
PRECHECKED: dict[str, Callable[[_Args], None]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "urlize": _urlize,
    "replace": _replace,
    "format": _format,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "round": _round,
    "sum": _sum,
    "tojson": _tojson,
}
# Filters whose output is at most a few times their input, or whose work is linear in it (or
# n log n, for sorting): the measure of their result is enough.
MEASURED = frozenset(
    [
        "abs",
        "attr",
        "capitalize",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "filesizeformat",
        "first",
        "float",
        "forceescape",
        "groupby",
        "int",
        "items",
        "last",
        "length",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "pprint",
        "random",
        "reject",
        "rejectattr",
        "reverse",
        "safe",
        "select",
        "selectattr",
        "sort",
        "string",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
        "xmlattr",
    ]
)
REPLACED = frozenset({"striptags"})
_PASSED = ("environment", "eval_ctx", "context")
# Join materialises its input (a generator would otherwise be measured only once joined).
_MATERIALISED = frozenset({"join"})


def _measured(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(function)
    check = PRECHECKED.get(name)
    names = [p for p in signature.parameters if p not in _PASSED]
    # Jinja2's async variants take an eval context that their signature does not show.
    hidden = int(
        getattr(function, "jinja_pass_arg", None) is not None
        and names[0] == next(iter(signature.parameters))
    )
    first = names[0]

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args[hidden:], **kwargs)
        if name in _MATERIALISED and not isinstance(bound.arguments[first], str | list | tuple):
            bound.arguments[first] = active().built(list(bound.arguments[first]))
        if check is not None:
            check(bound.arguments)
        return active().built(function(*args[:hidden], *bound.args, **bound.kwargs))

    return bounded


def _striptags(value: Any) -> str:
    """`striptags` in one pass: comments, then tags, then runs of whitespace."""
    text = str(value.__html__() if hasattr(value, "__html__") else value)
    _text_at_most(text, MAX_SLOW_TEXT, "striptags")
    for opening, closing in (("<!--", "-->"), ("<", ">")):
        parts, at = [], 0
        while (start := text.find(opening, at)) != -1:
            end = text.find(closing, start)
            if end == -1:
                break
            parts.append(text[at:start])
            at = end + len(closing)
        parts.append(text[at:])
        text = "".join(parts)
    return str(active().built(Markup(" ".join(text.split())).unescape()))


def bounded_filters() -> dict[str, Callable[..., Any]]:
    unsorted = set(FILTERS) - set(PRECHECKED) - MEASURED - REPLACED
    if unsorted:  # a new Jinja2 filter: decide how to bound it before it reaches templates
        raise RuntimeError(f"filters not bounded: {sorted(unsorted)}")
    filters = {name: _measured(name, f) for name, f in FILTERS.items() if name not in REPLACED}
    filters["striptags"] = _striptags
    return filters


def _range(*args: int) -> range:
    numbers = range(*args)
    at_most(len(numbers), MAX_ITEMS, "the length of range")
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if n * max > MAX_LIPSUM_WORDS:
        raise TemplateLimitError(f"lipsum writes at most {MAX_LIPSUM_WORDS:,} words (n × max)")
    return str(active().built(generate_lorem_ipsum(n, html, min, max)))


def bounded_globals() -> dict[str, Any]:
    names = {"range": _range, "lipsum": _lipsum, "dict": dict, "cycler": Cycler}
    names |= {"joiner": Joiner, "namespace": TemplateNamespace}
    assert names.keys() == DEFAULT_NAMESPACE.keys()
    return names
