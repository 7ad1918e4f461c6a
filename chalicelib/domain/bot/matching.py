"""Matching what residents type against keywords, labels and language names.

Word-level, ignoring case and accents: "RENOVACIÓN" matches "renovacion", and "lixo" matches
"quando passa o lixo?" but not "lixeira". Arabic hamza forms (أ إ آ) fold to a bare alef and
tatweel is ignored, so common spelling variants of the same word match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+")
_TATWEEL = "\u0640"


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace(_TATWEEL, ""))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").casefold()


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize(text)))


def contains_phrase(haystack: Sequence[str], phrase: Sequence[str]) -> bool:
    """Whether the words of `phrase` appear in `haystack`, together and in order."""
    if not phrase:
        return False
    size = len(phrase)
    return any(
        tuple(haystack[i : i + size]) == tuple(phrase) for i in range(len(haystack) - size + 1)
    )


def count_matches(text_words: Sequence[str], keywords: Iterable[str]) -> int:
    return sum(1 for keyword in keywords if contains_phrase(text_words, words(keyword)))


def same_words(a: str, b: str) -> bool:
    """Equal once case, accents and punctuation are set aside: a typed menu label."""
    return bool(words(a)) and words(a) == words(b)
