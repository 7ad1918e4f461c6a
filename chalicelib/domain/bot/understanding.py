"""Recognising what an inbound message is: a tap on one of our rows, a typed label, a keyword."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from chalicelib.domain.bot.definition import FaqEntry, MenuItem, MunicipalityDefinition
from chalicelib.domain.bot.matching import (
    contains_phrase,
    keyword_score,
    same_words,
    similar_words,
    words,
)
from chalicelib.domain.bot.phrasebook import LANGUAGE_ROW
from chalicelib.domain.bot.turns import BotInput
from chalicelib.domain.bot.vocabulary import vocabulary

_T = TypeVar("_T")

# Message types whose text is something the resident typed or tapped; a photo's caption is not
# a question for the FAQ.
_WORDED = frozenset({"text", "interactive", "button"})


def worded(event: BotInput) -> str | None:
    """The words of a typed message or a tapped button's title."""
    return event.text if event.message_type in _WORDED and event.text else None


def typed(event: BotInput) -> str | None:
    """Text the resident wrote themselves (not a tapped title)."""
    return event.text if event.message_type == "text" and event.text else None


def is_wordless(event: BotInput) -> bool:
    """A photo, sticker, voice note, reaction, location…: nothing the menu can read."""
    return event.message_type not in _WORDED


def first_match(
    candidates: Iterable[tuple[_T, str]], text: str, *, matches: Callable[[str, str], bool]
) -> _T | None:
    return next((value for value, label in candidates if matches(text, label)), None)


def labelled(candidates: Iterable[tuple[_T, str]], text: str | None) -> _T | None:
    """The candidate whose label `text` is: exactly first, then forgiving one small typo."""
    if not text:
        return None
    candidates = list(candidates)
    exact = first_match(candidates, text, matches=same_words)
    return exact if exact is not None else first_match(candidates, text, matches=similar_words)


def picked_language(
    definition: MunicipalityDefinition, event: BotInput, *, list_shown: bool
) -> str | None:
    """A language row tapped; or, right after the list, a language's name or code typed."""
    if event.reply_id and event.reply_id.startswith(LANGUAGE_ROW):
        return definition.supported_language(event.reply_id.removeprefix(LANGUAGE_ROW))
    if list_shown:
        codes = ((code, code) for code in definition.languages)
        return labelled([*definition.language_names.items(), *codes], worded(event))
    return None


def menu_item(definition: MunicipalityDefinition, event: BotInput) -> MenuItem | None:
    """A main menu row tapped, or its label typed in any language."""
    menu = definition.main_menu
    if event.reply_id and (item := menu.item(event.reply_id)) is not None:
        return item
    labels = [(item, label) for item in menu.items for label in item.label.values()]
    return labelled(labels, worded(event))


def faq_for(definition: MunicipalityDefinition, text: str) -> FaqEntry | None:
    """The FAQ whose keywords the text mentions most (exact ones break ties, then the first
    listed wins). A word of the town's own texts is never taken for a typo of a keyword."""
    text_words = words(text)
    real_words = vocabulary(definition).known
    best, best_score = None, (0, 0)
    for entry in definition.faq.values():
        score = keyword_score(text_words, entry.keywords, real_words=real_words)
        if score > best_score:
            best, best_score = entry, score
    return best


def is_menu_keyword(definition: MunicipalityDefinition, text: str | None) -> bool:
    """The whole text is one of the menu keywords ("menu", "ajuda", …)."""
    return bool(text) and any(same_words(text, k) for k in definition.menu_keywords)


def mentions_menu_keyword(definition: MunicipalityDefinition, text: str) -> bool:
    text_words = words(text)
    return any(contains_phrase(text_words, words(k)) for k in definition.menu_keywords)
