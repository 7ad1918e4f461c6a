"""The 1–5 satisfaction question after a conversation with a person is resolved.

The labels the resident was shown are kept in the state, so that `is_csat_answer` can tell a
typed "Bom" from a new question without the configuration, and answers match what was asked.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.definition import CSAT_ROW_TITLE, CSAT_SCORES, MunicipalityDefinition
from chalicelib.domain.bot.events import CsatRated
from chalicelib.domain.bot.matching import similar_words, words
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.bot.state import BotState, Mode, Outcome, read_state
from chalicelib.domain.bot.turns import BotInput, BotTurn
from chalicelib.domain.bot.understanding import worded
from chalicelib.domain.replies import MenuReply, MenuRow, TextReply

RATING_ROW = "csat:"


def ask_csat(definition: MunicipalityDefinition, language: str) -> BotTurn:
    """The rating question, and the state that waits for its answer."""
    csat = definition.csat
    if csat is None or csat.question is None or csat.button is None or csat.ratings is None:
        raise ValueError("this municipality does not ask for ratings")
    language = definition.supported_language(language) or definition.default_language
    ratings = tuple(csat.ratings[language])
    rows = tuple(
        MenuRow(id=f"{RATING_ROW}{score}", title=_row_title(score, label))
        for score, label in zip(CSAT_SCORES, ratings, strict=True)
    )
    question = MenuReply(body=csat.question[language], button=csat.button[language], rows=rows)
    state = BotState(language=language, mode=Mode.AWAITING_CSAT, ratings=ratings)
    return BotTurn(state=state.to_dict(), replies=(question,))


def is_csat_answer(state: Any, event: BotInput) -> bool:
    """Whether `event` answers the rating question `state` waits for (anything else starts a
    new conversation, which the caller decides)."""
    return rating(read_state(state), event) is not None


def rating(state: BotState, event: BotInput) -> int | None:
    """A row tapped, a digit typed, or a label typed ("Bom", "4 – Bom")."""
    if state.mode is not Mode.AWAITING_CSAT:
        return None
    if event.reply_id and event.reply_id.startswith(RATING_ROW):
        return _score(event.reply_id.removeprefix(RATING_ROW))
    text = worded(event)
    if not text:
        return None
    typed_words = words(text)
    if len(typed_words) == 1 and (score := _score(typed_words[0])) is not None:
        return score
    for score, label in zip(CSAT_SCORES, state.ratings, strict=False):
        row_title = CSAT_ROW_TITLE.format(score=score, label=label)
        if similar_words(text, label) or similar_words(text, row_title):
            return score
    return None


def thank(book: Phrasebook, state: BotState, score: int) -> Outcome:
    csat = book.definition.csat
    thanks = csat.thanks if csat is not None else None
    replies = (TextReply(text=book.local(thanks)),) if thanks is not None else ()
    return Outcome(state=state.menu(), replies=replies, events=(CsatRated(score=score),))


def _score(text: str) -> int | None:
    return int(text) if text in {str(score) for score in CSAT_SCORES} else None


def _row_title(score: int, label: str) -> str:
    title = CSAT_ROW_TITLE.format(score=score, label=label)
    return title if len(title) <= limits.ROW_TITLE else title[: limits.ROW_TITLE - 1] + "…"
