"""Matching typed words against keywords and labels, forgiving one small typo in long words."""

from __future__ import annotations

import pytest

from chalicelib.domain.bot.matching import (
    contains_phrase,
    keyword_score,
    same_words,
    similar_word,
    similar_words,
    within_one_edit,
    words,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("recolha", "recolha", True),
        ("recolha", "recolah", True),  # neighbours swapped
        ("recolha", "rcolha", True),  # one missing
        ("recolha", "recolhaa", True),  # one extra
        ("recolha", "recolhe", True),  # one wrong
        ("recolha", "xecolha", True),
        ("recolha", "ecolhar", False),  # two edits
        ("recolha", "rceolah", False),
        ("recolha", "recolhiia", False),
        ("ab", "ba", True),
        ("", "a", True),
        ("", "ab", False),
        ("abc", "cba", False),
    ],
)
def test_within_one_edit(a: str, b: str, expected: bool) -> None:
    assert within_one_edit(a, b) is expected
    assert within_one_edit(b, a) is expected


def test_only_words_of_five_letters_or_more_forgive_a_typo() -> None:
    assert similar_word("garbage", "garbgae")
    assert similar_word("lixo", "lixo")
    assert not similar_word("lixo", "luxo")
    assert not similar_word("visa", "vista")
    assert similar_word("visto", "vista")
    assert not similar_word("12345", "12346")  # numbers are exact


def test_words_ignore_case_accents_punctuation_and_tatweel() -> None:
    assert words("RENOVACIÓN, ¿dónde?") == ("renovacion", "donde")
    assert words("تـأشيرة") == words("تاشيرة")
    assert same_words("Recolha de LIXO!", "recolha de lixo")
    assert not same_words("", "")


def test_phrases_match_together_and_in_order() -> None:
    text = words("when do bulky items go")
    assert contains_phrase(text, ("bulky", "items"))
    assert not contains_phrase(text, ("items", "bulky"))
    assert not contains_phrase(words("bulky itens"), ("bulky", "items"))
    assert contains_phrase(words("bulky itens"), ("bulky", "items"), forgive_typos=True)
    assert not contains_phrase(text, ())


def test_keyword_score_counts_exact_matches_apart() -> None:
    assert keyword_score(words("garbge and rubbish"), ["garbage", "rubbish", "lixo"]) == (2, 1)
    assert keyword_score(words("nothing"), ["garbage"]) == (0, 0)


def test_similar_words_needs_the_same_number_of_words() -> None:
    assert similar_words("reportar um problma", "Reportar um problema")
    assert not similar_words("reportar problema", "Reportar um problema")
    assert not similar_words("anything", "")
