"""Full-text search of the catalog through a term table, for Chinese and Latin text alike.

Text is normalised (NFKC, case-folded) and cut into runs of Han characters and runs of other
letters and digits. A resource is indexed as (term, resource, weight) rows: every character and
every overlapping bigram of a Han run, and every prefix of three to `MAX_TERM` characters of a
word (a shorter word as it is). A query becomes a few terms that the store looks up exactly, so
that a one-character query, a long phrase and an English prefix ("regist") all cost an index
lookup, never a scan or a range.

The same rows and the same lookups (`=`) work on SQLite and PostgreSQL, with no engine's
full-text syntax and no `LIKE`: user input is only ever data, never query syntax.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator

from runtime.errors import FieldViolation, InvalidArgument

MAX_QUERY = 100
MAX_TERMS = 8
# Words match by prefix up to this length: "regist" finds "registrations".
MAX_TERM = 10
MIN_PREFIX = 3

_HAN_RANGES = (
    (0x3007, 0x3007),  # IDEOGRAPHIC NUMBER ZERO, as written in Chinese years
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs (the few NFKC leaves as they are)
    (0x20000, 0x3FFFF),  # Extensions B to H and the compatibility supplement (planes 2 and 3)
)


def normalise(text: str) -> str:
    """Fold the forms a user may type alike: full-width to ASCII (NFKC), then case-fold."""
    return unicodedata.normalize("NFKC", text).casefold()


def _is_han(char: str) -> bool:
    code = ord(char)
    # isalnum() drops unassigned code points inside the ranges.
    return char.isalnum() and any(low <= code <= high for low, high in _HAN_RANGES)


def _runs(text: str) -> Iterator[tuple[bool, str]]:
    """Yield (is_han, run) for each run of Han characters or of other letters and digits."""
    run: list[str] = []
    run_is_han = False
    for char in normalise(text):
        han = _is_han(char)
        if run and (han != run_is_han or not char.isalnum()):
            yield run_is_han, "".join(run)
            run = []
        if char.isalnum():
            run.append(char)
            run_is_han = han
    if run:
        yield run_is_han, "".join(run)


def _index_run(is_han: bool, run: str) -> list[str]:
    if not is_han:
        if len(run) < MIN_PREFIX:
            return [run]
        return [run[:n] for n in range(MIN_PREFIX, min(len(run), MAX_TERM) + 1)]
    return list(run) + [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(fields: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Terms of a resource's (text, weight) fields, each with the highest weight it got."""
    terms: dict[str, int] = {}
    for text, weight in fields:
        for is_han, run in _runs(text):
            for term in _index_run(is_han, run):
                terms[term] = max(weight, terms.get(term, weight))
    return terms


def _query_run(is_han: bool, run: str) -> list[str]:
    if not is_han:
        return [run[:MAX_TERM]]
    if len(run) == 1:
        return [run]
    # Non-overlapping bigrams cover the run with half the lookups of every bigram.
    starts = list(range(0, len(run) - 1, 2))
    if len(run) % 2:
        starts.append(len(run) - 2)
    return [run[i : i + 2] for i in starts]


def query_terms(query: str) -> list[str]:
    """The terms of a user's query, in order, without repeats; [] for a blank query.

    There is no query syntax: quotes, `*`, `%`, `_` and the like separate words.
    """
    if len(query) > MAX_QUERY:
        raise InvalidArgument([FieldViolation("query", f"is longer than {MAX_QUERY} characters")])
    terms: dict[str, None] = {}
    for is_han, run in _runs(query):
        terms.update(dict.fromkeys(_query_run(is_han, run)))
    if len(terms) > MAX_TERMS:
        raise InvalidArgument(
            [FieldViolation("query", f"has more than {MAX_TERMS} search terms; use fewer words")]
        )
    return list(terms)
