"""Matching what residents type against keywords, labels and language names.

Word-level, ignoring case and accents: "RENOVACIÓN" matches "renovacion", and "lixo" matches
"quando passa o lixo?" but not "lixeira". Arabic hamza forms (أ إ آ) fold to a bare alef and
tatweel is ignored, so common spelling variants of the same word match.

Keywords and labels also forgive one small typo in a word of at least five letters (one letter
missing, extra, wrong, or two neighbours swapped): "recolah" finds "recolha". Shorter words must
be exact, or "lixo" would find "luxo". Opt-out keywords use `same_words`, exact, on purpose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence

_WORD = re.compile(r"\w+")
_TATWEEL = "\u0640"
TYPO_MIN_LENGTH = 5


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace(_TATWEEL, ""))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").casefold()


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize(text)))


def within_one_edit(a: str, b: str) -> bool:
    """Damerau–Levenshtein (optimal string alignment) distance of `a` and `b` is at most 1."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    prefix = 0
    while prefix < len(a) and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) < len(b):  # one letter more in b
        return a[prefix:] == b[prefix + 1 :]
    if a[prefix + 1 :] == b[prefix + 1 :]:  # one letter replaced
        return True
    return (  # two neighbours swapped
        prefix + 1 < len(a)
        and a[prefix] == b[prefix + 1]
        and a[prefix + 1] == b[prefix]
        and a[prefix + 2 :] == b[prefix + 2 :]
    )


def similar_word(expected: str, typed: str) -> bool:
    """`typed` is `expected`, or `expected` (≥ 5 letters) with one small typo."""
    if expected == typed:
        return True
    return (
        len(expected) >= TYPO_MIN_LENGTH and expected.isalpha() and within_one_edit(expected, typed)
    )


def contains_phrase(
    haystack: Sequence[str],
    phrase: Sequence[str],
    *,
    forgive_typos: bool = False,
    real_words: Collection[str] = frozenset(),
) -> bool:
    """Whether the words of `phrase` appear in `haystack`, together and in order. With
    `forgive_typos`, a word of `haystack` may be one small typo away, unless it is one of
    `real_words` (then it means what it says)."""
    if not phrase:
        return False
    size = len(phrase)
    for start in range(len(haystack) - size + 1):
        window = haystack[start : start + size]
        if tuple(window) == tuple(phrase):
            return True
        if forgive_typos and all(
            expected == typed or (typed not in real_words and similar_word(expected, typed))
            for expected, typed in zip(phrase, window, strict=True)
        ):
            return True
    return False


def keyword_score(
    text_words: Sequence[str], keywords: Iterable[str], *, real_words: Collection[str] = frozenset()
) -> tuple[int, int]:
    """(keywords found allowing typos, keywords found exactly): compare FAQs by this."""
    found = exact = 0
    for keyword in keywords:
        phrase = words(keyword)
        if contains_phrase(text_words, phrase):
            found, exact = found + 1, exact + 1
        elif contains_phrase(text_words, phrase, forgive_typos=True, real_words=real_words):
            found += 1
    return found, exact


def same_words(a: str, b: str) -> bool:
    """Equal once case, accents and punctuation are set aside: a typed menu label."""
    return bool(words(a)) and words(a) == words(b)


def similar_words(typed: str, expected: str) -> bool:
    """`same_words`, forgiving one small typo in each long word of `expected`."""
    typed_words, expected_words = words(typed), words(expected)
    return (
        bool(expected_words)
        and len(typed_words) == len(expected_words)
        and all(map(similar_word, expected_words, typed_words))
    )
