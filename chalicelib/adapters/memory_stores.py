"""In-memory stores and queues: the fakes for service tests. They pass the same contract tests as
the DynamoDB and SQS adapters (tests/integration/test_store_contracts.py).

Stores share one `InMemoryDatabase`, so the replies `save_turn` writes are visible to the message
store, as they are in DynamoDB. Values are deep-copied in and out: like a real database, what a
caller holds never changes behind its back. All of it is thread-safe (one lock per object).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.adapters.store_rules import search_terms_that_fit
from chalicelib.domain.agents import Agent
from chalicelib.domain.api_keys import ApiKey
from chalicelib.domain.consent_history import with_opt_out
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import (
    DeliveryStatus,
    Direction,
    Priority,
    StoredMessage,
    statuses_before,
)
from chalicelib.domain.obligations import Notification, Obligation, ScheduledReminder
from chalicelib.domain.residents import Resident
from chalicelib.domain.tickets import Ticket
from chalicelib.services.ports import ConcurrentUpdateError, InboundTurn, SearchTerm


@dataclass
class InMemoryDatabase:
    """The tables, keyed like their DynamoDB twins. Conversations are stored with the version
    they were saved at (the domain object's `version`). `ticket_numbers` holds the last number
    handed out per (reference prefix, year)."""

    residents: dict[str, Resident] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    ticket_numbers: dict[tuple[str, int], int] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)  # by key_hash
    obligations: dict[str, Obligation] = field(default_factory=dict)
    # Reminders by id; the stores keep a copy of the obligation with each (see
    # memory_reminder_stores), as the DynamoDB item does.
    reminders: dict[str, ScheduledReminder] = field(default_factory=dict)
    reminder_watermark: str | None = None
    notifications: dict[str, Notification] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)  # the console's staff, by id
    # The console's search index: term → {store_rules.search_entry(...): the entry}.
    search: dict[str, dict[str, SearchTerm]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


def check_version(conversations: Mapping[str, Conversation], conversation: Conversation) -> None:
    """ConcurrentUpdateError unless the stored conversation is still at the version
    `conversation` was read at (0: never stored), as DynamoDB's VersionAttribute checks."""
    stored = conversations.get(conversation.id)
    stored_version = stored.version if stored else 0
    if stored_version != conversation.version:
        raise ConcurrentUpdateError(
            f"conversation {conversation.id} is at version {stored_version}, "
            f"read at {conversation.version}"
        )


class InMemoryResidentStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def load(self, resident_key: str) -> tuple[Resident | None, Conversation | None]:
        db = self.database
        with db.lock:
            resident = db.residents.get(resident_key)
            if resident is None:
                return None, None
            conversation = None
            if resident.current_conversation_id:
                conversation = db.conversations.get(resident.current_conversation_id)
            return copy.deepcopy(resident), copy.deepcopy(conversation)

    def save_turn(self, turn: InboundTurn) -> bool:
        db = self.database
        with db.lock:
            if turn.inbound.id in db.messages:
                return False
            if turn.resident_is_new and turn.resident.key in db.residents:
                raise ConcurrentUpdateError(f"resident {turn.resident.key} exists already")
            check_version(db.conversations, turn.conversation)
            taken = [ticket.reference for ticket in turn.tickets if ticket.reference in db.tickets]
            if taken:
                raise ConcurrentUpdateError(f"ticket references taken already: {taken}")
            db.messages[turn.inbound.id] = copy.deepcopy(turn.inbound)
            db.residents[turn.resident.key] = copy.deepcopy(turn.resident)
            db.conversations[turn.conversation.id] = copy.deepcopy(
                replace(turn.conversation, version=turn.conversation.version + 1)
            )
            for reply in turn.replies:
                db.messages[reply.id] = copy.deepcopy(reply)
            for ticket in turn.tickets:
                db.tickets[ticket.reference] = copy.deepcopy(ticket)
            # As DynamoDB's: search terms past the transaction's 100 items are left out.
            for term, entry, found in search_terms_that_fit(turn):
                db.search.setdefault(term, {})[entry] = found
            return True

    def get(self, resident_key: str) -> Resident | None:
        with self.database.lock:
            return copy.deepcopy(self.database.residents.get(resident_key))

    def set_opted_out(
        self,
        resident_key: str,
        opted_out: bool,
        at: datetime,
        *,
        wa_id: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        db = self.database
        with db.lock:
            resident = db.residents.get(resident_key) or Resident(key=resident_key, created_at=at)
            if resident.opted_out_at is not None and resident.opted_out_at >= at:
                return False
            db.residents[resident_key] = replace(
                with_opt_out(resident, opted_out, at),
                wa_id=resident.wa_id or wa_id,
                user_id=resident.user_id or user_id,
            )
            return True

    def save_conversation(self, conversation: Conversation) -> None:
        db = self.database
        with db.lock:
            check_version(db.conversations, conversation)
            db.conversations[conversation.id] = copy.deepcopy(
                replace(conversation, version=conversation.version + 1)
            )


_Item = TypeVar("_Item")


def copies_of(table: Mapping[str, _Item], keys: Sequence[str], lock: Any) -> list[_Item]:
    """Deep copies of the items stored under `keys`, once each, in the order asked; unknown
    keys are left out (as BatchGetItem does)."""
    with lock:
        return [copy.deepcopy(table[key]) for key in dict.fromkeys(keys) if key in table]


class InMemoryMessageStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, message_id: str) -> StoredMessage | None:
        with self.database.lock:
            return copy.deepcopy(self.database.messages.get(message_id))

    def get_many(self, message_ids: Sequence[str]) -> list[StoredMessage]:
        return copies_of(self.database.messages, message_ids, self.database.lock)

    def add_outbound(self, messages: Sequence[StoredMessage]) -> list[str]:
        created: list[str] = []
        with self.database.lock:
            for message in messages:
                if message.id not in self.database.messages:
                    self.database.messages[message.id] = copy.deepcopy(message)
                    created.append(message.id)
        return created

    def claim_for_sending(self, message_id: str, now: datetime) -> StoredMessage | None:
        with self.database.lock:
            message = self.database.messages.get(message_id)
            if message is None or message.status is not DeliveryStatus.QUEUED:
                return None
            return self._set(message_id, status=DeliveryStatus.SENDING, status_at=now)

    def release_claim(
        self,
        message_id: str,
        now: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> int:
        with self.database.lock:
            message = self._existing(message_id)
            if message.status is not DeliveryStatus.SENDING:
                return message.attempts
            changes: dict[str, Any] = {"status": DeliveryStatus.QUEUED, "status_at": now}
            if error_code is not None or error_title is not None:
                changes.update(
                    attempts=message.attempts + 1, error_code=error_code, error_title=error_title
                )
            return self._set(message_id, **changes).attempts

    def mark_sent(
        self,
        message_id: str,
        wamid: str,
        now: datetime,
        *,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        with self.database.lock:
            self._existing(message_id)
            changes: dict[str, Any] = {
                "status": DeliveryStatus.SENT,
                "wamid": wamid,
                "status_at": now,
            }
            if note is not None:
                changes["note"] = note
            if payload is not None:
                changes["payload"] = copy.deepcopy(payload)
            self._set(message_id, **changes)

    def requeue(self, message_id: str, now: datetime) -> StoredMessage | None:
        with self.database.lock:
            message = self.database.messages.get(message_id)
            if message is None or message.direction is not Direction.OUTBOUND:
                return None
            return self._set(
                message_id,
                status=DeliveryStatus.QUEUED,
                status_at=now,
                attempts=0,
                error_code=None,
                error_title=None,
            )

    def mark_failed(
        self, message_id: str, *, error_code: int | None, error_title: str, now: datetime
    ) -> None:
        with self.database.lock:
            self._existing(message_id)
            self._set(
                message_id,
                status=DeliveryStatus.FAILED,
                status_at=now,
                error_code=error_code,
                error_title=error_title,
            )

    def apply_status(
        self,
        wamid: str,
        status: DeliveryStatus,
        at: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        with self.database.lock:
            if message_id is not None:
                message = self.database.messages.get(message_id)
                message = message if message is not None and message.wamid == wamid else None
            else:
                message = next(
                    (m for m in self.database.messages.values() if m.wamid == wamid), None
                )
            if message is None or message.status not in statuses_before(status):
                return False
            changes: dict[str, Any] = {"status": status, "status_at": at}
            if status is DeliveryStatus.FAILED:
                if error_code is not None:
                    changes["error_code"] = error_code
                if error_title is not None:
                    changes["error_title"] = error_title
            self._set(message.id, **changes)
            return True

    def mark_skipped(self, message_id: str, reason: str, now: datetime) -> bool:
        with self.database.lock:
            message = self.database.messages.get(message_id)
            if message is None or message.status not in (
                DeliveryStatus.QUEUED,
                DeliveryStatus.SENDING,
            ):
                return False
            self._set(
                message_id,
                status=DeliveryStatus.SKIPPED,
                status_at=now,
                note=reason,
                error_title=reason,
            )
            return True

    def record_media(self, message_id: str, media_key: str, mime_type: str, size: int) -> None:
        with self.database.lock:
            self._existing(message_id)
            self._set(message_id, media_key=media_key)

    def list_queued_before(self, before: datetime, limit: int = 100) -> list[StoredMessage]:
        with self.database.lock:
            queued = sorted(
                (
                    m
                    for m in self.database.messages.values()
                    if m.status is DeliveryStatus.QUEUED and m.created_at < before
                ),
                key=lambda m: m.created_at,
            )
            return copy.deepcopy(queued[:limit])

    def _existing(self, message_id: str) -> StoredMessage:
        message = self.database.messages.get(message_id)
        if message is None:
            raise KeyError(f"no message {message_id!r}")
        return message

    def _set(self, message_id: str, **changes: Any) -> StoredMessage:
        updated = replace(self.database.messages[message_id], **changes)
        self.database.messages[message_id] = updated
        return copy.deepcopy(updated)


class InMemoryTicketStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, reference: str) -> Ticket | None:
        with self.database.lock:
            return copy.deepcopy(self.database.tickets.get(reference))

    def next_number(self, prefix: str, year: int) -> int:
        with self.database.lock:
            numbers = self.database.ticket_numbers
            numbers[(prefix, year)] = numbers.get((prefix, year), 0) + 1
            return numbers[(prefix, year)]

    def list_for_resident(self, resident_key: str, limit: int = 20) -> list[Ticket]:
        with self.database.lock:
            theirs = sorted(
                (t for t in self.database.tickets.values() if t.resident_key == resident_key),
                key=lambda ticket: ticket.created_at,
                reverse=True,
            )
            return copy.deepcopy(theirs[: max(limit, 0)])


class InMemoryOutboundQueue:
    """Records (message_id, priority) in the order enqueued."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enqueued: list[tuple[str, Priority]] = []
        self.dead_lettered: list[tuple[str, Priority, str]] = []

    def enqueue(self, message_ids: Sequence[str], priority: Priority) -> None:
        with self._lock:
            self.enqueued.extend((message_id, priority) for message_id in message_ids)

    def dead_letter(self, message_ids: Sequence[str], priority: Priority, reason: str) -> None:
        with self._lock:
            self.dead_lettered.extend((message_id, priority, reason) for message_id in message_ids)

    def ids(self, priority: Priority | None = None) -> list[str]:
        with self._lock:
            return [mid for mid, p in self.enqueued if priority is None or p is priority]

    def drain(self) -> list[tuple[str, Priority]]:
        """Everything enqueued so far, oldest first; the queue is empty afterwards."""
        with self._lock:
            drained, self.enqueued = self.enqueued, []
            return drained


class InMemoryInboundQueue:
    """Records (resident_key, dedup_id, body) in the order enqueued. Like the FIFO queue, an item
    whose dedup id was seen before is dropped (SQS forgets after 5 minutes; this never does)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen_dedup_ids: set[str] = set()
        self.enqueued: list[tuple[str, str, dict[str, Any]]] = []

    def enqueue(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        with self._lock:
            for resident_key, dedup_id, body in items:
                if dedup_id in self._seen_dedup_ids:
                    continue
                self._seen_dedup_ids.add(dedup_id)
                self.enqueued.append((resident_key, dedup_id, copy.deepcopy(body)))

    def drain(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Everything enqueued so far, oldest first; the queue is empty afterwards."""
        with self._lock:
            drained, self.enqueued = self.enqueued, []
            return drained


class InMemorySenderControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paused: dict[str, str] = {}

    def paused_reason(self, phone_number_id: str) -> str | None:
        with self._lock:
            return self.paused.get(phone_number_id)

    def pause(self, phone_number_id: str, reason: str, now: datetime) -> None:
        with self._lock:
            self.paused[phone_number_id] = reason

    def resume(self, phone_number_id: str) -> None:
        with self._lock:
            self.paused.pop(phone_number_id, None)
