"""A conversation: one thread of contact between a resident and the town hall."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ConversationStatus(StrEnum):
    BOT = "bot"  # the bot is handling it
    QUEUED = "queued"  # waiting for an agent of `team`
    ASSIGNED = "assigned"  # an agent has it
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


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
    version: int = 0  # optimistic lock: the version this copy was read at (0 = never stored)
