"""A resident as the town hall knows them (a WhatsApp contact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class ConsentState(StrEnum):
    UNKNOWN = "unknown"
    GIVEN = "given"
    DECLINED = "declined"


class ConsentAction(StrEnum):
    """What a resident decided, as kept in their consent history."""

    CONSENT_GIVEN = "consent_given"
    CONSENT_DECLINED = "consent_declined"
    OPTED_OUT = "opted_out"  # STOP: no business-initiated message of any kind
    OPTED_IN = "opted_in"
    SUBSCRIBED = "subscribed"  # to one topic's broadcasts
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentEvent:
    """One decision in a resident's consent history: what, when, and the version of the text
    they answered (the consent text's version, or the topics text's version)."""

    action: ConsentAction
    at: datetime
    text_version: str | None = None
    topic: str | None = None  # SUBSCRIBED / UNSUBSCRIBED only


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSubscription:
    """The resident's current choice for one broadcast topic (the latest event wins)."""

    topic: str
    subscribed: bool
    at: datetime
    text_version: str | None = None


CONSENT_HISTORY_LIMIT = 100  # beyond it the oldest go first, see consent_history.appended


@dataclass(frozen=True, slots=True, kw_only=True)
class Resident:
    key: str  # "wa:<wa_id>" or "bsuid:<user_id>", see Sender.key
    wa_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    profile_name: str | None = None
    language: str | None = None
    consent: ConsentState = ConsentState.UNKNOWN
    consent_version: str | None = None
    consent_at: datetime | None = None
    opted_out: bool = False
    opted_out_at: datetime | None = None  # when the last opt-out or opt-in was made
    tags: tuple[str, ...] = ()
    custom_fields: dict[str, str] = field(default_factory=dict)
    subscriptions: tuple[TopicSubscription, ...] = ()  # one per topic ever chosen
    consent_history: tuple[ConsentEvent, ...] = ()  # oldest first
    last_inbound_at: datetime | None = None
    current_conversation_id: str | None = None
    created_at: datetime

    @property
    def recipient(self) -> str:
        """The address to send to: the phone-based id when known, else the BSUID."""
        return self.wa_id or self.user_id or ""

    @property
    def subscribed_topics(self) -> frozenset[str]:
        return frozenset(s.topic for s in self.subscriptions if s.subscribed)

    def subscribed_to(self, topic: str) -> bool:
        return any(s.topic == topic and s.subscribed for s in self.subscriptions)

    def window_open(self, now: datetime) -> bool:
        """Inside Meta's 24 h customer-service window, when free-form messages are allowed."""
        return (
            self.last_inbound_at is not None
            and now - self.last_inbound_at < CUSTOMER_SERVICE_WINDOW
        )
