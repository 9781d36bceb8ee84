"""Sandboxed Jinja2 templates for emails, SMS and webhook bodies.

Compiled at publish time (a template that does not compile is a validation error) and rendered
in activities. The sandbox refuses attribute access to internals such as `__class__`.

Templates are a few kilobytes of text, so one that computes or allocates without end is a mistake
(or worse), and failing its step beats stalling the process: publishing never evaluates anything
(constant folding is off), and a render stops with a SecurityError when `*`, `**`, `+` or `~` would
build something longer than MAX_RESULT or when it runs past RENDER_SECONDS.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# Characters (or items) one operation may produce, and seconds one render may take.
MAX_RESULT = 1_000_000
RENDER_SECONDS = 2.0
_TEMPLATE_FILE = "<template>"


class _BoundedConcat(CodeGenerator):
    """`a ~ b` checked like the operators the sandbox intercepts."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(SandboxedEnvironment):
    code_generator_class = _BoundedConcat
    # Intercepted operators go through `call_binop` at render time.
    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, **options: Any) -> None:
        # No constant folding: publishing a template must not compute `{{ 2 ** 10**9 }}`.
        super().__init__(optimized=False, **options)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_bits(left, right) > MAX_RESULT:
            raise SecurityError("the result of ** would be too large")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    _sized(sequence)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_RESULT
                ):
                    raise SecurityError("the result of * would be too long")
        return self.bounded(super().call_binop(context, operator, left, right))

    @staticmethod
    def bounded(value: Any) -> Any:
        if _sized(value) and len(value) > MAX_RESULT:
            raise SecurityError(f"a value of the template grew past {MAX_RESULT} characters")
        return value


def _sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple | bytes)


def _power_bits(base: Any, exponent: Any) -> int:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        return base.bit_length() * exponent
    return 0  # floats overflow with an error of their own


def _environment() -> SandboxedEnvironment:
    env = _Sandbox(autoescape=False, undefined=StrictUndefined)
    env.globals["trigger_link"] = lambda link_id: ""
    # Rendered by the email and SMS activities: the URL with the contact's booking token.
    env.globals["booking_link"] = lambda url: ""
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


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


# Rendering environments, one per escaping mode: undefined names and null values render empty
# ("Welcome {{ contact.first_name }}" → "Welcome ", never "Welcome None") rather than failing a
# send. `trigger_link` comes with each render, so compiled templates can be shared.
_RENDER_ENVS = {
    escape: _Sandbox(autoescape=escape, finalize=_blank_none) for escape in (False, True)
}


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
    """Render in the sandbox; undefined names render empty rather than failing a send."""
    template = _compiled(source, autoescape)
    with _deadline(RENDER_SECONDS):
        return template.render({**context, "trigger_link": trigger_link or _no_link})


def _no_link(link_id: str) -> str:
    return ""


class _deadline:
    """Stop template code that runs past `seconds`: a trace function on the template's own
    frames (nothing else is traced) looks at the clock every thousand lines."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        until = time.monotonic() + self.seconds
        lines = 0

        def line(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal lines
            if event == "line":
                lines += 1
                if lines % 1000 == 0 and time.monotonic() > until:
                    raise SecurityError(f"the template ran longer than {self.seconds} s")
            return line

        def call(frame: FrameType, event: str, arg: Any) -> Any:
            return line if frame.f_code.co_filename == _TEMPLATE_FILE else None

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
