"""What the console's use cases need from the outside world, beyond `services.ports`.

Adapters: `adapters.dynamodb_console_stores` (AWS) and `adapters.memory_console_stores` (tests),
held to the same contract tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from chalicelib.domain.agents import Agent
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.inbox import InboxView
from chalicelib.domain.messages import StoredMessage

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    cursor: str | None = None  # opaque; pass it back for the next page (None: no more)


class CapacityReachedError(Exception):
    """The agent who was to take the conversation is offline, disabled or full."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationChange:
    """One console action, saved all-or-nothing.

    `conversation` is the new state; its `version` is the version that was read. `load` moves
    agents' open_count (+1 to whoever takes it, -1 to whoever lets it go). `requires_room` names
    an agent who must be online, enabled and under capacity at write time (checked with the +1).
    `events` are notes and timeline entries (Direction.NOTE) stored with it."""

    conversation: Conversation
    load: Mapping[str, int] = field(default_factory=dict)
    requires_room: str | None = None
    events: tuple[StoredMessage, ...] = ()
    assigned_at: datetime | None = None  # set: the taker's last_assigned_at becomes this


class AgentStore(Protocol):
    def get(self, agent_id: str) -> Agent | None: ...

    def get_many(self, agent_ids: Sequence[str]) -> list[Agent]: ...

    def save_profile(self, agent: Agent) -> None:
        """Create an agent, or update an existing one's name, role, teams, capacity and disabled
        flag, keeping its presence and load. Keeps team membership in step (no Scans)."""
        ...

    def team_members(self, team: str) -> list[Agent]: ...

    def list_all(self) -> list[Agent]: ...

    def set_online(self, agent_id: str, online: bool, now: datetime) -> Agent | None:
        """Presence as the agent set it; also counts as being seen. None for an unknown id."""
        ...

    def touch(self, agent_id: str, now: datetime) -> None:
        """The console is open: last_seen_at = now."""
        ...

    def set_offline_if_unseen(self, agent_id: str, seen_before: datetime) -> bool:
        """Offline, if the agent is online and was last seen before `seen_before` (or never),
        checked at write time, so a console that polled meanwhile keeps its agent online.
        last_seen_at is left as it was. True when it switched the agent off."""
        ...


class ConsoleConversationStore(Protocol):
    def get(self, conversation_id: str) -> Conversation | None: ...

    def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]: ...

    def apply(self, change: ConversationChange) -> None:
        """Save a console action atomically. Raises services.ports.ConcurrentUpdateError when
        the conversation changed since it was read, CapacityReachedError when `requires_room`
        has none; nothing is written then."""
        ...

    def inbox(
        self, view: InboxView, key: str | None, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Conversation]:
        """One page of an inbox, most urgent first (domain.inbox.urgency_key), with one index
        Query. `key`: the agent id for MINE, the team for UNASSIGNED and TEAM, None for ALL."""
        ...

    def sla_checks_due(self, now: datetime, limit: int = 100) -> list[Conversation]:
        """Conversations whose sla_next_check is at or before `now`, earliest first."""
        ...

    def opened_between(self, start: datetime, end: datetime) -> Iterator[Conversation]:
        """Every conversation opened in [start, end), for reports (Queries by day, no Scan)."""
        ...

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Conversation]:
        """The resident's conversations, newest first."""
        ...

    def history(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        after: datetime | None = None,
    ) -> Page[StoredMessage]:
        """The conversation's messages (both directions and notes), newest first; `after`: only
        those created after it (the console's polling)."""
        ...

    def find(self, term: str, *, limit: int = 50) -> list[str]:
        """Conversation ids whose search index holds `term`, newest first, without repeats."""
        ...

    def set_resident_tags(self, resident_key: str, tags: Sequence[str]) -> None:
        """Replace the resident's contact tags (routing rules read them)."""
        ...


class MediaUploader(Protocol):
    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file to WhatsApp for sending; returns the media id."""
        ...
