"""A conversation: one thread of contact between a resident and the town hall."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

OPEN_WITH_PEOPLE = frozenset({"queued", "assigned", "snoozed"})  # statuses agents work on
WITH_AN_AGENT = frozenset({"assigned", "snoozed"})  # statuses in which the assignee holds it
PREVIEW_LENGTH = 120  # characters of the last message shown on an inbox row


class ConversationStatus(StrEnum):
    BOT = "bot"  # the bot is handling it
    QUEUED = "queued"  # waiting for an agent of `team`
    ASSIGNED = "assigned"  # an agent has it
    SNOOZED = "snoozed"  # an agent has it and put it aside until `snoozed_until`
    RESOLVED = "resolved"


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    id: str
    resident_key: str
    status: ConversationStatus = ConversationStatus.BOT
    bot_state: dict[str, Any] = field(default_factory=dict)  # the engine's, JSON-serialisable
    team: str | None = None
    assignee: str | None = None
    opened_at: datetime
    updated_at: datetime
    last_inbound_at: datetime | None = None
    resolved_at: datetime | None = None
    csat_score: int | None = None  # 1–5, the resident's rating after resolution
    csat_at: datetime | None = None
    # --- with people (the console) ---
    handed_off_at: datetime | None = None  # first reached a person's queue: the SLA clock starts
    assigned_at: datetime | None = None
    last_agent: str | None = None  # who had it last: a reopened conversation goes back to them
    first_response_at: datetime | None = None  # the first agent reply
    first_response_due: datetime | None = None  # SLA targets, in business time from handed_off_at
    resolution_due: datetime | None = None
    # When the resolution clock last started: a reopening restarts it. None: at handed_off_at.
    resolution_started_at: datetime | None = None
    sla_warned: frozenset[SlaTarget] = frozenset()
    sla_breached: frozenset[SlaTarget] = frozenset()
    sla_next_check: datetime | None = None  # when the SLA job must look at it next (None: never)
    snoozed_until: datetime | None = None
    # --- for inbox rows, so a page of the inbox needs no second read ---
    resident_name: str | None = None  # only once the resident consented
    preview: str | None = None  # the last message, shortened
    last_message_at: datetime | None = None
    version: int = 0  # optimistic lock: the version this copy was read at (0 = never stored)

    @property
    def is_open_with_people(self) -> bool:
        return self.status.value in OPEN_WITH_PEOPLE

    @property
    def holder(self) -> str | None:
        """The agent who has the conversation (assigned or snoozed), whose load (open_count)
        it counts in; None while it is the bot's, queued or resolved."""
        return self.assignee if self.status.value in WITH_AN_AGENT else None


def preview_of(text: str) -> str:
    """An inbox row's glimpse of a message: one line, at most PREVIEW_LENGTH characters."""
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_LENGTH else text[: PREVIEW_LENGTH - 1] + "…"
