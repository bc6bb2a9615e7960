"""Catalog search terms: what a resource is indexed under, what a query looks up, and that every
query term finds the text it was typed from."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.errors import InvalidArgument
from services.catalog.search import (
    MAX_QUERY,
    MAX_TERM,
    MAX_TERMS,
    MIN_PREFIX,
    index_terms,
    normalise,
    query_terms,
)


def full_width(ascii_text: str) -> str:
    """The text as typed with a Chinese input method: full-width forms and ideographic space."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) for c in ascii_text)


HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
# Han, Latin, digits, full-width letters, punctuation and spaces, mixed as users type them.
MIXED = st.text(
    st.one_of(
        HAN,
        st.sampled_from("abcxyzABCXYZ019 ,.;'\"%_*\\-()、。" + full_width("aB9 ()")),
        st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),
    ),
    max_size=24,
)


def query_or_skip(text: str) -> list[str]:
    """The query's terms; examples with too many terms are not what the property is about."""
    try:
        return query_terms(text)
    except InvalidArgument:
        assume(False)
        raise


def test_han_run_is_indexed_as_characters_and_bigrams() -> None:
    assert list(index_terms([("机动车", 1)])) == ["机", "动", "车", "机动", "动车"]


def test_lone_han_character_is_indexed_alone() -> None:
    assert index_terms([("车", 1)]) == {"车": 1}


def test_latin_words_are_indexed_by_their_prefixes() -> None:
    assert list(index_terms([("Vehicles", 1)])) == [
        "veh",
        "vehi",
        "vehic",
        "vehicl",
        "vehicle",
        "vehicles",
    ]
    long_word = "registrations"
    assert max(index_terms([(long_word, 1)]), key=len) == long_word[:MAX_TERM]
    # words shorter than a prefix are indexed as they are
    assert index_terms([("GB id", 1)]) == {"gb": 1, "id": 1}


def test_han_and_latin_runs_split_where_the_script_changes() -> None:
    assert list(index_terms([("GB2312标准", 1)])) == [
        "gb2",
        "gb23",
        "gb231",
        "gb2312",
        "标",
        "准",
        "标准",
    ]


def test_a_term_keeps_the_highest_weight_it_got() -> None:
    terms = index_terms([("车辆 登记", 1), ("车辆", 3), ("登记", 2), ("车辆", 1)])
    assert terms["车辆"] == 3
    assert terms["登记"] == 2
    assert terms["辆"] == 3


def test_han_query_is_covered_by_every_other_bigram_and_the_last() -> None:
    assert query_terms("机动车登记信息") == ["机动", "车登", "记信", "信息"]
    assert query_terms("机动车登") == ["机动", "车登"]
    assert query_terms("机动") == ["机动"]


def test_one_han_character_is_looked_up_as_it_is() -> None:
    assert query_terms("车") == ["车"]


def test_latin_words_are_looked_up_as_typed_up_to_the_prefix_length() -> None:
    assert query_terms("vehic GB id registrations") == ["vehic", "gb", "id", "registrati"]


def test_query_terms_repeat_only_once_in_order() -> None:
    assert query_terms("登记 road 登记 ROAD") == ["登记", "road"]


@given(MIXED)
def test_every_query_term_is_indexed_for_the_text_it_was_typed_from(text: str) -> None:
    terms = query_or_skip(text)
    assert set(terms) <= set(index_terms([(text, 1)]))


@given(st.text(HAN, min_size=1, max_size=12), st.text(HAN, max_size=12), st.text(HAN, max_size=12))
def test_any_part_of_an_indexed_han_text_finds_it(before: str, part: str, after: str) -> None:
    # given a text holding `part` / when `part` is the query / then all its terms are indexed
    assume(part)
    assert set(query_terms(part)) <= set(index_terms([(before + part + after, 1)]))


@given(st.text(st.sampled_from("abcdefghij"), min_size=MIN_PREFIX, max_size=20))
def test_any_prefix_of_a_word_finds_it(word: str) -> None:
    for length in range(MIN_PREFIX, len(word) + 1):
        assert set(query_terms(word[:length])) <= set(index_terms([(word, 1)]))


def test_full_width_letters_and_digits_are_normalised_to_ascii() -> None:
    typed = full_width("GB/T 21063")
    assert normalise(typed) == "gb/t 21063"
    assert query_terms(typed) == ["gb", "t", "21063"]
    assert set(query_terms(typed)) <= set(index_terms([("GB/T 21063", 1)]))


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("'; DROP TABLE x; --", ["drop", "table", "x"]),
        ('"a" OR 1=1', ["a", "or", "1"]),
        ("%_\\*", []),
        ("name:车辆 AND (NOT x*)", ["name", "车辆", "and", "not", "x"]),
        ("", []),
        ("   \t\u3000 ", []),
    ],
)
def test_query_syntax_of_any_engine_is_plain_text(query: str, words: list[str]) -> None:
    assert query_terms(query) == words


@given(st.text(max_size=MAX_QUERY))
def test_no_input_up_to_the_limit_raises_anything_but_too_many_terms(text: str) -> None:
    try:
        query_terms(text)
    except InvalidArgument as error:
        assert [v.field for v in error.violations] == ["query"]
        assert "more than" in error.violations[0].description


def test_query_over_the_length_limit_is_rejected_on_query() -> None:
    query_terms("a" * MAX_QUERY)
    with pytest.raises(InvalidArgument) as caught:
        query_terms("a" * (MAX_QUERY + 1))
    assert [v.field for v in caught.value.violations] == ["query"]
    assert str(MAX_QUERY) in caught.value.violations[0].description


def test_query_with_too_many_terms_is_rejected_on_query() -> None:
    query_terms(" ".join("abcdefgh"))
    with pytest.raises(InvalidArgument) as caught:
        query_terms(" ".join("abcdefghi"))
    assert [v.field for v in caught.value.violations] == ["query"]
    assert f"more than {MAX_TERMS} search terms" in caught.value.violations[0].description
