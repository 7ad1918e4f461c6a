"""The main menu: its options, FAQ keywords, ticket references, the language list, and what
happens when the bot does not understand (twice in a row: offer a person)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.bot.consent import CONSENT_BUTTON
from chalicelib.domain.bot.definition import (
    CHOOSE_LANGUAGE,
    CHOOSE_TOPICS,
    AnswerFaq,
    FaqEntry,
    HandOff,
    MenuItem,
    MunicipalityDefinition,
    StartFlow,
)
from chalicelib.domain.bot.events import FaqAnswered, HandoffRequested, LanguageChosen
from chalicelib.domain.bot.flows import start_flow
from chalicelib.domain.bot.handoff_notice import handoff_notice
from chalicelib.domain.bot.phrasebook import OFFER_MENU, OFFER_PERSON, Phrasebook
from chalicelib.domain.bot.state import BotState, Mode, Outcome
from chalicelib.domain.bot.ticket_replies import ticket_status_reply
from chalicelib.domain.bot.topics import (
    choose_topic,
    is_topics_keyword,
    offers_topics,
    picked_topic,
    show_topics,
)
from chalicelib.domain.bot.turns import BotInput
from chalicelib.domain.bot.understanding import (
    faq_for,
    is_wordless,
    labelled,
    mentions_menu_keyword,
    menu_item,
    picked_language,
    typed,
    worded,
)
from chalicelib.domain.obligations import REMINDER_BUTTON_PREFIX
from chalicelib.domain.replies import MediaReply, Reply, TextReply
from chalicelib.domain.routing import route_team

MISSES_BEFORE_OFFER = 2
SAID_LENGTH = 200  # characters of each unrecognised message kept for routing


def respond_in_menu(
    book: Phrasebook, state: BotState, event: BotInput, now: datetime, *, new: bool
) -> Outcome:
    definition = book.definition
    listed = state.mode is Mode.CHOOSING_LANGUAGE
    if (language := picked_language(definition, event, list_shown=listed)) is not None:
        return Outcome(
            state=BotState(language=language),
            replies=(Phrasebook(definition, language).main_menu(),),
            events=(LanguageChosen(language=language),),
        )
    topics_listed = state.mode is Mode.CHOOSING_TOPICS
    if (picked := picked_topic(definition, event, list_shown=topics_listed)) is not None:
        return choose_topic(book, state, event, *picked)
    if event.reply_id and event.reply_id.startswith(REMINDER_BUTTON_PREFIX):
        # A tap on a reminder's button: a person answers, with the reminder in the thread.
        return hand_off(book, state, event, _offer_team(definition), now, reason="reminder")
    offer = _offer_answer(book, state, event)
    if offer == OFFER_PERSON:
        return hand_off(book, state, event, _offer_team(definition), now, reason="not_understood")
    if offer == OFFER_MENU:
        return Outcome(state=state.menu(), replies=(book.main_menu(),))
    if offers_topics(definition) and is_topics_keyword(definition, typed(event)):
        return show_topics(book, state, event)
    if (item := menu_item(definition, event)) is not None:
        return select(book, state, item, now, event)
    if event.ticket_lookup is not None and typed(event):
        replies = (ticket_status_reply(book, event.ticket_lookup), book.anything_else())
        return Outcome(state=state.menu(), replies=replies)
    text = worded(event) if event.message_type != "interactive" else None
    if text and (faq := faq_for(definition, text)) is not None:
        return answer(book, state, faq, matched_by="keywords")
    if is_wordless(event):
        body = book.text("only_text")
        return Outcome(state=state.menu(misses=state.misses), replies=(book.main_menu(body),))
    if new or (text and mentions_menu_keyword(definition, text)) or _stale_consent(event):
        return Outcome(state=state.menu(), replies=(book.main_menu(),))
    misses = min(state.misses + 1, MISSES_BEFORE_OFFER)
    said = (*state.said, text[:SAID_LENGTH])[-MISSES_BEFORE_OFFER:] if text else state.said
    if misses >= MISSES_BEFORE_OFFER:
        return Outcome(state=state.menu(misses=misses, said=said), replies=(book.offer_person(),))
    not_understood = book.main_menu(book.text("not_understood"))
    return Outcome(state=state.menu(misses=misses, said=said), replies=(not_understood,))


def select(
    book: Phrasebook, state: BotState, item: MenuItem, now: datetime, event: BotInput
) -> Outcome:
    definition = book.definition
    match item.action:
        case AnswerFaq(faq=faq_id) if faq_id in definition.faq:
            return answer(book, state, definition.faq[faq_id], matched_by="menu")
        case HandOff(team=team) if team in definition.teams:
            return hand_off(book, state, event, team, now, reason="menu")
        case StartFlow(flow=flow_id) if flow_id == CHOOSE_LANGUAGE:
            return Outcome(
                state=state.menu(mode=Mode.CHOOSING_LANGUAGE), replies=(book.language_list(),)
            )
        case StartFlow(flow=flow_id) if flow_id == CHOOSE_TOPICS and offers_topics(definition):
            return show_topics(book, state, event)
        case StartFlow(flow=flow_id) if flow_id in definition.flows:
            return start_flow(book, state, definition.flows[flow_id])
    return Outcome(state=state.menu(), replies=(book.main_menu(book.text("not_understood")),))


def answer(book: Phrasebook, state: BotState, faq: FaqEntry, *, matched_by: str) -> Outcome:
    text = book.local(faq.answer)
    replies: list[Reply] = [TextReply(text=text, preview_url="https://" in text)]
    if (attachment := faq.attachment) is not None:
        replies.append(
            MediaReply(
                media_type=attachment.media_type,
                link=attachment.url,
                caption=book.local(attachment.caption) if attachment.caption else None,
                filename=attachment.filename,
            )
        )
    return Outcome(
        state=state.menu(),
        replies=(*replies, book.anything_else()),
        events=(FaqAnswered(faq=faq.id, matched_by=matched_by),),
    )


def hand_off(
    book: Phrasebook, state: BotState, event: BotInput, team: str, now: datetime, *, reason: str
) -> Outcome:
    """To a person: the config's routing rules may pick another team than `team` by what the
    resident said, their tags or their language."""
    team = route_team(
        book.definition,
        proposed_team=team,
        reason=reason,
        texts=[*state.said, *([event.text] if event.text else [])],
        tags=event.resident_tags,
        language=book.language,
    )
    return Outcome(
        state=state.menu(mode=Mode.WITH_PERSON, team=team),
        replies=(handoff_notice(book, team, now),),
        events=(HandoffRequested(team=team, reason=reason),),
    )


def _offer_answer(book: Phrasebook, state: BotState, event: BotInput) -> str | None:
    """A tap on the offer's buttons; right after the offer, also their labels typed."""
    if event.reply_id in (OFFER_PERSON, OFFER_MENU):
        return event.reply_id
    if state.misses < MISSES_BEFORE_OFFER:
        return None
    texts = book.definition.texts
    labels = [(OFFER_PERSON, label) for label in texts.get("person_button", {}).values()]
    labels += [(OFFER_MENU, label) for label in texts.get("back_button", {}).values()]
    return labelled(labels, worded(event))


def _offer_team(definition: MunicipalityDefinition) -> str:
    """Who takes a resident the bot could not understand: the menu's "talk to a person" team."""
    for item in definition.main_menu.items:
        if isinstance(item.action, HandOff) and item.action.team in definition.teams:
            return item.action.team
    return definition.fallback_team.id


def _stale_consent(event: BotInput) -> bool:
    """A consent button tapped again after consent was recorded (e.g. a double tap)."""
    return bool(event.reply_id) and event.reply_id.startswith(CONSENT_BUTTON)
