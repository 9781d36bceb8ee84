"""Jinja2 templates of steps (email, SMS, webhook): rendered by the activities, compiled and
checked by the API when an automation is published. The sandbox (`sandbox.py`) refuses access to
internals, the budget (`budget.py`) bounds what a render may build, write and take, and the
filters and globals (`filters.py`) are each bounded for it."""

from goalflow.core.templates.budget import TemplateLimitError
from goalflow.core.templates.rendering import (
    TemplateOverLimit,
    compile_template,
    iter_strings,
    render,
    render_json,
    trigger_link_ids,
    within_budget,
)

__all__ = [
    "TemplateLimitError",
    "TemplateOverLimit",
    "compile_template",
    "iter_strings",
    "render",
    "render_json",
    "trigger_link_ids",
    "within_budget",
]
