"""Recording and reading the audit log (docs/audit.md): the log plus the stage's pseudonym key,
so callers name residents by their resident key and never compute a pseudonym themselves.

Failure policy: what is recorded *about* an action the person already got (a conversation
opened, a message queued, a notification registered) must not undo or fail it: those calls use
`record_quietly`, which logs the failure (never the number) and counts it in the
`AuditWriteFailed` metric. Where the record is part of the action (an export, an erasure),
callers use `record`, which raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.audit import (
    VIEW_WINDOW,
    AuditAction,
    AuditEvent,
    broadcast_ref,
    resident_ref,
    viewed_recently,
)
from chalicelib.services.audit_ports import RECENT_LIMIT, RESIDENT_LIMIT, AuditLog

# How many of a resident's latest events are read to see whether an agent viewed them already.
VIEW_CHECK_DEPTH = 20


@dataclass(frozen=True, slots=True)
class ResidentAudit:
    resident_ref: str
    events: list[AuditEvent]


class AuditTrail:
    """`pseudonym_key`: the key, or a function giving it (read on first use, so a stage without
    one fails only where the audit log is used)."""

    def __init__(self, log: AuditLog, pseudonym_key: bytes | Callable[[], bytes]) -> None:
        self.log = log
        self._key = pseudonym_key

    def ref(self, resident_key: str) -> str:
        """The resident's pseudonym; ValueError when the key is empty (domain.audit)."""
        key = self._key() if callable(self._key) else self._key
        return resident_ref(resident_key, key)

    def record(
        self,
        resident_key: str,
        *,
        actor: str,
        action: AuditAction,
        at: datetime,
        detail: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> AuditEvent:
        """Record one event about the resident; raises when it cannot be stored."""
        event = AuditEvent(
            resident_ref=self.ref(resident_key),
            at=at,
            actor=actor,
            action=action,
            detail=detail,
            counts=counts,
        )
        self.log.record(event)
        return event

    def record_quietly(
        self,
        resident_key: str,
        *,
        actor: str,
        action: AuditAction,
        at: datetime,
        detail: str | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> AuditEvent | None:
        """`record`, but a failure is logged and counted instead of raised (None)."""
        try:
            return self.record(
                resident_key, actor=actor, action=action, at=at, detail=detail, counts=counts
            )
        except Exception as error:  # the audit entry must not fail the action
            _failed(action, actor, error)
            return None

    def record_many_quietly(
        self, entries: Sequence[tuple[str, str]], *, actor: str, action: AuditAction, at: datetime
    ) -> int:
        """One event per (resident key, detail), written together (a bulk upload); a failure is
        logged and counted, never raised. How many were recorded."""
        try:
            events = [
                AuditEvent(
                    resident_ref=self.ref(resident_key),
                    at=at,
                    actor=actor,
                    action=action,
                    detail=detail,
                )
                for resident_key, detail in entries
            ]
            if events:
                self.log.record_many(events)
            return len(events)
        except Exception as error:  # the audit entries must not fail the action
            _failed(action, actor, error)
            return 0

    def record_view(
        self, resident_key: str, *, actor: str, at: datetime, detail: str | None = None
    ) -> AuditEvent | None:
        """A `viewed` event, unless the same actor viewed the same thing (`detail`) in the last
        VIEW_WINDOW (the console re-reads an open conversation every 30 seconds). Quiet: a
        failure is logged, never raised. None when nothing was recorded."""
        try:
            ref = self.ref(resident_key)
            latest = self.log.for_resident(ref, limit=VIEW_CHECK_DEPTH)
            if viewed_recently(latest, actor=actor, detail=detail, now=at, window=VIEW_WINDOW):
                return None
            event = AuditEvent(
                resident_ref=ref, at=at, actor=actor, action=AuditAction.VIEWED, detail=detail
            )
            self.log.record(event)
            return event
        except Exception as error:  # the audit entry must not fail the action
            _failed(AuditAction.VIEWED, actor, error)
            return None

    def record_broadcast(
        self, broadcast_id: str, *, actor: str, at: datetime, audience: int, detail: str = ""
    ) -> AuditEvent | None:
        """One `messaged` event for a whole broadcast (domain.audit.broadcast_ref), with its
        audience size; not one per resident. Quiet, like `record_quietly`."""
        try:
            event = AuditEvent(
                resident_ref=broadcast_ref(broadcast_id),
                at=at,
                actor=actor,
                action=AuditAction.MESSAGED,
                detail=detail or f"broadcast {broadcast_id}",
                counts={"audience": audience},
            )
            self.log.record(event)
            return event
        except Exception as error:  # the audit entry must not fail the action
            _failed(AuditAction.MESSAGED, actor, error)
            return None

    def strip_details(self, resident_key: str) -> int:
        """Drop `detail` from the resident's events (their erasure); raises when it cannot."""
        return self.log.strip_details(self.ref(resident_key))

    def for_resident(self, resident_key: str, limit: int = RESIDENT_LIMIT) -> ResidentAudit:
        """The resident's latest events, newest first, with their pseudonym."""
        ref = self.ref(resident_key)
        return ResidentAudit(ref, self.log.for_resident(ref, limit=limit))

    def recent(
        self, limit: int = RECENT_LIMIT, cursor: str | None = None
    ) -> tuple[list[AuditEvent], str | None]:
        return self.log.recent(limit=limit, cursor=cursor)


def _failed(action: AuditAction, actor: str, error: Exception) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import logger, metrics

    logger.error(
        "audit event not recorded",
        extra={"action": str(action), "actor": actor, "reason": str(error)},
    )
    metrics.add_metric(name="AuditWriteFailed", unit=MetricUnit.Count, value=1)
