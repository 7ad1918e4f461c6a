"""Consent first: until a resident accepts the current privacy notice the bot only asks for it
(and lets them change the language it asks in)."""

from __future__ import annotations

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.events import ConsentDeclined, ConsentGiven, LanguageChosen
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.bot.state import BotState, Mode, Outcome
from chalicelib.domain.bot.turns import BotInput
from chalicelib.domain.bot.understanding import labelled, picked_language, worded
from chalicelib.domain.replies import Button, ButtonsReply, TextReply
from chalicelib.domain.residents import ConsentState

CONSENT_BUTTON = "consent:"  # the ids of the consent prompt's buttons
ACCEPT = f"{CONSENT_BUTTON}accept"
DECLINE = f"{CONSENT_BUTTON}decline"
CHANGE_LANGUAGE = f"{CONSENT_BUTTON}language"


def has_consented(definition: MunicipalityDefinition, event: BotInput) -> bool:
    """Consent GIVEN to the notice's current version."""
    return (
        event.consent is ConsentState.GIVEN and event.consent_version == definition.consent.version
    )


def ask_for_consent(book: Phrasebook, state: BotState, event: BotInput) -> Outcome:
    definition = book.definition
    version = definition.consent.version
    listed = state.mode is Mode.CHOOSING_LANGUAGE
    if (language := picked_language(definition, event, list_shown=listed)) is not None:
        return Outcome(
            state=BotState(language=language, mode=Mode.CONSENT),
            replies=(consent_prompt(Phrasebook(definition, language)),),
            events=(LanguageChosen(language=language),),
        )
    match _answer(definition, event):
        case "accept":
            welcome = TextReply(text=book.local(definition.welcome))
            return Outcome(
                state=state.menu(),
                replies=(welcome, book.main_menu()),
                events=(ConsentGiven(version=version),),
            )
        case "decline":
            return Outcome(
                state=state.menu(mode=Mode.CONSENT),
                replies=(TextReply(text=book.text("consent_declined")),),
                events=(ConsentDeclined(version=version),),
            )
    if event.reply_id == CHANGE_LANGUAGE:
        return Outcome(
            state=state.menu(mode=Mode.CHOOSING_LANGUAGE), replies=(book.language_list(),)
        )
    return Outcome(state=state.menu(mode=Mode.CONSENT), replies=(consent_prompt(book),))


def consent_prompt(book: Phrasebook) -> ButtonsReply:
    consent = book.definition.consent
    buttons = [
        Button(id=ACCEPT, title=book.local(consent.accept_button)),
        Button(id=DECLINE, title=book.local(consent.decline_button)),
    ]
    if len(book.definition.languages) > 1:
        buttons.append(Button(id=CHANGE_LANGUAGE, title=book.text("language_button")))
    return ButtonsReply(body=book.local(consent.text), buttons=tuple(buttons))


def _answer(definition: MunicipalityDefinition, event: BotInput) -> str | None:
    """ "accept", "decline" or None: a button tapped, or its label typed in any language."""
    if event.reply_id in (ACCEPT, DECLINE):
        return "accept" if event.reply_id == ACCEPT else "decline"
    consent = definition.consent
    labels = [("accept", label) for label in consent.accept_button.values()]
    labels += [("decline", label) for label in consent.decline_button.values()]
    return labelled(labels, worded(event))
