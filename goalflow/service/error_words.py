"""422 messages a person can act on, added to what pydantic and FastAPI say.

Every error keeps its `type` and its `loc` (clients read them); only `msg` changes, and `ctx`
gains keys:

- an id rule comes back in words, not as the regex (`ctx.pattern` keeps the regex);
- a JSON syntax error says the line and column as well as the character offset (`ctx.line`,
  `ctx.column`);
- an error inside `steps` (or `triggers`) names the step's id beside its index
  (`ctx.step_id`, `ctx.trigger_id`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Each pattern a request can fail, as a rule in words. Keyed by the regex itself (not imported):
# a rule that changes fails tests/test_error_words.py until its words change with it.
RULES_IN_WORDS: dict[str, str] = {
    # automation, step, trigger and trigger-link ids (workflows/definition/)
    r"^[a-z0-9][a-z0-9_-]{0,63}$": "must be lower-case letters, digits, '-' and '_', up to 64 "
    "characters, starting with a letter or digit",
    # contact ids (api/schemas.py)
    r"^[^\s/\x00-\x1f\x7f]{1,200}$": "must be 1 to 200 characters with no spaces, slashes or "
    "control characters",
    # bulk job ids (api/schemas.py)
    r"^[0-9a-f]{32}$": "must be 32 lower-case hexadecimal digits, the job_id the bulk request "
    "answered",
    # the Idempotency-Key header (api/routes/jobs.py)
    r"^[\x21-\x7e]{1,255}$": "must be 1 to 255 printable ASCII characters, with no spaces",
    # until_time of a wait step (workflows/definition/)
    r"^([01]\d|2[0-3]):[0-5]\d$": "must be a time of day as HH:MM on a 24-hour clock (00:00 to "
    "23:59)",
    # a webhook step's url (workflows/definition/)
    r"^https?://[^\s]+$": "must be an http:// or https:// URL with no spaces",
}

# Lists of a definition whose items have ids, and the ctx key that names the item's id.
_NAMED_ITEMS = {"steps": "step", "triggers": "trigger"}


def worded(errors: Sequence[Mapping[str, Any]], body: Any) -> list[dict[str, Any]]:
    """The errors with messages in words; `body` is the request body as FastAPI saw it (the
    parsed JSON, or the text that failed to parse)."""
    return [_worded(error, body) for error in errors]


def _worded(error: Mapping[str, Any], body: Any) -> dict[str, Any]:
    ctx = dict(error.get("ctx") or {})
    kind = error.get("type")
    loc = list(error.get("loc") or ())
    msg = str(error.get("msg", ""))
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in RULES_IN_WORDS:
        msg = RULES_IN_WORDS[ctx["pattern"]]
    elif kind == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
        position = _line_and_column(body, loc[1])
        if position is not None:
            line, column = position
            ctx |= {"line": line, "column": column}
            reason = ctx.get("error") or "not valid JSON"
            msg = f"{msg}: {reason} at line {line}, column {column} (character {loc[1]})"
    named = _named_item(loc, body)
    if named is not None:
        kind_of_item, index, item_id = named
        ctx[f"{kind_of_item}_id"] = item_id
        msg = f"{kind_of_item} {item_id!r} ({loc[1]}[{index}]): {msg}"
    answer = {**error, "msg": msg}
    if ctx:
        answer["ctx"] = ctx
    return answer


def _line_and_column(body: Any, offset: int) -> tuple[int, int] | None:
    """1-based line and column of a character offset into the body's text."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not 0 <= offset <= len(body):
        return None
    before = body[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return line, column


def _named_item(loc: list[Any], body: Any) -> tuple[str, int, str] | None:
    """("step", index, id) for an error at body.steps[index]... whose step has a string id."""
    if len(loc) < 3 or loc[0] != "body" or loc[1] not in _NAMED_ITEMS:
        return None
    index = loc[2]
    items = body.get(loc[1]) if isinstance(body, dict) else None
    if not isinstance(index, int) or not isinstance(items, list) or not 0 <= index < len(items):
        return None
    item = items[index]
    item_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(item_id, str) or not item_id or len(item_id) > 200:
        return None
    return _NAMED_ITEMS[loc[1]], index, item_id
