"""The terms the console's search index stores, and those a typed query looks up.

Words of what residents write are indexed whole ("w:lixo"); residents' names by prefix
("n:mar", "n:mari", ...) so typing the start of a name finds them. Both are folded the same
way — case and accents set aside, any script kept — so "Conceição" is found by "conceicao" and
"أحمد" by "احمد"."""

from __future__ import annotations

import unicodedata

from chalicelib.domain.bot import matching

WORD_PREFIX = "w:"
NAME_PREFIX = "n:"
MIN_WORD = 3
MIN_NUMBER = 4  # "123" is noise; "2026" or a reference number is worth finding
NAME_PREFIX_MAX = 12
MAX_WORD = 64  # longer "words" (links, pasted codes) are cut, the same way when indexed and asked
MIN_PHONE_DIGITS = 6
_PHONE_CHARACTERS = frozenset("0123456789 +-()")


def _kept(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Nd":
        return str(unicodedata.digit(ch))  # Arabic-Indic and other digits become 0-9
    return ch if category.startswith("L") else " "


def normalize(text: str) -> str:
    """Folded as the bot folds what residents type (`matching.normalize`: casefolded, without
    accents or tatweel), then only letters (any script) and digits, words separated by single
    spaces."""
    return " ".join("".join(_kept(ch) for ch in matching.normalize(text)).split())


def _words(text: str) -> list[str]:
    return [word[:MAX_WORD] for word in normalize(text).split()]


def _worth_indexing(word: str) -> bool:
    if word.isdigit():
        return len(word) >= MIN_NUMBER
    return len(word) >= MIN_WORD


def text_terms(text: str | None, *, limit: int = 12) -> tuple[str, ...]:
    """ "w:<word>" for the first `limit` distinct words of at least three characters (numbers:
    four digits)."""
    if not text or limit <= 0:
        return ()
    terms: dict[str, None] = {}
    for word in _words(text):
        if _worth_indexing(word):
            terms.setdefault(WORD_PREFIX + word)
            if len(terms) >= limit:
                break
    return tuple(terms)


def name_terms(name: str | None) -> tuple[str, ...]:
    """ "n:<prefix>" for every prefix of three to twelve characters of each word of the name."""
    if not name:
        return ()
    terms: dict[str, None] = {}
    for word in _words(name):
        for size in range(MIN_WORD, min(len(word), NAME_PREFIX_MAX) + 1):
            terms.setdefault(NAME_PREFIX + word[:size])
    return tuple(terms)


def query_terms(query: str) -> tuple[str, ...]:
    """What to look up for a typed query: its longest word (the first of equals), as a name
    prefix and as a whole word. Empty when no word has three characters."""
    candidates = [word for word in _words(query) if len(word) >= MIN_WORD]
    if not candidates:
        return ()
    longest = max(candidates, key=len)
    return (NAME_PREFIX + longest[:NAME_PREFIX_MAX], WORD_PREFIX + longest)


def phone_digits(query: str) -> str | None:
    """The digits of `query` when it is a phone number: at least six digits and nothing but
    digits, spaces, "+", "-" and parentheses."""
    text = query.strip()
    if not text or not set(text) <= _PHONE_CHARACTERS:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits if len(digits) >= MIN_PHONE_DIGITS else None
