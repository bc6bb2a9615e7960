"""Full-text search of the catalog through a term table, for Chinese and Latin text alike.

Text is normalised (NFKC, case-folded) and cut into runs of Han characters and runs of other
letters and digits. A resource is indexed as (term, resource, weight) rows: every overlapping
bigram of a Han run plus the run's last character, and every word (at most `MAX_TERM`
characters). A query becomes a few `Term`s that the store looks up exactly or as a prefix.

The same rows and the same lookups (`=` and a range scan) work on SQLite and PostgreSQL, with no
engine's full-text syntax and no `LIKE`: user input is only ever data, never query syntax.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from runtime.errors import FieldViolation, InvalidArgument

MAX_QUERY = 100
MAX_TERMS = 8
MAX_TERM = 32

_HAN_RANGES = (
    (0x3007, 0x3007),  # IDEOGRAPHIC NUMBER ZERO, as written in Chinese years
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs (the few NFKC leaves as they are)
    (0x20000, 0x3FFFF),  # Extensions B to H and the compatibility supplement (planes 2 and 3)
)
_SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True)
class Term:
    """One term of a query: `prefix` matches every indexed term that starts with `text`."""

    text: str
    prefix: bool


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
        return [run[:MAX_TERM]]
    # The last character alone makes every character the start of some term, so that a
    # one-character query is a prefix lookup.
    return [run[i : i + 2] for i in range(len(run) - 1)] + [run[-1]]


def index_terms(fields: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Terms of a resource's (text, weight) fields, each with the highest weight it got."""
    terms: dict[str, int] = {}
    for text, weight in fields:
        for is_han, run in _runs(text):
            for term in _index_run(is_han, run):
                terms[term] = max(weight, terms.get(term, weight))
    return terms


def _query_run(is_han: bool, run: str) -> list[Term]:
    if not is_han:
        word = run[:MAX_TERM]
        # Two characters as a prefix would match most of the table.
        return [Term(word, prefix=len(word) >= 3)]
    if len(run) == 1:
        return [Term(run, prefix=True)]
    # Non-overlapping bigrams cover the run with half the lookups of every bigram.
    starts = list(range(0, len(run) - 1, 2))
    if len(run) % 2:
        starts.append(len(run) - 2)
    return [Term(run[i : i + 2], prefix=False) for i in starts]


def query_terms(query: str) -> list[Term]:
    """The terms of a user's query, in order, without repeats; [] for a blank query.

    There is no query syntax: quotes, `*`, `%`, `_` and the like separate words.
    """
    if len(query) > MAX_QUERY:
        raise InvalidArgument([FieldViolation("query", f"is longer than {MAX_QUERY} characters")])
    terms: dict[Term, None] = {}
    for is_han, run in _runs(query):
        terms.update(dict.fromkeys(_query_run(is_han, run)))
    if len(terms) > MAX_TERMS:
        raise InvalidArgument(
            [FieldViolation("query", f"has more than {MAX_TERMS} search terms; use fewer words")]
        )
    return list(terms)


def prefix_upper_bound(text: str) -> str:
    """The exclusive upper bound of the terms that start with `text`.

    The term column uses binary collation (SQLite's default BINARY, PostgreSQL's `COLLATE "C"`),
    so strings sort by UTF-8 bytes, which is code-point order, and
    `text <= term < prefix_upper_bound(text)` selects exactly the terms starting with `text`
    through the column's b-tree index. (`text + "\\U0010ffff"` would miss terms continuing with
    U+10FFFF itself and, under a linguistic collation, be no bound at all.)
    """
    head = text.rstrip("\U0010ffff")
    if not head:
        raise ValueError("no string is greater than every string starting with U+10FFFF")
    code = ord(head[-1]) + 1
    if code in _SURROGATES:
        # Surrogates cannot be encoded in UTF-8; no stored string contains one.
        code = _SURROGATES.stop
    return head[:-1] + chr(code)
