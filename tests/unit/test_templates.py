"""Rendering: compiled templates are shared between renders, what each render brings is not."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from goalflow.core.templates import render


def test_each_render_uses_its_own_trigger_link_and_context() -> None:
    source = "Hi {{ first_name }}: {{ trigger_link('book') }}"
    first = render(source, {"first_name": "Ada"}, trigger_link=lambda link: f"https://a/{link}")
    second = render(source, {"first_name": "Bo"}, trigger_link=lambda link: f"https://b/{link}")
    third = render(source, {"first_name": "Cy"})
    assert (first, second, third) == ("Hi Ada: https://a/book", "Hi Bo: https://b/book", "Hi Cy: ")


def test_a_contact_field_named_trigger_link_does_not_replace_the_function() -> None:
    answer = render("{{ trigger_link('x') }}", {"trigger_link": "oops"}, trigger_link=str.upper)
    assert answer == "X"


def test_escaping_depends_on_the_mode_not_on_the_previous_render() -> None:
    source = "{{ name }}"
    assert render(source, {"name": "<b>"}, autoescape=True) == "&lt;b&gt;"
    assert render(source, {"name": "<b>"}, autoescape=False) == "<b>"
    assert render(source, {"name": "<i>"}, autoescape=True) == "&lt;i&gt;"


def test_the_sandbox_still_refuses_internals_and_runaway_templates() -> None:
    with pytest.raises(SecurityError):
        render("{{ 'x' * 10000000 }}", {})
    assert render("{{ ''.__class__ }}", {}) == ""
    with pytest.raises(SecurityError):
        # 10^10 iterations: stopped by the deadline (RENDER_SECONDS), compiled template or not.
        render("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", {})
