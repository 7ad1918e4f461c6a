"""What the simulator remembers about conversations: every inbound and outbound message with
its status, and each resident's name and typing indicator. Not thread-safe on its own: the
engine serialises access."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# Statuses only move forward; `failed` is terminal and reachable only before `sent`.
_STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRecord:
    seq: int  # creation order, for chronology
    rev: int  # last change, for `thread?after=`
    wamid: str
    recipient: str
    recipient_input: str
    addressed_by_user_id: bool
    message_type: str
    body: Mapping[str, Any]
    accepted_at: float
    pricing: Mapping[str, Any]
    status: str = "accepted"
    status_at: float | None = None
    delivered_notified: bool = False  # if not, `pricing` rides on the read status instead
    errors: tuple[Mapping[str, Any], ...] = ()
    biz_opaque_callback_data: str | None = None

    def can_become(self, status: str) -> bool:
        if status == "failed":
            return self.status == "accepted"
        if status == "read":  # a message counts as read only once it got to the phone
            return self.status in ("sent", "delivered")
        return self.status != "failed" and _STATUS_RANK[status] > _STATUS_RANK[self.status]

    def as_outbox_json(self) -> dict[str, Any]:
        return {
            "wamid": self.wamid,
            "to": self.recipient,
            "input": self.recipient_input,
            "type": self.message_type,
            "body": copy.deepcopy(dict(self.body)),
            "accepted_at": self.accepted_at,
            "status": self.status,
            "errors": [dict(error) for error in self.errors],
            "biz_opaque_callback_data": self.biz_opaque_callback_data,
        }

    def as_thread_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "rev": self.rev,
            "direction": "outbound",
            "wamid": self.wamid,
            "type": self.message_type,
            "timestamp": self.accepted_at,
            "status": self.status,
            "body": copy.deepcopy(dict(self.body)),
            "errors": [dict(error) for error in self.errors],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundRecord:
    seq: int
    rev: int
    wamid: str
    resident: str
    name: str
    message: Mapping[str, Any]  # the `messages[]` object as posted to the app
    received_at: float
    read_by_business: bool = False

    def as_thread_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "rev": self.rev,
            "direction": "inbound",
            "wamid": self.wamid,
            "type": self.message["type"],
            "timestamp": self.received_at,
            "status": "read" if self.read_by_business else "delivered",
            "name": self.name,
            "message": copy.deepcopy(dict(self.message)),
        }


Record = OutboundRecord | InboundRecord


@dataclass(frozen=True, slots=True)
class Resident:
    key: str
    name: str | None = None
    typing_until: float | None = None


class ConversationLog:
    def __init__(self) -> None:
        # Counters survive `clear()`: a phone page polling with `after=<rev>` must still see
        # messages sent after a reset.
        self._seq = itertools.count(1)
        self._rev = itertools.count(1)
        self._records: dict[str, Record] = {}
        self._residents: dict[str, Resident] = {}

    def new_ids(self) -> tuple[int, int]:
        """A (seq, rev) pair for a record about to be added."""
        return next(self._seq), next(self._rev)

    def add(self, record: Record) -> Record:
        self._records[record.wamid] = record
        key = record.recipient if isinstance(record, OutboundRecord) else record.resident
        self._residents.setdefault(key, Resident(key))
        return record

    def get(self, wamid: str) -> Record | None:
        return self._records.get(wamid)

    def update(self, record: Record, **changes: Any) -> Record:
        updated = replace(record, rev=next(self._rev), **changes)
        self._records[record.wamid] = updated
        return updated

    def thread(self, resident: str, *, after_rev: int = 0) -> list[Record]:
        return [
            record
            for record in self._records.values()
            if _resident_of(record) == resident and record.rev > after_rev
        ]

    def outbound(self) -> list[OutboundRecord]:
        return [r for r in self._records.values() if isinstance(r, OutboundRecord)]

    def resident(self, key: str) -> Resident:
        return self._residents.get(key, Resident(key))

    def update_resident(self, key: str, **changes: Any) -> None:
        self._residents[key] = replace(self.resident(key), **changes)

    def clear(self) -> None:
        self._records.clear()
        self._residents.clear()


def _resident_of(record: Record) -> str:
    return record.recipient if isinstance(record, OutboundRecord) else record.resident
