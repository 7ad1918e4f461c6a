"""What the bot decided, besides what it says: the caller records these and acts on them (queue
the conversation for a team, store the resident's language and consent, create a ticket). The
engine never does any of it itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from chalicelib.domain.tickets import Location


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRequested:
    """The conversation should go to a person of `team`; the bot stays silent from now on."""

    kind: ClassVar[str] = "handoff_requested"
    team: str
    # "menu"; "not_understood": accepted after two misses; "reminder": a reminder's button
    reason: str
    flow: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageChosen:
    """Store `language` as the resident's. `guessed`: from their number or first words, not
    picked from the list."""

    kind: ClassVar[str] = "language_chosen"
    language: str
    guessed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqAnswered:
    """For statistics and for tuning keywords."""

    kind: ClassVar[str] = "faq_answered"
    faq: str
    matched_by: str  # "menu" | "keywords"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentGiven:
    """Record consent to the privacy notice of `version`, now; from here on data is kept."""

    kind: ClassVar[str] = "consent_given"
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentDeclined:
    """Record the refusal; keep nothing about the resident beyond that."""

    kind: ClassVar[str] = "consent_declined"
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OptedOut:
    """The resident sent an opt-out keyword: no business-initiated message may reach them."""

    kind: ClassVar[str] = "opted_out"
    keyword: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OptedIn:
    """An opt-in keyword: business-initiated messages are allowed again."""

    kind: ClassVar[str] = "opted_in"
    keyword: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionChanged:
    """The resident subscribed to `topic`'s broadcasts, or unsubscribed, answering the topics
    texts of `version` (topics_version). Their opt-out, if any, stays as it is."""

    kind: ClassVar[str] = "subscription_changed"
    topic: str
    subscribed: bool
    version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PhotoAnswer:
    message_id: str  # the inbound message's wamid
    media_id: str
    mime_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRequested:
    """Create a ticket from a finished flow. The replies of the same turn contain the
    placeholder {reference}; the caller allocates the reference and fills it in
    (BotTurn.with_reference)."""

    kind: ClassVar[str] = "ticket_requested"
    flow: str
    team: str
    category: str | None = None
    description: str | None = None
    photos: tuple[PhotoAnswer, ...] = ()
    location: Location | None = None
    address: str | None = None
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CsatRated:
    """The resident rated the resolved conversation, 1 (worst) to 5."""

    kind: ClassVar[str] = "csat_rated"
    score: int


BotEvent = (
    HandoffRequested
    | LanguageChosen
    | FaqAnswered
    | ConsentGiven
    | ConsentDeclined
    | OptedOut
    | OptedIn
    | TicketRequested
    | CsatRated
    | SubscriptionChanged
)


def event_to_dict(event: BotEvent) -> dict[str, Any]:
    return {"kind": event.kind, **asdict(event)}


__all__ = [
    "BotEvent",
    "ConsentDeclined",
    "ConsentGiven",
    "CsatRated",
    "FaqAnswered",
    "HandoffRequested",
    "LanguageChosen",
    "OptedIn",
    "OptedOut",
    "PhotoAnswer",
    "SubscriptionChanged",
    "TicketRequested",
    "event_to_dict",
]
