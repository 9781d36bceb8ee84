"""Sandboxed Jinja2 templates for emails, SMS and webhook bodies.

Compiled at publish time (a template that does not compile is a validation error) and rendered
in activities. The sandbox refuses attribute access to internals such as `__class__`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
    env.globals["trigger_link"] = lambda link_id: ""
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


def render(
    source: str,
    context: dict[str, Any],
    *,
    trigger_link: Callable[[str], str] | None = None,
    autoescape: bool = False,
) -> str:
    """Render in a fresh sandbox; undefined names render empty rather than failing a send."""
    env = SandboxedEnvironment(autoescape=autoescape)
    env.globals["trigger_link"] = trigger_link or (lambda link_id: "")
    return env.from_string(source).render(**context)


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
