"""The words of a municipality's own texts, per language: to guess a newcomer's language, and to
tell a typo from a real word ("menos" is not a typo of the keyword "monos")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain

from chalicelib.domain.bot.definition import Localized, MunicipalityDefinition
from chalicelib.domain.bot.matching import words


@dataclass(frozen=True, slots=True)
class Vocabulary:
    by_language: Mapping[str, frozenset[str]]  # language → the words of its texts
    known: frozenset[str]  # every word of every text, keyword and label


_last: tuple[MunicipalityDefinition, Vocabulary] | None = None


def vocabulary(definition: MunicipalityDefinition) -> Vocabulary:
    """Built once per definition (a process serves one, loaded once)."""
    global _last
    if _last is not None and _last[0] is definition:
        return _last[1]
    by_language = {
        language: frozenset(chain.from_iterable(map(words, _texts_in(definition, language))))
        for language in definition.languages
    }
    keywords = chain(
        chain.from_iterable(faq.keywords for faq in definition.faq.values()),
        definition.menu_keywords,
        definition.topics_keywords,
        definition.language_names.values(),
    )
    known = frozenset(chain(*by_language.values(), chain.from_iterable(map(words, keywords))))
    built = Vocabulary(by_language=by_language, known=known)
    _last = (definition, built)
    return built


def _texts_in(definition: MunicipalityDefinition, language: str) -> Iterator[str]:
    """Every resident-facing text of the configuration in `language`."""

    def each(localized: Localized | None) -> Iterator[str]:
        if localized is not None and language in localized:
            yield localized[language]

    yield from each(definition.welcome)
    for text in definition.texts.values():
        yield from each(text)
    consent = definition.consent
    for text in (consent.text, consent.accept_button, consent.decline_button):
        yield from each(text)
    yield from each(definition.main_menu.title)
    for item in definition.main_menu.items:
        yield from chain(each(item.label), each(item.description))
    for faq in definition.faq.values():
        yield from each(faq.answer)
    for flow in definition.flows.values():
        for step in flow.steps:
            yield from each(step.prompt)
            for choice in step.choices:
                yield from chain(each(choice.label), each(choice.description))
    for topic in definition.topics.values():
        yield from chain(each(topic.label), each(topic.description))
    for team in definition.teams.values():
        yield from each(team.display_name)
    if definition.tickets is not None:
        for status in definition.tickets.statuses.values():
            yield from each(status)
    csat = definition.csat
    if csat is not None:
        for text in (csat.question, csat.button, csat.thanks):
            yield from each(text)
        yield from (csat.ratings or {}).get(language, ())
    yield from definition.weekday_names.get(language, ())
