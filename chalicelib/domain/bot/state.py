"""The bot's memory of one conversation, kept by the caller as a JSON dict between messages.

Only the engine reads it. `read_state` never fails: a shape it does not know (an older version,
a hand-edited item) reads as the menu, keeping the language when there is a valid one.

    {"v": 2, "language": "pt", "mode": "menu", "misses": 1}
    {"v": 2, "language": "pt", "mode": "flow", "flow": "report_problem", "step": 2,
     "answers": {"category": "pothole", "description": "..."}}
    {"v": 2, "language": "pt", "mode": "with_person", "team": "front_desk"}
    {"v": 2, "language": "pt", "mode": "awaiting_csat", "ratings": ["Muito mau", ...]}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.domain.bot.events import BotEvent
from chalicelib.domain.replies import Reply

STATE_VERSION = 2


class Mode(StrEnum):
    CONSENT = "consent"  # asked to accept the privacy notice
    MENU = "menu"
    CHOOSING_LANGUAGE = "choosing_language"  # the language list was sent
    CHOOSING_TOPICS = "choosing_topics"  # the topics list was sent
    IN_FLOW = "flow"  # answering the steps of `flow`
    WITH_PERSON = "with_person"  # handed off: agents answer, the bot stays silent
    AWAITING_CSAT = "awaiting_csat"  # asked to rate a resolved conversation (see csat.ask_csat)


@dataclass(frozen=True, kw_only=True)
class BotState:
    language: str | None = None
    mode: Mode = Mode.MENU
    misses: int = 0  # unrecognised messages in a row, in the menu
    said: tuple[str, ...] = ()  # those messages' texts: a hand-off is routed by what was asked
    flow: str | None = None
    step: int = 0
    answers: Mapping[str, Any] = field(default_factory=dict)  # step `ask` → JSON answer
    team: str | None = None  # with_person: whose conversation it is
    ratings: tuple[str, ...] = ()  # awaiting_csat: the labels the resident was shown

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": STATE_VERSION, "mode": self.mode.value}
        if self.language is not None:
            data["language"] = self.language
        if self.misses:
            data["misses"] = self.misses
        if self.said:
            data["said"] = list(self.said)
        if self.mode is Mode.IN_FLOW:
            data.update(flow=self.flow, step=self.step, answers=dict(self.answers))
        if self.team is not None:
            data["team"] = self.team
        if self.ratings:
            data["ratings"] = list(self.ratings)
        return data

    def menu(self, **changes: Any) -> BotState:
        """Back to the menu, keeping only the language."""
        return dataclasses.replace(BotState(language=self.language), **changes)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one handler decided: the next state, what to say, what the caller should do."""

    state: BotState
    replies: tuple[Reply, ...] = ()
    events: tuple[BotEvent, ...] = ()


def read_state(data: Any) -> BotState:
    if not isinstance(data, Mapping):
        return BotState()
    language = _text(data.get("language"))
    try:
        mode = Mode(data.get("mode"))
    except ValueError:
        return BotState(language=language)
    misses, said = data.get("misses"), data.get("said")
    state = BotState(
        language=language,
        mode=mode,
        misses=misses if type(misses) is int and misses > 0 else 0,
        said=tuple(text for text in said if isinstance(text, str))
        if isinstance(said, list)
        else (),
        team=_text(data.get("team")),
    )
    if mode is Mode.IN_FLOW:
        step, answers = data.get("step"), data.get("answers")
        if (
            _text(data.get("flow")) is None
            or type(step) is not int
            or step < 0
            or not isinstance(answers, Mapping)
        ):
            return state.menu()
        state = dataclasses.replace(state, flow=data["flow"], step=step, answers=dict(answers))
    if mode is Mode.AWAITING_CSAT:
        ratings = data.get("ratings")
        if isinstance(ratings, list) and all(isinstance(label, str) for label in ratings):
            state = dataclasses.replace(state, ratings=tuple(ratings))
    return state


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
