"""The sandbox templates run in: Jinja2's immutable sandbox, with every way of building a value
checked against the limits of goalflow/core/templates/budget.py.

- Operators `+ - * / // % **` and `~` go through `call_binop` / `joined`: a repetition, a sum of
  sequences, a power, a product of integers or a `%` format is refused before it is computed
  when its result would be too large.
- `[...]`, `(...)` and `{...}` literals, the results of calls, methods and filters, and the
  buffers of macros and `{% set %}` blocks are measured.
- Methods of strings, numbers, lists and dicts are an allowlist: those that take a width or a
  count check it first (`center`, `ljust`, `rjust`, `zfill`, `expandtabs`, `replace`, `join`,
  `format`, `format_map`); `encode`, `translate`, `maketrans`, `to_bytes` and any method not
  listed are refused. Lists and dicts cannot be changed (`append`, `update`, ...), so what was
  measured stays measured.
- Anything turned into text (output, `~`, `string`) is measured first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from string import Formatter
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from goalflow.core.templates.budget import (
    MAX_ITEMS,
    MAX_RESULT,
    TemplateLimitError,
    active,
    at_most,
    check_int_bits,
)


class _Generator(CodeGenerator):
    """Compiles `~` and literals so that what they build is measured."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.joined({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # a target: `{% for a, b in ... %}`
            super().visit_Tuple(node, frame)
            return
        self.write("environment.built(")
        super().visit_Tuple(node, frame)
        self.write(")")


def _bounded_concat(parts: Iterable[str]) -> str:
    """The buffers of macros, `{% set %}` and `{% filter %}` blocks (Jinja2's `concat`)."""
    parts = list(parts)
    if sum(map(len, parts)) > MAX_RESULT:
        raise TemplateLimitError(f"a block of the template grew past {MAX_RESULT:,} characters")
    return str(active().built("".join(parts)))


class TemplateNamespace(Namespace):
    """`namespace()`: opaque to repr, so a list of namespaces stays cheap to print."""

    def __repr__(self) -> str:
        return "<namespace>"


class Sandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _Generator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    concat = staticmethod(_bounded_concat)

    def __init__(self, **options: Any) -> None:
        # No constant folding: publishing a template must not compute `{{ 2 ** 10**9 }}`.
        super().__init__(optimized=False, **options)

    @staticmethod
    def built(value: Any) -> Any:
        return active().built(value)

    def text(self, value: Any) -> Any:
        """`value` as text, measured: what `{{ }}` and `~` write."""
        if isinstance(value, str):
            return value
        budget = active()
        budget.built(value)
        return budget.built(str(value))

    def joined(self, join: Callable[[Iterable[Any]], str], items: Iterable[Any]) -> str:
        texts = [self.text(item) for item in items]
        if sum(map(len, texts)) > MAX_RESULT:
            raise TemplateLimitError(f"the result of ~ would pass {MAX_RESULT:,} characters")
        return str(self.built(join(texts)))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return self.built(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        result = super().call(__context, __obj, *args, **kwargs)
        return result if isinstance(__obj, Macro) else __self.built(result)

    def getattr(self, obj: Any, attribute: str) -> Any:
        return self._guarded(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if isinstance(argument, slice):
            return self.built(value)
        if isinstance(argument, str):
            return self._guarded(obj, argument, value)
        return value

    def _guarded(self, obj: Any, name: str, value: Any) -> Any:
        """A method of a built-in value, as the allowlist lets it be called."""
        if not callable(value) or not isinstance(obj, _GUARDED_TYPES):
            return value
        policy = next(table for types, table in _METHODS if isinstance(obj, types))
        if name not in policy:
            return self.unsafe_undefined(obj, name)
        check = policy[name]

        def method(*args: Any, **kwargs: Any) -> Any:
            if check is not None:
                check(obj, *args, **kwargs)
            return self.built(value(*args, **kwargs))

        return method


def _check_binop(operator: str, left: Any, right: Any) -> None:
    budget = active()
    if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
        check_int_bits(left.bit_length() * right)
    elif operator == "*":
        if _is_int(left) and _is_int(right):
            check_int_bits(left.bit_length() + right.bit_length())
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and _is_int(times) and times > 0:
                chars, items = budget.size(sequence)
                if chars * times > MAX_RESULT or items * times > MAX_ITEMS:
                    raise TemplateLimitError("the result of * would be too large")
    elif operator == "+" and isinstance(left, str | list | tuple):
        if isinstance(right, str | list | tuple):
            (c1, i1), (c2, i2) = budget.size(left), budget.size(right)
            if c1 + c2 > MAX_RESULT or i1 + i2 > MAX_ITEMS:
                raise TemplateLimitError("the result of + would be too large")
    elif operator == "%" and isinstance(left, str):
        check_percent(left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


# `%` conversions: a width or precision, given or taken from the arguments (`*`).
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def check_percent(template: str, args: Any) -> None:
    """`template % args` (the `%` operator, the `format` filter): no width or precision over
    MAX_RESULT, whether written or passed."""
    star = False
    for match in _PERCENT.finditer(template):
        for part in match.groups():
            if part == "*":
                star = True
            elif part is not None:
                at_most(int(part), MAX_RESULT, "the format width")
    if star:
        for value in args if isinstance(args, tuple) else (args,):
            at_most(value, MAX_RESULT, "the format width")


def check_format(template: str, *args: Any, **kwargs: Any) -> None:
    """`str.format`: no width or precision over MAX_RESULT; nested fields (`{:{w}}`), whose
    width comes from the arguments, are refused."""
    for _, field, spec, _ in Formatter().parse(template):
        if field is None or not spec:
            continue
        if "{" in spec:
            raise TemplateLimitError("nested format fields ({:{width}}) are not allowed")
        for digits in _DIGITS.findall(spec):
            at_most(int(digits), MAX_RESULT, "the format width")


def _check_width(text: str, width: Any = 0, *args: Any, **kwargs: Any) -> None:
    at_most(kwargs.get("width", width), MAX_RESULT, "the width")


def _check_expandtabs(text: str, tabsize: Any = 8, **kwargs: Any) -> None:
    tabsize = kwargs.get("tabsize", tabsize)
    if isinstance(tabsize, int) and tabsize * text.count("\t") + len(text) > MAX_RESULT:
        raise TemplateLimitError("the result of expandtabs would be too long")


def replaced_length(text: str, old: Any, new: Any, count: Any = -1) -> int:
    """An upper bound of len(text.replace(old, new, count))."""
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    times = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * max(0, len(new) - len(old))


def _check_replace(text: str, old: Any = "", new: Any = "", count: Any = -1, **kw: Any) -> None:
    if replaced_length(text, old, new, kw.get("count", count)) > MAX_RESULT:
        raise TemplateLimitError("the result of replace would be too long")


def _check_join(separator: str, iterable: Any = (), *args: Any) -> None:
    if not isinstance(iterable, str | list | tuple):
        raise TemplateLimitError("join takes a list here: add |list")
    chars, _ = active().size(iterable)
    if chars + len(separator) * len(iterable) > MAX_RESULT:
        raise TemplateLimitError("the result of join would be too long")


_Check = Callable[..., None] | None
_PLAIN: list[str] = [
    "capitalize",
    "casefold",
    "count",
    "endswith",
    "find",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "lower",
    "lstrip",
    "partition",
    "removeprefix",
    "removesuffix",
    "rfind",
    "rindex",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "upper",
    "unescape",
]
_STR_METHODS: dict[str, _Check] = {
    **dict.fromkeys(_PLAIN),
    **dict.fromkeys(("center", "ljust", "rjust", "zfill"), _check_width),
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "join": _check_join,
    "format": check_format,
    "format_map": check_format,
}
_NUMBER_METHODS: dict[str, _Check] = dict.fromkeys(
    ("bit_length", "bit_count", "conjugate", "as_integer_ratio", "is_integer", "hex")
)
_SEQUENCE_METHODS: dict[str, _Check] = dict.fromkeys(
    ("index", "count", "copy", "keys", "values", "items", "get")
)
_METHODS: tuple[tuple[type | tuple[type, ...], dict[str, _Check]], ...] = (
    (str, _STR_METHODS),
    ((int, float), _NUMBER_METHODS),
    ((list, tuple, dict, set, frozenset), _SEQUENCE_METHODS),
)
_GUARDED_TYPES = (str, int, float, list, tuple, dict, set, frozenset)
