"""In-memory twin of the DynamoDB audit log; passes the same contract tests
(tests/integration/test_audit_log_contracts.py)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from chalicelib.adapters.audit_rules import (
    audit_entry,
    check_audit_limit,
    position_of,
    recent_cursor,
)
from chalicelib.domain.audit import AuditEvent
from chalicelib.services.audit_ports import RECENT_LIMIT, RESIDENT_LIMIT


class InMemoryAuditLog:
    def __init__(self) -> None:
        # entry → event, per resident; an entry sorts like its moment (see audit_rules)
        self._events: dict[str, dict[str, AuditEvent]] = {}
        self._lock = threading.RLock()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._events.setdefault(event.resident_ref, {})[audit_entry(event)] = event

    def record_many(self, events: Sequence[AuditEvent]) -> None:
        for event in events:
            self.record(event)

    def for_resident(self, resident_ref: str, limit: int = RESIDENT_LIMIT) -> list[AuditEvent]:
        check_audit_limit(limit)
        with self._lock:
            entries = self._events.get(resident_ref, {})
            return [entries[entry] for entry in sorted(entries, reverse=True)[:limit]]

    def strip_details(self, resident_ref: str) -> int:
        with self._lock:
            entries = self._events.get(resident_ref, {})
            detailed = [(entry, event) for entry, event in entries.items() if event.detail]
            for entry, event in detailed:
                stripped = replace(event, detail=None)
                entries[audit_entry(stripped)] = stripped
                del entries[entry]
            return len(detailed)

    def recent(
        self, limit: int = RECENT_LIMIT, cursor: str | None = None
    ) -> tuple[list[AuditEvent], str | None]:
        check_audit_limit(limit)
        before = position_of(cursor) if cursor is not None else None
        with self._lock:
            everything = sorted(
                (
                    (entry, ref, event)
                    for ref, items in self._events.items()
                    for entry, event in items.items()
                ),
                key=lambda row: (row[0], row[1]),
                reverse=True,
            )
        if before is not None:
            everything = [row for row in everything if (row[0], row[1]) < before]
        page = everything[:limit]
        # More than a page: the next one starts after this page's last event (limit >= 1).
        next_cursor = recent_cursor(page[-1][0], page[-1][1]) if len(everything) > limit else None
        return [event for _, _, event in page], next_cursor
