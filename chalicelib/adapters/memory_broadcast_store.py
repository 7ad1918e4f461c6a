"""In-memory twins of the broadcast adapters, for service tests. They pass the same contract
tests as the DynamoDB ones (tests/integration/test_broadcast_store_contracts.py) and read the
residents and messages of the shared `InMemoryDatabase`, as the DynamoDB ones read the
stage's tables."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime

from chalicelib.adapters.memory_stores import InMemoryDatabase
from chalicelib.domain.broadcasts import (
    Broadcast,
    MessageState,
    budget_hours,
    budget_used,
    grant,
)
from chalicelib.domain.residents import Resident


class InMemoryBroadcastStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()
        self._broadcasts: dict[str, Broadcast] = {}
        self._lock = threading.RLock()

    def add(self, broadcast: Broadcast) -> None:
        with self._lock:
            if broadcast.id in self._broadcasts:
                raise ValueError(f"broadcast {broadcast.id} exists already")
            self._broadcasts[broadcast.id] = copy.deepcopy(
                dataclasses.replace(broadcast, version=1)
            )

    def get(self, broadcast_id: str) -> Broadcast | None:
        with self._lock:
            return copy.deepcopy(self._broadcasts.get(broadcast_id))

    def save(self, broadcast: Broadcast) -> Broadcast | None:
        with self._lock:
            stored = self._broadcasts.get(broadcast.id)
            if (stored.version if stored else 0) != broadcast.version:
                return None
            saved = dataclasses.replace(broadcast, version=broadcast.version + 1)
            self._broadcasts[broadcast.id] = copy.deepcopy(saved)
            return copy.deepcopy(saved)

    def recent(self, limit: int = 50) -> list[Broadcast]:
        with self._lock:
            newest = sorted(self._broadcasts.values(), key=lambda b: b.created_at, reverse=True)
            return copy.deepcopy(newest[:limit])

    def settling(self) -> list[Broadcast]:
        with self._lock:
            return copy.deepcopy(
                sorted(
                    (b for b in self._broadcasts.values() if b.settling), key=lambda b: b.send_at
                )
            )

    def message_states(self, broadcast_id: str) -> list[MessageState]:
        with self.database.lock:
            return [
                MessageState(m.status, m.error_code, m.error_title, m.status_at)
                for m in self.database.messages.values()
                if m.broadcast_id == broadcast_id
            ]


class InMemoryAudienceSource:
    """Residents split into segments by a hash of their key, as DynamoDB splits a table."""

    def __init__(self, database: InMemoryDatabase) -> None:
        self.database = database

    def scan_segment(self, segment: int, total_segments: int) -> Iterator[Resident]:
        with self.database.lock:
            residents = [
                copy.deepcopy(resident)
                for key, resident in self.database.residents.items()
                if _segment_of(key, total_segments) == segment
            ]
        yield from residents


def _segment_of(key: str, total_segments: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % total_segments


class InMemoryDailyBudget:
    def __init__(self) -> None:
        self.used_by_hour: dict[str, int] = {}
        self._lock = threading.Lock()

    def used(self, now: datetime) -> int:
        with self._lock:
            return budget_used(self.used_by_hour, now)

    def reserve(self, wanted: int, limit: int, now: datetime) -> int:
        with self._lock:
            granted = grant(wanted, limit, budget_used(self.used_by_hour, now)) if wanted > 0 else 0
            if granted:
                hour = budget_hours(now)[0]
                self.used_by_hour[hour] = self.used_by_hour.get(hour, 0) + granted
            return granted

    def release(self, unused: int, now: datetime) -> None:
        with self._lock:
            hour = budget_hours(now)[0]
            self.used_by_hour[hour] = max(0, self.used_by_hour.get(hour, 0) - max(0, unused))
