"""Wildcard patterns (`*` matches any run of characters, everything else is literal), matched
without regexes and without backtracking.

A pattern is cut at its `*`s into literal parts. The text must start with the first part and end
with the last; the parts in between are found in order with `str.find`, each at its leftmost
place after the previous one (the classic greedy algorithm: the leftmost place of a part leaves
the most room for the parts after it, so no other place needs trying). The cost is that of the
`find`s: at most about length of text x number of parts, usually far less.

Ignoring case compares characters exactly as Python's `re.IGNORECASE` did in the `.*` regexes
this replaces: both sides are mapped, one character to one character, to the representative of
their class under `re`'s own folding (its simple lower case, then its table of extra
equivalences such as s / long s), then compared as they are. The results are those of the
regexes for every pattern and every text of at most `MAX_MATCHED_TEXT` characters
(tests/test_globs.py compares them).

Only the first `MAX_MATCHED_TEXT` characters of a text are looked at, and definitions published
now accept at most `MAX_GLOB_LENGTH` characters and `MAX_GLOB_WILDCARDS` wildcards per pattern
(checked at publish, workflows/criteria_limits.py).
"""

from __future__ import annotations

import _sre
import importlib
from functools import lru_cache

# A pattern in a definition published from now on: at most this many characters and `*`s
# (definitions already running keep theirs: the matcher takes any pattern).
MAX_GLOB_LENGTH = 2000
MAX_GLOB_WILDCARDS = 16
# A filter reads at most this many characters of the text it matches (`data.url`, `data.body`);
# the API refuses events whose `url` or `body` is longer.
MAX_MATCHED_TEXT = 4096


# The characters `re.IGNORECASE` treats as one beyond their simple lower case, by lower case.
_EXTRA_CASES: dict[int, tuple[int, ...]] = importlib.import_module("re._compiler")._EXTRA_CASES


class _Fold(dict[int, int]):
    """`str.translate` table: each character to the representative of its `re.IGNORECASE`
    class, filled in as characters are met."""

    def __missing__(self, char: int) -> int:
        lower: int = _sre.unicode_tolower(char)
        folded = min((lower, *_EXTRA_CASES.get(lower, ())))
        self[char] = folded
        return folded


_FOLD = _Fold()


@lru_cache(maxsize=256)
def _folded(text: str) -> str:
    return text.translate(_FOLD)


class _Glob:
    __slots__ = ("first", "ignore_case", "last", "middle", "parts")

    def __init__(self, pattern: str, ignore_case: bool) -> None:
        self.ignore_case = ignore_case
        self.parts = (_folded(pattern) if ignore_case else pattern).split("*")
        self.first, self.last = self.parts[0], self.parts[-1]
        self.middle = [part for part in self.parts[1:-1] if part]

    def matches(self, text: str) -> bool:
        if self.ignore_case:
            text = _folded(text)
        if len(self.parts) == 1:
            return text == self.first
        # Folding keeps lengths: one character stands for one character.
        pos, end = len(self.first), len(text) - len(self.last)
        if end < pos or not text.startswith(self.first) or not text.endswith(self.last):
            return False
        for part in self.middle:
            found = text.find(part, pos, end)
            if found < 0:
                return False
            pos = found + len(part)
        return True


@lru_cache(maxsize=1024)
def _compiled(pattern: str, ignore_case: bool) -> _Glob:
    return _Glob(pattern, ignore_case)


def glob_matches(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """Whether `text` (its first `MAX_MATCHED_TEXT` characters) is matched by `pattern` as a
    whole; `ignore_case` compares characters as `re.IGNORECASE` does."""
    return _compiled(pattern, ignore_case).matches(text[:MAX_MATCHED_TEXT])
