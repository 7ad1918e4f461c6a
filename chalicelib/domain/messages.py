"""Stored messages in both directions, and the order delivery statuses may move in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"
    NOTE = "note"  # internal to the town hall, never sent: agents' notes and timeline events


class DeliveryStatus(StrEnum):
    RECEIVED = "received"  # inbound messages
    QUEUED = "queued"  # outbound, waiting in SQS
    SENDING = "sending"  # claimed by a sender, Graph call in flight
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    SKIPPED = "skipped"  # outbound, never sent: the resident opted out before it left


_PROGRESS = [
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.READ,
    DeliveryStatus.PLAYED,
]


def statuses_before(new: DeliveryStatus) -> tuple[DeliveryStatus, ...]:
    """The statuses a message may be in for `new` to apply: statuses never move backwards
    (a late `delivered` never overwrites `read`), and `failed` is final but cannot undo a
    delivery that already happened."""
    if new is DeliveryStatus.FAILED:
        return (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT)
    if new not in _PROGRESS:
        return ()
    return tuple(_PROGRESS[: _PROGRESS.index(new)])


def may_move(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    return current in statuses_before(new)


class Priority(StrEnum):
    """Replies to residents never wait behind bulk sends (reminders, broadcasts)."""

    REPLY = "reply"
    BULK = "bulk"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    id: str  # inbound: the wamid; outbound: our own id, known before Meta assigns a wamid
    direction: Direction
    resident_key: str
    conversation_id: str | None
    message_type: str  # text, image, interactive, template, menu, ...
    body: str | None  # a readable summary: text, caption, button title, template params
    payload: dict[str, Any] = field(default_factory=dict)  # inbound: Meta's object; out: the reply
    media_id: str | None = None
    created_at: datetime
    status: DeliveryStatus
    status_at: datetime
    wamid: str | None = None
    recipient: str | None = None  # outbound: wa_id or BSUID
    priority: Priority = Priority.REPLY
    error_code: int | None = None
    error_title: str | None = None
    reply_ids: tuple[str, ...] = ()  # inbound: the outbound messages it caused
    sent_by: str | None = None  # outbound: "bot", an agent id, "reminders", ...
    attempts: int = 0  # outbound: failed send attempts so far
    note: str | None = None  # outbound: why what was sent differs from what was asked
    media_key: str | None = None  # inbound media kept in the media archive, once fetched
    broadcast_id: str | None = None  # outbound: the broadcast this message is part of
    expires_at: datetime | None = None  # when retention deletes it (None: kept)
