"""Tags compare without regard to case: `Lead-ES` and `lead-es` are one tag, kept as first
written. Pure functions for the workflows (docs/automations.md, "Tags").

Workflows that started before tags compared this way keep comparing them exactly: every function
takes `any_case`, asked only when the two ways of comparing disagree (a tag equal to another but
for case), so that the workflows ask `workflow.patched` then and only then, and a history written
before has no marker to find where it never met such a pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

AnyCase = Callable[[], bool]


def always() -> bool:
    return True


def never() -> bool:
    return False


def same_tag(given: object, tag: str, any_case: AnyCase = always) -> bool:
    """Whether the value `given` (from an event's data) names `tag`."""
    if given == tag:
        return True
    return isinstance(given, str) and given.casefold() == tag.casefold() and any_case()


def find_tag(tags: Iterable[str], tag: str, any_case: AnyCase = always) -> str | None:
    """The spelling under which `tags` holds `tag`, or None."""
    tags = list(tags)
    if tag in tags:
        return tag
    key = tag.casefold()
    for held in tags:
        if held.casefold() == key:
            return held if any_case() else None
    return None


def add_tags(tags: list[str], add: Iterable[str], any_case: AnyCase = always) -> list[str]:
    """Append the tags of `add` that `tags` does not hold yet, in order; those appended."""
    added: list[str] = []
    for tag in add:
        if find_tag(tags, tag, any_case) is None:
            tags.append(tag)
            added.append(tag)
    return added


def remove_tags(tags: list[str], remove: Iterable[str], any_case: AnyCase = always) -> list[str]:
    """Remove the tags of `remove` from `tags`; those removed, as `tags` spelled them."""
    removed: list[str] = []
    for tag in dict.fromkeys(remove):
        held = find_tag(tags, tag, any_case)
        if held is not None:
            tags.remove(held)
            removed.append(held)
    return removed


def tag_diff(
    current: list[str], wanted: list[str], any_case: AnyCase = always
) -> tuple[list[str], list[str]]:
    """What to add to and remove from `current` to make it `wanted` (a whole tag set)."""
    add = [t for t in wanted if find_tag(current, t, any_case) is None]
    remove = [t for t in current if find_tag(wanted, t, any_case) is None]
    return add, remove
