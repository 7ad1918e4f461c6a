"""The audit log's port. Adapters: `adapters.dynamodb_audit_log` (AWS) and
`adapters.memory_audit_log` (tests), held to the same contract tests
(tests/integration/test_audit_log_contracts.py).

Kept apart from `ports.py` so the audit log can change without touching the stores' contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chalicelib.domain.audit import AuditEvent

RESIDENT_LIMIT = 100  # for_resident's default page
RECENT_LIMIT = 50  # recent's default page
MAX_LIMIT = 500


class InvalidAuditCursorError(ValueError):
    """`recent` was handed a cursor it did not write."""


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Store `event`. Idempotent: the same event (see AuditEvent.fingerprint) recorded
        again is kept once."""
        ...

    def record_many(self, events: Sequence[AuditEvent]) -> None:
        """`record` each, in as few requests as the store allows (a bulk upload's entries)."""
        ...

    def for_resident(self, resident_ref: str, limit: int = RESIDENT_LIMIT) -> list[AuditEvent]:
        """The resident's latest `limit` events, newest first."""
        ...

    def strip_details(self, resident_ref: str) -> int:
        """Drop `detail` from every event of the resident (it may name a back office's record
        of them), keeping who did what and when, and the counts; each entry's key (which
        fingerprints the detail) is written anew. Idempotent. How many events changed."""
        ...

    def recent(
        self, limit: int = RECENT_LIMIT, cursor: str | None = None
    ) -> tuple[list[AuditEvent], str | None]:
        """Everyone's events, newest first, `limit` at a time: (events, the cursor of the next
        page or None when there is no more). Raises InvalidAuditCursorError for a foreign
        cursor, ValueError for a limit below 1."""
        ...
