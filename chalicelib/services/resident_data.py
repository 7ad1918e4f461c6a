"""Use cases: a resident's data rights — export everything kept about them, or erase it.

`export_resident` gathers, by the resident's key, what every table and the media bucket hold
about them (profile with subscriptions and consent history, conversations, messages in every
direction with agents' notes, tickets with links to their photos, obligations, reminders,
notifications, the search index's entries for their conversations, pacing state, media files)
and the audit log's events about them, as one JSON-ready document. It records an `exported`
event.

`erase_resident` deletes all of it, anonymises their tickets (`domain.data_rights`), strips the
`detail` from their earlier audit events (which may name a back office's records of them; who
did what and when stays), and keeps one minimal record: an `erased` audit event under the
resident's pseudonym with the counts.
It is idempotent: a second run finds nothing and answers `already_erased` with the first
run's time. The order makes an interrupted run safe to repeat: everything that is found through
another item goes before that item (search entries before the conversations that find them,
reminders before their obligations), then the erasure record, and the resident item last —
until it is gone, running again finds the resident and finishes the job.

docs/data-rights.md says what is kept and why.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.audit import AuditAction
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.data_rights import anonymised_ticket
from chalicelib.domain.messages import StoredMessage
from chalicelib.domain.obligations import Notification, Obligation, ScheduledReminder
from chalicelib.domain.residents import Resident
from chalicelib.domain.tickets import Ticket
from chalicelib.services.audit_ports import MAX_LIMIT

if TYPE_CHECKING:
    from chalicelib.domain.audit import AuditEvent
    from chalicelib.services.audit_trail import AuditTrail
    from chalicelib.services.ports import MediaArchive

EXPORT_FORMAT = "civicchat.resident-export/1"
LINK_SECONDS = 3600  # how long the export's media links work: time to download them, no more
AUDIT_EXPORT_LIMIT = MAX_LIMIT  # the most the audit log hands out at once


class ResidentNotFoundError(LookupError):
    """Nothing is kept about that resident, and nothing was ever erased for them."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchEntry:
    """One entry of the console's search index for one of the resident's conversations."""

    term: str
    entry: str  # "<sortable time>#<conversation id>" (store_rules.search_entry)
    conversation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaObject:
    key: str  # under residents/<resident key>/ in the media bucket
    size: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentRecords:
    """Everything stored about one resident, as found by their key."""

    resident_key: str
    resident: Resident | None = None
    conversations: tuple[Conversation, ...] = ()
    messages: tuple[StoredMessage, ...] = ()
    search_terms: tuple[SearchEntry, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    reminders: tuple[ScheduledReminder, ...] = ()
    notifications: tuple[Notification, ...] = ()
    pacing: tuple[str, ...] = ()  # rate-limit keys naming their number (pair#<id>#<number>)
    media: tuple[MediaObject, ...] = ()

    def counts(self) -> dict[str, int]:
        """Items per table (and `media`: files in the bucket), those with any."""
        found = {
            "residents": 0 if self.resident is None else 1,
            "conversations": len(self.conversations),
            "messages": len(self.messages),
            "search": len(self.search_terms),
            "tickets": len(self.tickets),
            "obligations": len(self.obligations),
            "reminders": len(self.reminders),
            "notifications": len(self.notifications),
            "pacing": len(self.pacing),
            "media": len(self.media),
        }
        return {name: count for name, count in found.items() if count}

    @property
    def empty(self) -> bool:
        return not self.counts()


class ResidentDataStore(Protocol):
    """Finds and removes a resident's items in every table and the media bucket. Adapters:
    `adapters.dynamodb_resident_data` (DynamoDB + S3), `adapters.memory_resident_data`."""

    def collect(self, resident_key: str, *, recipient: str | None = None) -> ResidentRecords:
        """Everything kept under `resident_key`; `recipient` (their WhatsApp number's digits)
        also finds the pacing state of the number."""
        ...

    def erase(self, records: ResidentRecords) -> None:
        """Delete what `records` found, except the resident item, in the order of the module
        docstring; tickets are replaced by `records`' anonymised ones. A conversation goes as
        stored when it is deleted (also if it changed since it was found), and the agent holding
        it gets it off their workload (`open_count`) at the same time. Deleting what is gone
        already is no error."""
        ...

    def delete_resident(self, resident_key: str) -> None:
        """The last step: the resident item itself."""
        ...


@dataclass(frozen=True, slots=True)
class ErasureOutcome:
    resident_ref: str
    erased: Mapping[str, int]  # items per table (media: files) removed or anonymised by this run
    erased_at: datetime  # this run's, or the first erasure's when already erased
    already_erased: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "erased": dict(self.erased),
            "resident_ref": self.resident_ref,
            "erased_at": self.erased_at.isoformat(),
            "already_erased": self.already_erased,
        }


@dataclass(frozen=True, slots=True)
class DataRightsPorts:
    data: ResidentDataStore
    audit: AuditTrail
    media_links: MediaArchive | None = None  # None: the export lists media without links


def export_resident(
    resident_key: str,
    *,
    ports: DataRightsPorts,
    actor: str,
    now: datetime,
    recipient: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready export. Raises ResidentNotFoundError when nothing is kept (an erased
    resident's export says so too: nothing is left to export). Records `exported`, raising
    when it cannot: an export nobody can account for is not handed out."""
    records = ports.data.collect(resident_key, recipient=recipient)
    if records.empty:
        raise ResidentNotFoundError(resident_key)
    trail = ports.audit.for_resident(resident_key, limit=AUDIT_EXPORT_LIMIT)
    document = _export_document(records, trail.resident_ref, trail.events, ports.media_links, now)
    ports.audit.record(
        resident_key,
        actor=actor,
        action=AuditAction.EXPORTED,
        at=now,
        counts=records.counts(),
    )
    return document


def erase_resident(
    resident_key: str,
    *,
    ports: DataRightsPorts,
    actor: str,
    now: datetime,
    recipient: str | None = None,
) -> ErasureOutcome:
    """Erase everything about the resident (see the module docstring). Raises
    ResidentNotFoundError when nothing is kept and no erasure was ever recorded."""
    records = ports.data.collect(resident_key, recipient=recipient)
    ref = ports.audit.ref(resident_key)
    if records.empty:
        previous = _last_erasure(ports.audit.for_resident(resident_key).events)
        if previous is None:
            raise ResidentNotFoundError(resident_key)
        return ErasureOutcome(ref, {}, previous.at, already_erased=True)
    counts = records.counts()
    anonymised = dataclasses.replace(
        records, tickets=tuple(anonymised_ticket(ticket) for ticket in records.tickets)
    )
    ports.data.erase(anonymised)
    ports.audit.strip_details(resident_key)  # they may name a back office's records of them
    ports.audit.record(resident_key, actor=actor, action=AuditAction.ERASED, at=now, counts=counts)
    if records.resident is not None:
        ports.data.delete_resident(resident_key)
    return ErasureOutcome(ref, counts, now, already_erased=False)


def _last_erasure(events: list[AuditEvent]) -> AuditEvent | None:
    erasures = [event for event in events if event.action is AuditAction.ERASED]
    return max(erasures, key=lambda event: event.at) if erasures else None


# --- the export document ----------------------------------------------------------------------


def _export_document(
    records: ResidentRecords,
    ref: str,
    events: list[AuditEvent],
    links: MediaArchive | None,
    now: datetime,
) -> dict[str, Any]:
    def link(key: str) -> str | None:
        return links.url(key, expires_seconds=LINK_SECONDS, download=True) if links else None

    tickets = []
    for ticket in records.tickets:
        item = plain(ticket)
        for attachment in item["attachments"]:
            attachment["url"] = link(attachment["media_key"])
        tickets.append(item)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "resident_key": records.resident_key,
        "resident_ref": ref,
        "counts": records.counts(),
        "resident": plain(records.resident),
        "conversations": [plain(c) for c in records.conversations],
        "messages": [plain(m) for m in records.messages],
        "tickets": tickets,
        "obligations": [plain(o) for o in records.obligations],
        "reminders": [plain(r) for r in records.reminders],
        "notifications": [plain(n) for n in records.notifications],
        "search_terms": [
            {
                "term": entry.term,
                "at": entry.entry.partition("#")[0],
                "conversation_id": entry.conversation_id,
            }
            for entry in records.search_terms
        ],
        "pacing": [{"key": key} for key in records.pacing],
        "media": [
            {"key": media.key, "size": media.size, "url": link(media.key)}
            for media in records.media
        ],
        "audit": [  # each under `resident_ref`, given once above
            {name: value for name, value in plain(event).items() if name != "resident_ref"}
            for event in events
        ],
    }


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as objects of their fields, times in ISO 8601,
    enums by value, tuples and sets as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(item) for item in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value
