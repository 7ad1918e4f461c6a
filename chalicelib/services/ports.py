"""What the use cases need from the outside world. Adapters implement these; tests use the
in-memory implementations in `chalicelib.adapters.memory_stores`, which pass the same contract
tests as the DynamoDB ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.api_keys import ApiKey
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import DeliveryStatus, Priority, StoredMessage
from chalicelib.domain.obligations import Notification, Obligation, ScheduledReminder
from chalicelib.domain.replies import Reply
from chalicelib.domain.residents import Resident
from chalicelib.domain.tickets import Ticket


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
    tickets: tuple[Ticket, ...] = ()  # created by this turn; their references must be new
    search_terms: tuple[SearchTerm, ...] = ()  # what makes the conversation findable


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchTerm:
    """One entry of the console's search index: `term` (see domain.search_terms) was said in,
    or names the resident of, `conversation_id` at `at`. `expires_at`: when the index may
    forget it (the configuration's message retention; None: kept until deleted)."""

    term: str
    conversation_id: str
    at: datetime
    expires_at: datetime | None = None


class ResidentStore(Protocol):
    def load(self, resident_key: str) -> tuple[Resident | None, Conversation | None]:
        """The resident and their current conversation (None, None for a stranger)."""
        ...

    def save_turn(self, turn: InboundTurn) -> bool:
        """Store the turn atomically. False (and nothing written) when the inbound message was
        already stored: a duplicate delivery. Raises ConcurrentUpdateError on a version clash."""
        ...

    def get(self, resident_key: str) -> Resident | None:
        """The resident alone (one read), e.g. to check an opt-out before a bulk send."""
        ...

    def set_opted_out(
        self,
        resident_key: str,
        opted_out: bool,
        at: datetime,
        *,
        wa_id: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        """Record an opt-out (True) or opt-in (False) made at `at`, creating a minimal resident
        when unknown, and append it to the resident's consent history. Older news never
        overwrites newer: False when the stored choice was made after `at` (or is the same), and
        nothing changes."""
        ...

    def save_conversation(self, conversation: Conversation) -> None:
        """Store a conversation changed outside an inbound turn (resolved by an agent, CSAT
        asked), checking its version like save_turn; raises ConcurrentUpdateError."""
        ...


class TicketStore(Protocol):
    def get(self, reference: str) -> Ticket | None: ...

    def next_number(self, prefix: str, year: int) -> int:
        """The next number of `prefix`'s sequence for `year` (1, 2, ...), atomically: two
        callers never get the same one. Numbers lost to failed turns are not reused."""
        ...

    def list_for_resident(self, resident_key: str, limit: int = 20) -> list[Ticket]:
        """The resident's tickets, newest first."""
        ...


class MessageStore(Protocol):
    def get(self, message_id: str) -> StoredMessage | None: ...

    def get_many(self, message_ids: Sequence[str]) -> list[StoredMessage]: ...

    def add_outbound(self, messages: Sequence[StoredMessage]) -> list[str]:
        """Store queued outbound messages; ids already stored are left untouched. The ids
        this call stored, in order (a caller queues only those)."""
        ...

    def claim_for_sending(self, message_id: str, now: datetime) -> StoredMessage | None:
        """Move queued → sending. None when it is not queued any more (sent, or claimed by an
        earlier delivery of the same SQS message): the caller must not send it."""
        ...

    def release_claim(
        self,
        message_id: str,
        now: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> int:
        """Move sending → queued again so a redelivery may retry. With an error, count a failed
        attempt and remember the error. Returns the failed attempts so far."""
        ...

    def mark_sent(
        self,
        message_id: str,
        wamid: str,
        now: datetime,
        *,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Record Meta's wamid. `payload` replaces what was stored when something else was sent
        (a re-open template instead of a late free-form reply); `note` says why."""
        ...

    def requeue(self, message_id: str, now: datetime) -> StoredMessage | None:
        """Put a failed or dead-lettered outbound message back to queued with no attempts
        (an operator's replay). None when there is no such outbound message."""
        ...

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
        message_id: str | None = None,
    ) -> bool:
        """Apply a delivery status reported by Meta, never moving backwards. False when it was
        unknown, stale or a duplicate. `message_id` (our id, echoed by Meta as callback data)
        finds the message by key; without it the wamid is looked up."""
        ...

    def list_queued_before(self, before: datetime, limit: int = 100) -> list[StoredMessage]:
        """Outbound messages still queued since before `before` (their SQS send was lost)."""
        ...

    def mark_skipped(self, message_id: str, reason: str, now: datetime) -> bool:
        """queued/sending → skipped, never sent (e.g. the resident opted out). False when the
        message was not in one of those states."""
        ...

    def record_media(self, message_id: str, media_key: str, mime_type: str, size: int) -> None:
        """Note that an inbound message's media is kept at `media_key` (idempotent)."""
        ...


class OutboundQueue(Protocol):
    def enqueue(self, message_ids: Sequence[str], priority: Priority) -> None: ...

    def dead_letter(self, message_ids: Sequence[str], priority: Priority, reason: str) -> None:
        """Park messages that will not be retried on the queue's dead-letter queue, with why."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaJob:
    """Fetch an inbound photo/document/voice note from the Graph API and keep it privately.
    Meta's download URL lives 5 minutes, the media id 7 days: the job re-asks for a URL."""

    message_id: str  # the inbound wamid
    media_id: str
    resident_key: str
    mime_type: str = ""


class MediaQueue(Protocol):
    def enqueue(self, jobs: Sequence[MediaJob]) -> None: ...


class MediaArchive(Protocol):
    """Private, encrypted storage for residents' media (S3 in AWS)."""

    def put(self, key: str, content: bytes, mime_type: str) -> None: ...

    def get(self, key: str) -> tuple[bytes, str] | None:
        """(content, mime type), or None when nothing is kept under `key`."""
        ...

    def delete(self, key: str) -> None:
        """No error when nothing is kept under `key`."""
        ...

    def url(self, key: str, *, expires_seconds: int = 300, download: bool = False) -> str:
        """A short-lived link the console's browser can fetch the object from (S3: presigned);
        `download`: the browser is told to save the file rather than open it."""
        ...


class SenderControl(Protocol):
    """A sender-wide stop, set when Meta refuses for a reason no retry can fix (an expired
    token, a blocked account) and cleared by an operator."""

    def paused_reason(self, phone_number_id: str) -> str | None: ...

    def pause(self, phone_number_id: str, reason: str, now: datetime) -> None: ...

    def resume(self, phone_number_id: str) -> None: ...


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
    def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        context_wamid: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """Send one message; raises GraphApiError (or requests' errors for transport faults).
        `callback_data` is echoed back by Meta in the message's status webhooks."""
        ...


class ObligationStore(Protocol):
    def get(self, external_id: str) -> Obligation | None: ...

    def reminders_of(self, external_id: str) -> list[ScheduledReminder]: ...

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Obligation]:
        """The resident's obligations, latest due date first (an index query, no Scan)."""
        ...

    def save(
        self,
        obligation: Obligation,
        reminders: Sequence[ScheduledReminder],
        *,
        replaced: Sequence[ScheduledReminder] = (),
        rewritten: Sequence[ScheduledReminder] = (),
    ) -> None:
        """Store the obligation and its new reminder plan at once; `replaced` are the old
        scheduled reminders the plan supersedes (they become skipped, leaving the due index);
        `rewritten` are earlier reminders whose copy of the obligation becomes this one (it
        moved to another phone: the old number must not stay behind in them)."""
        ...


class ReminderSchedule(Protocol):
    """The due index: scheduled reminders and notifications by 15-minute slot, read by the job
    with one Query per slot — never a Scan."""

    def due_in_slot(self, slot: str) -> list[ScheduledReminder]: ...

    def claim(self, reminder: ScheduledReminder, message_id: str, now: datetime) -> bool:
        """scheduled → queued (leaves the index). False when it was not scheduled any more:
        another run got it first."""
        ...

    def skip(self, reminder: ScheduledReminder, reason: str, now: datetime) -> bool: ...

    def move(self, reminder: ScheduledReminder, send_at: datetime) -> None:
        """Re-slot a reminder whose slot passed outside the send window."""
        ...

    def watermark(self) -> str | None:
        """The last slot a job finished."""
        ...

    def advance_watermark(self, slot: str) -> None: ...


class NotificationStore(Protocol):
    def get(self, external_id: str) -> Notification | None: ...

    def add(self, notification: Notification) -> bool:
        """False (nothing written) when the external id is already known."""
        ...

    def due_in_slot(self, slot: str) -> list[Notification]: ...

    def claim(self, notification: Notification, message_id: str, now: datetime) -> bool: ...

    def move(self, notification: Notification, send_at: datetime) -> None:
        """Re-slot a notification whose slot passed outside the send window."""
        ...


class ApiKeyStore(Protocol):
    def find(self, key_hash: str) -> ApiKey | None: ...

    def add(self, key: ApiKey) -> None: ...

    def revoke(self, name: str, now: datetime) -> bool: ...

    def list(self) -> list[ApiKey]: ...
