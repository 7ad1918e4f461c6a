"""Tickets: problem reports a resident makes through the bot, known by a human-readable
reference such as VNR-2026-000123 (the municipality's prefix, the year, a yearly sequence)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TicketStatus(StrEnum):
    OPEN = "open"  # received, nobody working on it yet
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"  # closed without a fix (duplicate, not the town hall's, ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketAttachment:
    """A photo or document the resident sent, kept privately under `media_key`."""

    message_id: str  # the inbound message's wamid
    media_key: str  # object key in the media bucket, see media_object_key
    mime_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    reference: str
    resident_key: str
    conversation_id: str
    flow: str  # the flow that created it, e.g. report_problem
    category: str | None = None  # a choice id of the flow's category step
    team: str | None = None
    description: str | None = None
    location: Location | None = None  # a pin
    address: str | None = None  # a typed address, when no pin was sent
    attachments: tuple[TicketAttachment, ...] = ()
    status: TicketStatus = TicketStatus.OPEN
    language: str | None = None  # the resident's, for notifying them later
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketLookup:
    """A reference a resident typed, and the ticket it names if it is theirs (None otherwise:
    another resident's ticket is reported as not found, never shown)."""

    reference: str
    ticket: Ticket | None


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:06d}"


def find_reference(prefix: str, text: str | None) -> str | None:
    """The first reference in `text`, normalised: "vnr 2026 123" and "VNR-2026-000123" both give
    "VNR-2026-000123". Case and the separators (dash, space, slash, dot) do not matter."""
    if not text:
        return None
    pattern = re.compile(
        rf"(?<![A-Za-z0-9]){re.escape(prefix)}[\s\-/.]*(\d{{4}})[\s\-/.]*(\d{{1,9}})(?!\d)",
        re.IGNORECASE,
    )
    match = pattern.search(text)
    if match is None:
        return None
    return format_reference(prefix, int(match.group(1)), int(match.group(2)))


def media_object_key(resident_key: str, message_id: str) -> str:
    """Where an inbound photo or document is kept: under the resident, so that erasing a
    resident removes one prefix."""
    return f"residents/{resident_key}/media/{message_id}"
