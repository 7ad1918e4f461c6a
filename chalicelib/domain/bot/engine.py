"""The residents' bot: one inbound message → the conversation's new state, replies and events.

A pure state transition: no I/O, no clock reads (`now` comes in), nothing sent or stored here.
`state` is the conversation's `bot_state`, a JSON-serialisable dict that only the bot reads and
writes (see `state`); an empty one is a new conversation.

In order: opt-out/opt-in keywords (always); silence while a person has the conversation; the
answer to a rating question; consent; then the menu or the flow in progress.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.domain.bot.consent import ask_for_consent, has_consented
from chalicelib.domain.bot.csat import ask_csat, is_csat_answer, rating, thank
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.events import BotEvent, LanguageChosen, OptedIn, OptedOut
from chalicelib.domain.bot.flows import continue_flow
from chalicelib.domain.bot.language_guess import guess_language
from chalicelib.domain.bot.matching import same_words
from chalicelib.domain.bot.menu import respond_in_menu
from chalicelib.domain.bot.phrasebook import LANGUAGE_ROW, OFFER_MENU, OFFER_PERSON, Phrasebook
from chalicelib.domain.bot.state import STATE_VERSION, BotState, Mode, Outcome, read_state
from chalicelib.domain.bot.topics import is_topic_row
from chalicelib.domain.bot.turns import BotInput, BotTurn
from chalicelib.domain.bot.understanding import is_menu_keyword, typed
from chalicelib.domain.replies import TextReply

__all__ = ["STATE_VERSION", "BotInput", "BotTurn", "advance", "ask_csat", "is_csat_answer"]


def advance(
    definition: MunicipalityDefinition, state: Mapping[str, Any], event: BotInput, now: datetime
) -> BotTurn:
    """The bot's answer to one inbound message. `now` must be timezone-aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stored = dict(state) if isinstance(state, Mapping) else {}
    current = read_state(stored)
    if (keyword_turn := _opt_keyword(definition, stored, current, event)) is not None:
        return keyword_turn
    if current.mode is Mode.WITH_PERSON:
        return BotTurn(state=stored)

    language = _known_language(definition, current, event)
    guessed: tuple[BotEvent, ...] = ()
    if language is None:
        language = _guess(definition, event)
        guessed = (LanguageChosen(language=language, guessed=True),)
    current = dataclasses.replace(current, language=language)
    book = Phrasebook(definition, language)

    if (score := rating(current, event)) is not None:
        outcome = thank(book, current, score)
    elif not has_consented(definition, event):
        outcome = ask_for_consent(book, current, event)
    else:
        outcome = _respond(book, current, event, now, new=not stored)
    return BotTurn(
        state=outcome.state.to_dict(), replies=outcome.replies, events=guessed + outcome.events
    )


def _respond(
    book: Phrasebook, state: BotState, event: BotInput, now: datetime, *, new: bool
) -> Outcome:
    if state.mode is Mode.IN_FLOW:
        flow = book.definition.flows.get(state.flow or "")
        if flow is None or state.step >= len(flow.steps):
            state = state.menu()  # a flow the configuration no longer has
        elif is_menu_keyword(book.definition, typed(event)):
            return Outcome(state=state.menu(), replies=(book.main_menu(),))
        elif not _leaves_flow(book.definition, event):
            return continue_flow(book, state, flow, event, now)
        else:
            state = state.menu()
    return respond_in_menu(book, state, event, now, new=new)


def _leaves_flow(definition: MunicipalityDefinition, event: BotInput) -> bool:
    """A tap on an earlier main menu, language or topics list or offer: the resident moved on."""
    reply_id = event.reply_id
    if not reply_id:
        return False
    return (
        definition.main_menu.item(reply_id) is not None
        or reply_id.startswith(LANGUAGE_ROW)
        or is_topic_row(reply_id)
        or reply_id in (OFFER_PERSON, OFFER_MENU)
    )


def _opt_keyword(
    definition: MunicipalityDefinition, stored: dict[str, Any], state: BotState, event: BotInput
) -> BotTurn | None:
    """STOP / START and the like, whatever the conversation is doing; its state is kept."""
    text = typed(event)
    if text is None:
        return None
    keyword_event: OptedOut | OptedIn
    if (keyword := _keyword(text, definition.opt_out_keywords)) is not None:
        keyword_event, key = OptedOut(keyword=keyword), "opted_out"
    elif (keyword := _keyword(text, definition.opt_in_keywords)) is not None:
        keyword_event, key = OptedIn(keyword=keyword), "opted_in"
    else:
        return None
    language = _known_language(definition, state, event) or _guess(definition, event)
    reply = TextReply(text=definition.text(key, language))
    return BotTurn(state=stored, replies=(reply,), events=(keyword_event,))


def _keyword(text: str, keywords: tuple[str, ...]) -> str | None:
    return next((keyword for keyword in keywords if same_words(text, keyword)), None)


def _known_language(
    definition: MunicipalityDefinition, state: BotState, event: BotInput
) -> str | None:
    """The conversation's language once set, else the resident's."""
    return definition.supported_language(state.language) or definition.supported_language(
        event.resident_language
    )


def _guess(definition: MunicipalityDefinition, event: BotInput) -> str:
    return (
        guess_language(definition, text=typed(event), phone=event.resident_phone)
        or definition.default_language
    )
