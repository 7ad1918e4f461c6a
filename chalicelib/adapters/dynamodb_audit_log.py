"""The audit log in DynamoDB (`tables.audit`): one item per event, keyed by the resident's
pseudonym and `audit_rules.audit_entry`; the `recent` index lists everyone's, newest first.
Items expire (DynamoDB TTL) after the configuration's `retention.audit`, five years when unset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chalicelib.adapters.audit_rules import (
    audit_entry,
    check_audit_limit,
    position_of,
    recent_cursor,
)
from chalicelib.adapters.dynamodb_models import (
    AUDIT_LOG_MARKER,
    AuditModel,
    StageTables,
    StageTableStore,
)
from chalicelib.domain.audit import DEFAULT_RETENTION_YEARS, AuditAction, AuditEvent
from chalicelib.domain.bot.definition import Period
from chalicelib.services.audit_ports import RECENT_LIMIT, RESIDENT_LIMIT

DEFAULT_RETENTION = Period(DEFAULT_RETENTION_YEARS, "years")


class DynamoDBAuditLog(StageTableStore):
    def __init__(self, tables: StageTables | None = None, *, retention: Period | None = None):
        super().__init__(tables)
        self._retention = retention or DEFAULT_RETENTION

    def record(self, event: AuditEvent) -> None:
        # A plain PutItem: the same event again has the same key and overwrites itself.
        self._item(event).save()

    def record_many(self, events: Sequence[AuditEvent]) -> None:
        # BatchWriteItem, 25 at a time; PynamoDB sends the unprocessed items again. One item
        # per key: a batch may not name an item twice.
        items = {(e.resident_ref, audit_entry(e)): e for e in events}
        with self._tables.audit.batch_write() as batch:
            for event in items.values():
                batch.save(self._item(event))

    def _item(self, event: AuditEvent) -> AuditModel:
        return self._tables.audit(
            event.resident_ref,
            audit_entry(event),
            log=AUDIT_LOG_MARKER,
            at=event.at,
            actor=event.actor,
            action=event.action.value,
            detail=event.detail,
            counts=dict(event.counts) if event.counts is not None else None,
            expires_at=self._retention.after(event.at),
        )

    def for_resident(self, resident_ref: str, limit: int = RESIDENT_LIMIT) -> list[AuditEvent]:
        check_audit_limit(limit)
        # Consistent: a view just recorded by a parallel request must be seen (record_view).
        items = self._tables.audit.query(
            resident_ref, scan_index_forward=False, limit=limit, consistent_read=True
        )
        return [_event(item) for item in items]

    def strip_details(self, resident_ref: str) -> int:
        # Query (every page), then one BatchWriteItem: each stripped event put under its new
        # key, then its old item deleted; interrupted, running again finds the old items still
        # holding their detail and does it again.
        model = self._tables.audit
        detailed = [
            _event(item) for item in model.query(resident_ref, consistent_read=True) if item.detail
        ]
        if not detailed:
            return 0
        stripped = {audit_entry(e): e for e in (replace(e, detail=None) for e in detailed)}
        with model.batch_write() as batch:
            for event in stripped.values():  # once each: a batch may not name an item twice
                batch.save(self._item(event))
            for event in detailed:
                batch.delete(model(resident_ref, audit_entry(event)))
        return len(detailed)

    def recent(
        self, limit: int = RECENT_LIMIT, cursor: str | None = None
    ) -> tuple[list[AuditEvent], str | None]:
        check_audit_limit(limit)
        start = None
        if cursor is not None:
            entry, resident_ref = position_of(cursor)
            start = {
                "log": {"S": AUDIT_LOG_MARKER},
                "entry": {"S": entry},
                "resident_ref": {"S": resident_ref},
            }
        # One more than asked: whether a next page exists, without an empty last page.
        items = list(
            self._tables.audit.recent.query(
                AUDIT_LOG_MARKER,
                scan_index_forward=False,
                limit=limit + 1,
                last_evaluated_key=start,
            )
        )
        page = items[:limit]
        next_cursor = (
            recent_cursor(page[-1].entry, page[-1].resident_ref) if len(items) > limit else None
        )
        return [_event(item) for item in page], next_cursor


def _event(item: AuditModel) -> AuditEvent:
    return AuditEvent(
        resident_ref=item.resident_ref,
        at=item.at,
        actor=item.actor,
        action=AuditAction(item.action),
        detail=item.detail,
        counts=item.counts,
    )
