"""The residents' bot: one inbound message → the conversation's new state, replies and events.

A pure state transition: no I/O, no clock reads (`now` comes in), nothing sent or stored here.
`state` is the conversation's `bot_state`, a JSON-serialisable dict that only this module reads
and writes; an empty one is a new conversation.

What it does today: welcome + main menu; FAQ answers chosen from the menu or recognised by
keywords; handing the conversation to a team (then staying silent, the agents have it); the
language picker. Menu flows it cannot run yet are handed to their team with an honest text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.bot.definition import (
    AnswerFaq,
    FaqEntry,
    HandOff,
    MenuItem,
    MunicipalityDefinition,
    StartFlow,
)
from chalicelib.domain.bot.events import BotEvent, FaqAnswered, HandoffRequested, LanguageChosen
from chalicelib.domain.bot.matching import contains_phrase, count_matches, same_words, words
from chalicelib.domain.replies import MediaReply, MenuReply, MenuRow, Reply, TextReply

STATE_VERSION = 1
LANGUAGE_ROW_PREFIX = "language:"  # list row ids of the language picker; menu item ids have no ":"
RUNNABLE_FLOWS = frozenset({"choose_language"})

# Message types whose text is something the resident typed or tapped; a photo's caption is not
# a question for the FAQ.
_TYPED = frozenset({"text", "interactive", "button"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class Mode(StrEnum):
    MENU = "menu"
    CHOOSING_LANGUAGE = "choosing_language"
    WITH_PERSON = "with_person"  # handed off: agents answer, the bot stays silent


@dataclass(frozen=True, kw_only=True)
class BotInput:
    message_type: str  # text, interactive, button, image, location, ... as WhatsApp names them
    text: str | None = None  # typed text, or the title of a tapped button or row
    reply_id: str | None = None  # the id of a tapped button or list row
    resident_language: str | None = None  # the language stored for the resident, if any
    resident_phone: str | None = None  # wa_id digits, when the resident has not hidden them


@dataclass(frozen=True, kw_only=True)
class BotTurn:
    state: dict[str, Any]
    replies: tuple[Reply, ...] = ()
    events: tuple[BotEvent, ...] = ()


def advance(
    definition: MunicipalityDefinition, state: Mapping[str, Any], event: BotInput, now: datetime
) -> BotTurn:
    """The bot's answer to one inbound message. `now` must be timezone-aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if state.get("mode") == Mode.WITH_PERSON:
        return BotTurn(state=dict(state))
    language = _conversation_language(definition, state, event)
    bot = _Bot(definition, language, now)
    outcome = bot.respond(
        event, new=not state, choosing_language=state.get("mode") == Mode.CHOOSING_LANGUAGE
    )
    if not state:
        welcome = TextReply(text=definition.welcome[outcome.language])
        outcome = replace(outcome, replies=(welcome, *outcome.replies))
    return BotTurn(state=outcome.state(), replies=outcome.replies, events=outcome.events)


def _conversation_language(
    definition: MunicipalityDefinition, state: Mapping[str, Any], event: BotInput
) -> str:
    """The conversation's language once set, else the resident's, else the default."""
    return (
        definition.supported_language(state.get("language"))
        or definition.supported_language(event.resident_language)
        or definition.default_language
    )


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    replies: tuple[Reply, ...]
    language: str
    mode: Mode = Mode.MENU
    events: tuple[BotEvent, ...] = ()
    team: str | None = None

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "v": STATE_VERSION,
            "language": self.language,
            "mode": self.mode.value,
        }
        if self.team is not None:
            state["team"] = self.team
        return state


@dataclass(frozen=True)
class _Bot:
    definition: MunicipalityDefinition
    language: str
    now: datetime

    def respond(self, event: BotInput, *, new: bool, choosing_language: bool) -> _Outcome:
        typed = event.text if event.message_type in _TYPED and event.text else None
        chosen = self.chosen_language(event.reply_id, typed if choosing_language else None)
        if chosen is not None:
            return self.switch_language(chosen)
        item = self.chosen_item(event.reply_id, typed)
        if item is not None:
            return self.select(item)
        faq = self.faq_for(typed) if typed else None
        if faq is not None:
            return self.answer(faq, matched_by="keywords")
        if new or (typed and self.asks_for_menu(typed)):
            return self.menu(self.definition.main_menu.title[self.language])
        return self.menu(self.text("not_understood"))

    # -- understanding -------------------------------------------------------------------------

    def chosen_language(self, reply_id: str | None, typed: str | None) -> str | None:
        if reply_id and reply_id.startswith(LANGUAGE_ROW_PREFIX):
            return self.definition.supported_language(reply_id.removeprefix(LANGUAGE_ROW_PREFIX))
        if typed:
            for code, name in self.definition.language_names.items():
                if same_words(typed, name) or same_words(typed, code):
                    return code
        return None

    def chosen_item(self, reply_id: str | None, typed: str | None) -> MenuItem | None:
        menu = self.definition.main_menu
        if reply_id and (item := menu.item(reply_id)) is not None:
            return item
        if typed:  # a menu label typed out, in any language
            for item in menu.items:
                if any(same_words(typed, label) for label in item.label.values()):
                    return item
        return None

    def faq_for(self, typed: str) -> FaqEntry | None:
        """The FAQ whose keywords the text mentions most; the first listed wins a tie."""
        text_words = words(typed)
        best, best_count = None, 0
        for entry in self.definition.faq.values():
            count = count_matches(text_words, entry.keywords)
            if count > best_count:
                best, best_count = entry, count
        return best

    def asks_for_menu(self, typed: str) -> bool:
        text_words = words(typed)
        return any(contains_phrase(text_words, words(k)) for k in self.definition.menu_keywords)

    # -- acting --------------------------------------------------------------------------------

    def select(self, item: MenuItem) -> _Outcome:
        match item.action:
            case AnswerFaq(faq=faq_id):
                return self.answer(self.definition.faq[faq_id], matched_by="menu")
            case HandOff(team=team):
                return self.hand_off(
                    team, self.text("handoff"), HandoffRequested(team=team, reason="menu")
                )
            case StartFlow(flow="choose_language"):
                return self.language_list()
            case StartFlow(flow=flow_id):
                flow = self.definition.flows[flow_id]
                team = flow.routes_to or self.definition.fallback_team.id
                text = _fill(self.text("flow_unavailable"), option=item.label[self.language])
                event = HandoffRequested(team=team, reason="flow_unavailable", flow=flow_id)
                return self.hand_off(team, text, event)
        raise AssertionError(f"unknown menu action {item.action!r}")

    def answer(self, faq: FaqEntry, *, matched_by: str) -> _Outcome:
        answer = faq.answer[self.language]
        replies: list[Reply] = [TextReply(text=answer, preview_url="https://" in answer)]
        if faq.attachment is not None:
            caption = faq.attachment.caption
            replies.append(
                MediaReply(
                    media_type=faq.attachment.media_type,
                    link=faq.attachment.url,
                    caption=caption[self.language] if caption else None,
                    filename=faq.attachment.filename,
                )
            )
        menu = self.menu(self.text("anything_else"))
        return _Outcome(
            replies=(*replies, *menu.replies),
            language=self.language,
            events=(FaqAnswered(faq=faq.id, matched_by=matched_by),),
        )

    def hand_off(self, team_id: str, text: str, event: HandoffRequested) -> _Outcome:
        team = self.definition.teams[team_id]
        parts = [_fill(text, team=team.display_name[self.language])]
        if self.language not in team.languages:
            names = ", ".join(self.definition.language_names[code] for code in team.languages)
            parts.append(_fill(self.text("team_languages"), languages=names))
        if not self.definition.is_staffed(self.now):
            parts.append(self.text("out_of_hours"))
        return _Outcome(
            replies=(TextReply(text="\n\n".join(parts)),),
            language=self.language,
            mode=Mode.WITH_PERSON,
            events=(event,),
            team=team_id,
        )

    def language_list(self) -> _Outcome:
        rows = tuple(
            MenuRow(id=f"{LANGUAGE_ROW_PREFIX}{code}", title=self.definition.language_names[code])
            for code in self.definition.languages
        )
        menu = MenuReply(
            body=self.text("language_prompt"), button=self.text("language_button"), rows=rows
        )
        return _Outcome(replies=(menu,), language=self.language, mode=Mode.CHOOSING_LANGUAGE)

    def switch_language(self, language: str) -> _Outcome:
        bot = _Bot(self.definition, language, self.now)
        menu = bot.menu(self.definition.main_menu.title[language])
        return _Outcome(
            replies=menu.replies, language=language, events=(LanguageChosen(language=language),)
        )

    def menu(self, body: str) -> _Outcome:
        rows = tuple(
            MenuRow(
                id=item.id,
                title=item.label[self.language],
                description=item.description[self.language] if item.description else None,
            )
            for item in self.definition.main_menu.items
        )
        reply = MenuReply(body=body, button=self.text("menu_button"), rows=rows)
        return _Outcome(replies=(reply,), language=self.language)

    def text(self, key: str) -> str:
        return self.definition.text(key, self.language)


def _fill(text: str, **values: str) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
