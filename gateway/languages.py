"""The language of a problem's words: `Accept-Language` (RFC 9110 section 12.5.4) negotiated
against the two the gateway writes, English (`en`) and Simplified Chinese (`zh-CN`).

A language range is matched by lookup (RFC 4647 section 3.4): `en-US` and `en-GB` are served
`en`; `zh`, `zh-CN`, `zh-Hans`, `zh-SG` are served `zh-CN`. Traditional Chinese (`zh-Hant`,
`zh-TW`, `zh-HK`, `zh-MO`) is not: the gateway has no Traditional text, and a reader who also
reads Simplified says so with `zh`. The most specific range that matches a language gives its
weight; `*` weighs the languages no other range names; `q=0` refuses. Among equal weights the
language the client named first wins, then English.

English is the default (no header, a header naming neither, or a malformed one) because the
first clients are API clients and scripts that match on the English words; the portal sends
the reader's language. A malformed element is skipped, never an error: the header only ever
chooses words, so a bad one costs the client nothing but its preference.
"""

from __future__ import annotations

import re

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)
DEFAULT = ENGLISH

# RFC 9110 section 12.5.4: language-range (RFC 4647) and weight; optional whitespace around.
_RANGE = re.compile(r"\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_WEIGHT = re.compile(r"[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})
# No client names more languages than this; a longer header is read only this far.
_MAX_RANGES = 32


def _language(language_range: str) -> str | None:
    """The language the gateway writes for a (non-wildcard) range, if any."""
    primary, *rest = language_range.lower().split("-")
    if primary == "en":
        return ENGLISH
    if primary == "zh" and not _TRADITIONAL.intersection(rest):
        return CHINESE
    return None


def _ranges(header: str) -> list[tuple[str, float]]:
    """The well-formed (range, weight) pairs of the header, in its order."""
    out: list[tuple[str, float]] = []
    for element in header.split(",")[:_MAX_RANGES]:
        language_range, *params = (part.strip() for part in element.split(";"))
        if not _RANGE.fullmatch(language_range):
            continue
        weight = 1.0
        if params:
            matched = _WEIGHT.fullmatch(params[0]) if len(params) == 1 else None
            if matched is None:
                continue  # only `q` is defined; anything else makes the element unreadable
            weight = float(matched[1])
        out.append((language_range, weight))
    return out


def negotiate(header: str | None, *, default: str = DEFAULT) -> str:
    """The language to write in for this `Accept-Language` value (None: the header is absent);
    `default` when it names neither (English for the API, Chinese for pages people read)."""
    if not header:
        return default
    # language -> (specificity of the range that gave the weight, weight, position named)
    chosen: dict[str, tuple[int, float, int]] = {}
    wildcard: tuple[float, int] | None = None
    for position, (language_range, weight) in enumerate(_ranges(header)):
        if language_range == "*":
            if wildcard is None:
                wildcard = (weight, position)
            continue
        language = _language(language_range)
        if language is None:
            continue
        specificity = language_range.count("-") + 1
        best = chosen.get(language)
        if best is None or specificity > best[0]:
            chosen[language] = (specificity, weight, position)
    candidates: list[tuple[float, int, int, str]] = []
    for language in LANGUAGES:
        if language in chosen:
            _, weight, position = chosen[language]
        elif wildcard is not None:
            weight, position = wildcard
        else:
            continue
        if weight > 0:
            candidates.append((weight, -position, language == default, language))
    if not candidates:
        return default
    return max(candidates)[3]
