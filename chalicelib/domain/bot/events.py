"""What the bot decided, besides what it says: the caller records these and acts on them (queue
the conversation for a team, store the resident's language). The engine never does either."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequested:
    """The conversation should go to a person of `team`; the bot stays silent from now on."""

    kind: ClassVar[str] = "handoff_requested"
    team: str
    reason: str  # "menu": the resident chose to talk to a person; "flow_unavailable": see `flow`
    flow: str | None = None  # the menu flow the bot cannot run yet and handed off instead


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageChosen:
    """The resident picked a language: store it as theirs."""

    kind: ClassVar[str] = "language_chosen"
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqAnswered:
    """For statistics and for tuning keywords."""

    kind: ClassVar[str] = "faq_answered"
    faq: str
    matched_by: str  # "menu" | "keywords"


BotEvent = HandoffRequested | LanguageChosen | FaqAnswered


def event_to_dict(event: BotEvent) -> dict[str, Any]:
    return {"kind": event.kind, **asdict(event)}


__all__ = ["BotEvent", "FaqAnswered", "HandoffRequested", "LanguageChosen", "event_to_dict"]
