"""Sandboxed Jinja2 templates for emails, SMS and webhook bodies.

Compiled at publish time (a template that does not compile, or that asks for more than the
limits in a literal argument, is a validation error) and rendered in activities, off the event
loop. The sandbox (goalflow/core/templates/sandbox.py) refuses attribute access to internals such as
`__class__` and bounds what a render may build, write and take (goalflow/core/templates/budget.py):
a render past a limit stops with a TemplateLimitError.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes

from goalflow.core.templates.budget import (
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_RESULT,
    RENDER_SECONDS,
    Budget,
    TemplateLimitError,
    current_or_new,
    spending,
)
from goalflow.core.templates.filters import MAX_LIPSUM_WORDS, bounded_filters, bounded_globals
from goalflow.core.templates.sandbox import Sandbox

__all__ = [
    "MAX_RESULT",
    "RENDER_SECONDS",
    "Budget",
    "TemplateLimitError",
    "TemplateOverLimit",
    "compile_template",
    "render",
    "render_json",
    "within_budget",
]

_TEMPLATE_FILE = "<template>"
T = TypeVar("T")


class TemplateOverLimit(TemplateSyntaxError):
    """A template that asks for more than the limits in a literal argument."""


def _bounded(env: Sandbox) -> Sandbox:
    env.filters = bounded_filters()
    env.globals.update(bounded_globals())
    return env


def _environment() -> Sandbox:
    env = _bounded(Sandbox(autoescape=False, undefined=StrictUndefined))
    env.globals["trigger_link"] = lambda link_id: ""
    # Rendered by the email and SMS activities: the URL with the contact's booking token.
    env.globals["booking_link"] = lambda url: ""
    env.globals["checkout_link"] = lambda url: ""
    return env


_ENV = _environment()


def compile_template(source: str) -> None:
    """Raise jinja2.TemplateSyntaxError when `source` does not compile, or when it reaches for
    a private attribute (`''.__class__`, `x|attr('_y')`): the sandbox would render those
    inert anyway, but such a template is an injection attempt, refused at publish."""
    _ENV.from_string(source)
    private = next(_private_accesses(_ENV.parse(source)), None)
    if private is not None:
        name, lineno = private
        raise TemplateSyntaxError(
            f"access to {name!r} is not allowed: templates read contact fields, not internals",
            lineno,
        )
    over = next(_over_limits(_ENV.parse(source)), None)
    if over is not None:
        raise TemplateOverLimit(*over)


# Filters and methods whose literal argument would ask for more than a render may build:
# name -> (position among the arguments, keyword, limit).
_SIZE_ARGUMENTS: dict[str, tuple[int, str, int]] = {
    **dict.fromkeys(("center", "ljust", "rjust", "zfill", "indent"), (0, "width", MAX_RESULT)),
    "expandtabs": (0, "tabsize", MAX_RESULT),
    "batch": (0, "linecount", MAX_ITEMS),
    "slice": (0, "slices", MAX_ITEMS),
}


def _literal(node: nodes.Node | None) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _argument(call: nodes.Call | nodes.Filter, position: int, keyword: str) -> Any:
    if position < len(call.args):
        return _literal(call.args[position])
    return next((_literal(k.value) for k in call.kwargs if k.key == keyword), None)


def _over_limits(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    """The obvious cases of a template over the limits: a literal argument asking for too much
    (`'x'|center(20000000)`, `lipsum(20000, False, 50, 100)`, `range(10**9)` written out,
    `'x' * 10000000`). The render checks the rest."""
    for found in tree.find_all((nodes.Filter, nodes.Call, nodes.Mul, nodes.Pow)):
        node = cast(nodes.Filter | nodes.Call | nodes.Mul | nodes.Pow, found)
        if isinstance(node, nodes.Mul | nodes.Pow):
            left, right = _literal(node.left), _literal(node.right)
            if not isinstance(right, int) or isinstance(right, bool):
                continue
            if isinstance(node, nodes.Mul) and isinstance(left, str | list | tuple):
                if len(left) * right > MAX_RESULT:
                    yield f"{left!r:.20} * {right} is over {MAX_RESULT:,} characters", node.lineno
            elif (
                isinstance(node, nodes.Pow)
                and isinstance(left, int)
                and left.bit_length() * max(right, 0) > MAX_INT_BITS
            ):
                yield f"{left} ** {right} is too large a number", node.lineno
            continue
        callee = node if isinstance(node, nodes.Filter) else node.node
        name = getattr(callee, "name", None) or getattr(callee, "attr", None)
        if name in _SIZE_ARGUMENTS:
            position, keyword, limit = _SIZE_ARGUMENTS[name]
            value = _argument(node, position, keyword)
            if isinstance(value, int) and value > limit:
                yield f"{name}({value}): {value} is over the limit of {limit:,}", node.lineno
        elif isinstance(node, nodes.Call) and name == "lipsum" and isinstance(callee, nodes.Name):
            n, most = _argument(node, 0, "n"), _argument(node, 3, "max")
            n = 5 if n is None and not node.args else n
            most = 100 if most is None and len(node.args) < 4 else most
            if isinstance(n, int) and isinstance(most, int) and n * most > MAX_LIPSUM_WORDS:
                yield f"lipsum writes at most {MAX_LIPSUM_WORDS:,} words (n × max)", node.lineno
        elif isinstance(node, nodes.Call) and name == "range" and isinstance(callee, nodes.Name):
            bounds = [_literal(a) for a in node.args]
            if bounds and all(isinstance(b, int) for b in bounds) and len(bounds) <= 3:
                try:
                    length = len(range(*bounds))
                except (ValueError, OverflowError):
                    length = MAX_ITEMS + 1
                if length > MAX_ITEMS:
                    yield f"range of {length:,} numbers is over {MAX_ITEMS:,}", node.lineno


def _private_accesses(tree: nodes.Template) -> Iterator[tuple[str, int]]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            yield name, node.lineno


def trigger_link_ids(source: str) -> list[str]:
    """The literal ids passed to trigger_link(...) in a template."""
    tree = _ENV.parse(source)
    ids: list[str] = []
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "trigger_link":
            for arg in call.args:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    ids.append(arg.value)
    return ids


# Rendering environments, one per escaping mode: undefined names and null values render empty
# ("Welcome {{ contact.first_name }}" → "Welcome ", never "Welcome None") rather than failing a
# send. `trigger_link` comes with each render, so compiled templates can be shared.
def _render_env(autoescape: bool) -> Sandbox:
    env: Sandbox

    def finalize(value: Any) -> Any:
        return "" if value is None else env.text(value)

    env = _bounded(Sandbox(autoescape=autoescape, finalize=finalize))
    return env


_RENDER_ENVS = {escape: _render_env(escape) for escape in (False, True)}


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, autoescape: bool) -> Template:
    """Compiling is most of a render's cost and the sources are those of published (immutable)
    definitions, so each is compiled once per process."""
    return _RENDER_ENVS[autoescape].from_string(source)


def render(
    source: str,
    context: dict[str, Any],
    *,
    trigger_link: Callable[[str], str] | None = None,
    autoescape: bool = False,
) -> str:
    """Render in the sandbox, within the budget of the step under way (`within_budget`) or a
    budget of its own. Undefined names render empty rather than failing a send."""
    template = _compiled(source, autoescape)
    budget, _ = current_or_new()
    chunks: list[str] = []
    with spending(budget), _deadline(budget):
        for chunk in template.generate({**context, "trigger_link": trigger_link or _no_link}):
            budget.emit(chunk)
            chunks.append(chunk)
    return "".join(chunks)


def within_budget(function: Callable[..., T], *args: Any) -> T:
    """Call `function(*args)` with one budget for all the renders it makes (a step's). Meant to
    run in a worker thread: `await asyncio.to_thread(within_budget, compose, request)`."""
    with spending(Budget()):
        return function(*args)


def _no_link(link_id: str) -> str:
    return ""


class _deadline:
    """Stop template code that runs past the budget's deadline: a trace function on the
    template's own frames (nothing else is traced) looks at the clock every thousand lines.
    What templates call outside their own code is bounded by its arguments, and measuring
    values looks at the clock too."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def __enter__(self) -> None:
        check_time = self.budget.check_time
        lines = 0

        def line(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal lines
            if event == "line":
                lines += 1
                if lines % 1000 == 0:
                    check_time()
                    # Let a thread waiting for the interpreter lock (the event loop's) take
                    # it now rather than after the switch interval (5 ms).
                    time.sleep(0)
            return line

        def call(frame: FrameType, event: str, arg: Any) -> Any:
            return line if frame.f_code.co_filename == _TEMPLATE_FILE else None

        check_time()
        self.previous = sys.gettrace()
        sys.settrace(call)

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self.previous)


def render_json(value: Any, context: dict[str, Any]) -> Any:
    """Render every string inside a JSON value as a template."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_json(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_json(v, context) for k, v in value.items()}
    return value


def iter_strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, (*path, i))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, (*path, k))
