"""A first guess at a new resident's language, before they have picked one.

From the text when it is clear: Arabic script means Arabic; otherwise the words are scored against
the vocabulary of each language's own texts in the configuration (a word found in the Portuguese
texts only counts 1 for Portuguese; one found in two languages' texts, ½ for each). Else from the
phone number's calling code ("351…" → pt), by the longest configured prefix.
"""

from __future__ import annotations

import re

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.matching import words
from chalicelib.domain.bot.vocabulary import vocabulary

_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
CLEAR_MARGIN = 1.0  # the best language must lead the next by a whole distinctive word


def guess_language(
    definition: MunicipalityDefinition, *, text: str | None, phone: str | None
) -> str | None:
    """A language the bot speaks, or None when neither text nor number says anything."""
    return language_of_text(definition, text) or language_of_phone(definition, phone)


def language_of_phone(definition: MunicipalityDefinition, phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    for length in range(min(3, len(digits)), 0, -1):
        language = definition.language_by_calling_code.get(digits[:length])
        if language is not None:
            return definition.supported_language(language)
    return None


def language_of_text(definition: MunicipalityDefinition, text: str | None) -> str | None:
    if not text:
        return None
    if "ar" in definition.languages and _ARABIC_SCRIPT.search(text):
        return "ar"
    by_language = vocabulary(definition).by_language
    scores = dict.fromkeys(definition.languages, 0.0)
    for word in set(words(text)):
        speakers = [language for language, known in by_language.items() if word in known]
        for language in speakers:
            scores[language] += 1 / len(speakers)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    best_language, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    return best_language if best - runner_up >= CLEAR_MARGIN else None
