"""The languages of the pages people read: the dashboard and the pages a contact opens from an
email (unsubscribe, a link that is not valid). English and Spanish.

Every string lives in one catalogue per language, under the same keys (a test compares them):
the dashboard's and the contact's pages in `api/i18n/en.py` / `es.py`, the builder's in
`en_builder.py` / `es_builder.py` (a key in both parts stops the import). `translator(language)`
looks one up and fills in its `{placeholders}`. Messages are plain text: pages escape them like
any other value.

Which language:
- the dashboard: `?lang=es` / `?lang=en` (then remembered in the `goalflow_lang` cookie), else
  the cookie, else the browser's `Accept-Language`, else English;
- a contact's page: the contact's `locale` profile field when it names a language we have, else
  `Accept-Language`, else English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Literal, cast

from api.i18n import en, en_builder, es, es_builder


def _catalogue(*parts: Mapping[str, str]) -> Mapping[str, str]:
    merged: dict[str, str] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        if twice:
            raise RuntimeError(f"messages defined in two parts of a catalogue: {sorted(twice)}")
        merged.update(part)
    return merged


Language = Literal["en", "es"]
DEFAULT: Language = "en"
CATALOGUES: dict[Language, Mapping[str, str]] = {
    "en": _catalogue(en.MESSAGES, en_builder.MESSAGES),
    "es": _catalogue(es.MESSAGES, es_builder.MESSAGES),
}
# What each language is called in itself: the dashboard's language switch.
NAMES: dict[Language, str] = {"en": "English", "es": "Español"}
Translate = Callable[..., str]

# RFC 5646's well-formed language tag (a langtag or a private use tag), letters in any case.
_ALNUM = "[a-z0-9]"
_LANGTAG = (
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"  # language (with extlang)
    r"(?:-[a-z]{4})?"  # script
    r"(?:-(?:[a-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9a-wyz](?:-{_ALNUM}{{2,8}})+)*"  # extensions
    rf"(?:-x(?:-{_ALNUM}{{1,8}})+)?"  # private use
)
_BCP47 = re.compile(rf"(?:{_LANGTAG}|x(?:-{_ALNUM}{{1,8}})+)", re.IGNORECASE)
MAX_TAG_LENGTH = 64


def is_language_tag(tag: str) -> bool:
    """Whether `tag` is a well-formed BCP 47 language tag (`es`, `es-MX`, `zh-Hant-TW`)."""
    return len(tag) <= MAX_TAG_LENGTH and _BCP47.fullmatch(tag) is not None


def language_of(tag: object) -> Language | None:
    """The language of ours a BCP 47 tag names (by its primary subtag), if any."""
    if not isinstance(tag, str) or not is_language_tag(tag.strip()):
        return None
    primary = tag.strip().split("-", 1)[0].lower()
    return cast(Language, primary) if primary in CATALOGUES else None


def from_accept_language(header: str | None) -> Language | None:
    """The first language of ours the `Accept-Language` header asks for, by quality (RFC 9110);
    None when it names none of them."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:2000].split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        match = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and match is None:
            continue
        if match is not None:
            quality = float(match.group(1))
        if quality > 0:
            ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        found = language_of(tag)
        if found is not None:
            return found
    return None


def contact_language(locale: object, accept_language: str | None) -> Language:
    """A contact's page: its `locale`, else what its browser asks for, else English."""
    return language_of(locale) or from_accept_language(accept_language) or DEFAULT


def translator(language: Language) -> Translate:
    """`t(key, **values)`: the message in `language` with its placeholders filled in."""
    catalogue = CATALOGUES[language]

    def translate(key: str, /, **values: object) -> str:
        message = catalogue[key]
        return message.format(**values) if values else message

    return translate
