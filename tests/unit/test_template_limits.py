"""Template limits hold whatever a template calls: filters, globals, methods, operators."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2.exceptions import SecurityError
from pydantic import ValidationError

from goalflow.core.templates import render, render_json, within_budget
from goalflow.core.templates.budget import MAX_RESULT, TemplateLimitError
from goalflow.core.validation import parse_automation

# The inputs that broke the limits, with their huge numbers given at render (a literal is
# refused at publish, below).
ESCAPED = [
    ("{{ lipsum(n, False, 50, 100)|length }}", {"n": 20000}),
    ("{{ 'x'|center(n) }}", {"n": 20_000_000}),
    ("{{ 'x'.center(n) }}", {"n": 100_000_000}),
    ("{{ '%*d' % (n, 1) }}", {"n": 100_000_000}),
    ("{{ '{:>100000000}'.format(1) }}", {}),
    ("{{ 'a'|replace('', 'x' * n) }}", {"n": 900_000}),
    ("{{ range(10)|batch(n, 'x')|list }}", {"n": 100_000_000}),
    ("{{ 1.5|round(n, 'floor') }}", {"n": 1_000_000_000}),
    ("{% set s = 'x' * 1000000 %}{{ [s, s] }}", {}),
    # A list nested in itself doubles its printed size at each turn, not its memory.
    (
        "{% set ns = namespace(a=['x']) %}{% for i in range(40) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a == ns.a }}",
        {},
    ),
    ("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}", {}),
    ("{% set x %}{% for i in range(2000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}", {}),
    ("{% set n = 2 ** 10000 %}{% for i in range(30) %}{% set n = n * n %}{% endfor %}", {}),
]


@pytest.mark.parametrize(("source", "context"), ESCAPED)
def test_what_escaped_the_limits_is_refused(source: str, context: dict[str, Any]) -> None:
    with pytest.raises(TemplateLimitError):
        render(source, context)


def test_five_huge_centers_in_one_step_allocate_nothing() -> None:
    body = {f"k{i}": "{{ 'x'|center(n) }}" for i in range(5)}
    with pytest.raises(TemplateLimitError, match="width"):
        within_budget(render_json, body, {"n": 100_000_000})


def test_a_step_shares_one_output_budget() -> None:
    body = {"a": "{{ 'x' * 600000 }}", "b": "{{ 'y' * 600000 }}"}
    with pytest.raises(TemplateLimitError, match="output"):
        within_budget(render_json, body, {})
    # Each alone is fine.
    assert len(within_budget(render_json, {"a": body["a"]}, {})["a"]) == 600_000


def test_methods_outside_the_allowlist_and_mutation_are_refused() -> None:
    for source in ("{{ 'a'.encode('punycode') }}", "{{ (1).to_bytes(9, 'big') }}"):
        with pytest.raises(SecurityError):
            render(source, {})
    with pytest.raises(SecurityError):
        render("{% set l = [] %}{{ l.append(1) }}", {})


def test_ordinary_templates_still_render() -> None:
    source = (
        "{{ name|title }} {{ items|join(', ') }} {{ '%05.1f'|format(3.14159) }} "
        "{{ '{:>4}'.format(7) }} {{ '<b>x</b>'|striptags }} {{ d|tojson }} "
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }} {{ ('a b c'.split())|length }}"
    )
    context = {"name": "ada", "items": ["x", "y"], "d": {"k": [1]}}
    assert render(source, context) == 'Ada x, y 003.1    7 x {"k": [1]} 3 3'


# --- fuzz: every filter and global with large arguments -------------------------------------

FILTER_CALLS = [
    "center({n})",
    "indent({n})",
    "wordwrap({n})",
    "truncate({n})",
    "batch({n})|list",
    "slice({n})|list",
    "round({n})",
    "tojson({n})",
    "replace('', s)",
    "replace('a', s)",
    "join(s)",
    "format({n})",
    "urlize({n})",
    "filesizeformat",
    "list",
    "string",
    "pprint",
    "striptags",
    "title",
    "upper",
    "escape",
    "urlencode",
    "wordcount",
    "unique|list",
    "sort",
    "reverse",
    "sum",
    "xmlattr",
    "first",
    "last",
    "int",
    "float",
    "abs",
    "length",
]
GLOBAL_CALLS = [
    "lipsum({n}, False, {n}, {n})",
    "range({n})|list",
    "'x'.ljust({n})",
    "'x'.zfill({n})",
    "s.expandtabs({n})",
    "'%{n}d' % 1",
    "'{{:{n}}}'.format(1)",
    "s * {n}",
    "[s] * {n}",
    "{n} ** {n}",
    "dict(a=s)",
    "namespace(a=s)",
    "joiner(s)()",
    "cycler(s).next()",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    call=st.sampled_from([f"value|{c}" for c in FILTER_CALLS] + GLOBAL_CALLS),
    outer=st.sampled_from(["{{ %s }}", "{{ (%s)|string|length }}", "{{ [%s, %s] }}"]),
    n=st.one_of(st.integers(0, 10), st.integers(10**5, 10**6), st.integers(10**6, 10**12)),
    size=st.sampled_from([1, 1_000, 300_000, 1_000_000]),
)
def test_fuzz_every_render_stays_within_the_limits_or_fails_clearly(
    call: str, outer: str, n: int, size: int
) -> None:
    expression = call.format(n=n)
    source = outer.replace("%s", expression)
    context = {"value": "ab <c> d\t" * (size // 9 + 1), "s": "x" * min(size, 1_000)}
    try:
        result = within_budget(render, source, context)
    except TemplateLimitError as err:
        assert str(err), "a limit error says which limit"
    except SecurityError as err:
        assert "unsafe" in str(err) or "not" in str(err)
    except MemoryError:
        raise
    except Exception as err:
        # An ordinary template error (a wrong argument type, say): the step fails with its
        # message, not retried (tests/workflows/test_webhook.py).
        assert not isinstance(err, MemoryError)
    else:
        assert len(result) <= MAX_RESULT


# --- publish -------------------------------------------------------------------------------


def _hook(**step: Any) -> dict[str, Any]:
    return {
        "name": "hook",
        "steps": [{"id": "h", "type": "webhook", "url": "https://example.com/x", **step}],
    }


def _errors(definition: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        parse_automation(definition)
    return [(tuple(e["loc"]), e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x'|center(20000000) }}",
        "{{ lipsum(20000, False, 50, 100)|length }}",
        "{{ 'x' * 10000000 }}",
        "{{ range(1000000000)|list }}",
        "{{ 'x'.ljust(100000000) }}",
    ],
)
def test_obvious_cases_are_refused_at_publish(template: str) -> None:
    errors = _errors(_hook(body={"k": template}))
    assert (("steps", 0, "body", "k"), "template_limit") in errors


def test_line_breaks_in_headers_and_from_are_refused_at_publish() -> None:
    assert (("steps", 0, "headers", "x-a\r\nb"), "line_break") in _errors(
        _hook(headers={"x-a\r\nb": "v"})
    )
    assert (("steps", 0, "headers", "x-a"), "line_break") in _errors(
        _hook(headers={"x-a": "v\r\nInjected: 1"})
    )
    assert (("steps", 0, "headers", "bad name"), "line_break") in _errors(
        _hook(headers={"bad name": "v"})
    )
    email = {
        "name": "mail",
        "steps": [
            {
                "id": "m",
                "type": "send_email",
                "subject": "s",
                "html": "h",
                "from": "a@example.com\r\nBcc: b@example.com",
            }
        ],
    }
    assert (("steps", 0, "from"), "line_break") in _errors(email)
    # A templated header name is checked once rendered, at send.
    parse_automation(_hook(headers={"x-{{ contact.id }}": "{{ contact.email }}"}))
