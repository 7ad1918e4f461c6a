"""What the use cases need from the outside world. Adapters implement these; tests use the
in-memory implementations in `chalicelib.adapters.memory_stores`, which pass the same contract
tests as the DynamoDB ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import DeliveryStatus, Priority, StoredMessage
from chalicelib.domain.replies import Reply
from chalicelib.domain.residents import Resident


class ConcurrentUpdateError(Exception):
    """Someone else saved the conversation since we read it; retry the whole turn."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundTurn:
    """Everything one inbound message changes, saved all-or-nothing.

    `resident` and `conversation` are the new states; `conversation.version` is the version that
    was read (0 for a new one). `resident_is_new` means it must not exist yet."""

    inbound: StoredMessage
    resident: Resident
    resident_is_new: bool
    conversation: Conversation
    replies: tuple[StoredMessage, ...]


class ResidentStore(Protocol):
    def load(self, resident_key: str) -> tuple[Resident | None, Conversation | None]:
        """The resident and their current conversation (None, None for a stranger)."""
        ...

    def save_turn(self, turn: InboundTurn) -> bool:
        """Store the turn atomically. False (and nothing written) when the inbound message was
        already stored: a duplicate delivery. Raises ConcurrentUpdateError on a version clash."""
        ...


class MessageStore(Protocol):
    def get(self, message_id: str) -> StoredMessage | None: ...

    def get_many(self, message_ids: Sequence[str]) -> list[StoredMessage]: ...

    def add_outbound(self, messages: Sequence[StoredMessage]) -> None:
        """Store queued outbound messages; ids already stored are left untouched."""
        ...

    def claim_for_sending(self, message_id: str, now: datetime) -> StoredMessage | None:
        """Move queued → sending. None when it is not queued any more (sent, or claimed by an
        earlier delivery of the same SQS message): the caller must not send it."""
        ...

    def release_claim(self, message_id: str, now: datetime) -> None:
        """Move sending → queued again after a transient failure, so a redelivery may retry."""
        ...

    def mark_sent(self, message_id: str, wamid: str, now: datetime) -> None: ...

    def mark_failed(
        self, message_id: str, *, error_code: int | None, error_title: str, now: datetime
    ) -> None: ...

    def apply_status(
        self,
        wamid: str,
        status: DeliveryStatus,
        at: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> bool:
        """Apply a delivery status reported by Meta, never moving backwards. False when it was
        unknown, stale or a duplicate."""
        ...

    def list_queued_before(self, before: datetime, limit: int = 100) -> list[StoredMessage]:
        """Outbound messages still queued since before `before` (their SQS send was lost)."""
        ...


class OutboundQueue(Protocol):
    def enqueue(self, message_ids: Sequence[str], priority: Priority) -> None: ...


class InboundQueue(Protocol):
    def enqueue(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Queue (resident_key, dedup_id, body) items; each resident's items stay in order."""
        ...


@dataclass(frozen=True, slots=True)
class SendResult:
    wamid: str


class GraphApiError(Exception):
    """A Graph API refusal, carrying Meta's error code (see whatsapp.errors for the table)."""

    def __init__(self, code: int, title: str, *, http_status: int | None = None, details: str = ""):
        super().__init__(f"({code}) {title}")
        self.code = code
        self.title = title
        self.http_status = http_status
        self.details = details


class MessageSender(Protocol):
    def send(self, recipient: str, reply: Reply, *, context_wamid: str | None = None) -> SendResult:
        """Send one message; raises GraphApiError (or requests' errors for transport faults)."""
        ...
