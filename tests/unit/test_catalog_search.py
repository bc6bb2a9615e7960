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
    Term,
    index_terms,
    normalise,
    prefix_upper_bound,
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


def exact(*texts: str) -> list[Term]:
    return [Term(text, prefix=False) for text in texts]


def query_or_skip(text: str) -> list[Term]:
    """The query's terms; examples with too many terms are not what the property is about."""
    try:
        return query_terms(text)
    except InvalidArgument:
        assume(False)
        raise


def test_han_run_is_indexed_as_bigrams_and_its_last_character() -> None:
    assert list(index_terms([("机动车登记", 1)])) == ["机动", "动车", "车登", "登记", "记"]


def test_lone_han_character_is_indexed_alone() -> None:
    assert index_terms([("车", 1)]) == {"车": 1}


def test_latin_words_are_indexed_whole_and_truncated() -> None:
    long_word = "x" * (MAX_TERM + 5)
    assert index_terms([(f"Vehicle-Registration {long_word}", 1)]) == {
        "vehicle": 1,
        "registration": 1,
        "x" * MAX_TERM: 1,
    }


def test_han_and_latin_runs_split_where_the_script_changes() -> None:
    assert list(index_terms([("GB2312标准", 1)])) == ["gb2312", "标准", "准"]


def test_a_term_keeps_the_highest_weight_it_got() -> None:
    terms = index_terms([("车辆 登记", 1), ("车辆", 3), ("登记", 2), ("车辆", 1)])
    assert terms["车辆"] == 3
    assert terms["登记"] == 2
    assert terms["辆"] == 3


@given(st.text(HAN, min_size=1, max_size=30))
def test_every_character_of_an_indexed_han_run_starts_some_term(run: str) -> None:
    terms = index_terms([(run, 1)])
    for char in run:
        assert any(term.startswith(char) for term in terms)


def test_han_query_is_covered_by_every_other_bigram_and_the_last() -> None:
    assert query_terms("机动车登记信息") == exact("机动", "车登", "记信", "信息")
    assert query_terms("机动车登") == exact("机动", "车登")
    assert query_terms("机动") == exact("机动")


def test_one_han_character_is_a_prefix_query() -> None:
    assert query_terms("车") == [Term("车", prefix=True)]


def test_latin_words_of_three_characters_or_more_are_prefixes() -> None:
    assert query_terms("vehic GB id") == [
        Term("vehic", prefix=True),
        Term("gb", prefix=False),
        Term("id", prefix=False),
    ]


def test_long_query_word_is_truncated_like_the_index() -> None:
    word = "y" * (MAX_TERM + 10)
    assert query_terms(word) == [Term("y" * MAX_TERM, prefix=True)]
    assert "y" * MAX_TERM in index_terms([(word, 1)])


def test_query_terms_repeat_only_once_in_order() -> None:
    assert query_terms("登记 road 登记 ROAD") == [
        Term("登记", prefix=False),
        Term("road", prefix=True),
    ]


@given(MIXED)
def test_query_cover_terms_are_among_the_index_terms_of_the_same_text(text: str) -> None:
    terms = query_or_skip(text)
    indexed = set(index_terms([(text, 1)]))
    assert {t.text for t in terms if not t.prefix} <= indexed
    for term in terms:
        if term.prefix:
            assert any(i.startswith(term.text) for i in indexed)


def test_full_width_letters_and_digits_are_normalised_to_ascii() -> None:
    typed = full_width("GB/T 21063")
    assert normalise(typed) == "gb/t 21063"
    assert query_terms(typed) == [
        Term("gb", prefix=False),
        Term("t", prefix=False),
        Term("21063", prefix=True),
    ]
    assert set(index_terms([("GB/T 21063", 1)])) == {"gb", "t", "21063"}


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
    assert [t.text for t in query_terms(query)] == words


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


@given(st.text(min_size=1, max_size=8), st.text(max_size=8))
def test_prefix_range_holds_exactly_the_strings_with_the_prefix(prefix: str, rest: str) -> None:
    assume(prefix.rstrip("\U0010ffff"))
    upper = prefix_upper_bound(prefix)
    # Python compares str by code point, as binary collation does.
    assert prefix <= prefix + rest < upper


@given(st.text(min_size=1, max_size=6), st.integers(0, 6), st.text(max_size=6))
def test_prefix_range_holds_no_other_string(prefix: str, keep: int, rest: str) -> None:
    assume(prefix.rstrip("\U0010ffff"))
    other = prefix[:keep] + rest
    assert (prefix <= other < prefix_upper_bound(prefix)) == other.startswith(prefix)


def test_prefix_upper_bound_increments_the_last_character() -> None:
    assert prefix_upper_bound("veh") == "vei"
    assert prefix_upper_bound("车") == chr(ord("车") + 1)
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"
