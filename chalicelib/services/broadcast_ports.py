"""What the broadcast use cases need from the outside world. The DynamoDB adapters are in
`adapters/dynamodb_broadcast_store.py`, their in-memory twins in
`adapters/memory_broadcast_store.py`; both pass tests/integration/test_broadcast_store_contracts.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.broadcasts import Broadcast, MessageState
from chalicelib.domain.residents import Resident
from chalicelib.services.ports import MessageStore, OutboundQueue


class BroadcastStore(Protocol):
    def add(self, broadcast: Broadcast) -> None:
        """Store a new broadcast (version 0); it is stored at version 1."""
        ...

    def get(self, broadcast_id: str) -> Broadcast | None: ...

    def save(self, broadcast: Broadcast) -> Broadcast | None:
        """Store a change made to the broadcast as read (its `version`); the stored broadcast
        (version + 1), or None when it changed meanwhile (a cancel): nothing is written."""
        ...

    def recent(self, limit: int = 50) -> list[Broadcast]:
        """Newest first (an index query, no Scan)."""
        ...

    def settling(self) -> list[Broadcast]:
        """Broadcasts the job still has work on: scheduled, running, or cancelled without a
        final report (a sparse index: nothing else is read)."""
        ...

    def message_states(self, broadcast_id: str) -> list[MessageState]:
        """The status of each message of the broadcast (the messages' `by_broadcast` index)."""
        ...


class AudienceSource(Protocol):
    def scan_segment(self, segment: int, total_segments: int) -> Iterator[Resident]:
        """Every resident of one of `total_segments` disjoint parts of the residents table
        (DynamoDB's parallel scan segments); `scan_segment(0, 1)` reads them all."""
        ...


class DailyBudget(Protocol):
    """The portfolio's messaging limit as a budget over a moving 24 h, shared by every run."""

    def reserve(self, wanted: int, limit: int, now: datetime) -> int:
        """Take up to `wanted` of what `limit` leaves in the 24 h up to `now`; how many were
        taken (0 when it is used up)."""
        ...

    def release(self, unused: int, now: datetime) -> None:
        """Give back `unused` of what a `reserve` at the same `now` took (messages another
        run had stored meanwhile). A message skipped later (opted out, cancelled) is not
        given back: the reservation is what may reach residents, and counting it is safe."""
        ...

    def used(self, now: datetime) -> int:
        """What the last 24 h took (what `reserve` counts against the limit)."""
        ...


class BroadcastAudit(Protocol):
    """The audit log's side of a broadcast (services.audit_trail.AuditTrail)."""

    def record_broadcast(
        self, broadcast_id: str, *, actor: str, at: datetime, audience: int, detail: str = ""
    ) -> object: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastPorts:
    broadcasts: BroadcastStore
    audience: AudienceSource
    budget: DailyBudget
    messages: MessageStore
    outbound: OutboundQueue
