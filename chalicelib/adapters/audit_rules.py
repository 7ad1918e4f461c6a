"""Rules the in-memory and the DynamoDB audit logs share, so the twins cannot drift apart: an
event's sort key, the limits both refuse, and how `recent`'s cursor is written. Pure Python."""

from __future__ import annotations

from chalicelib.adapters.store_rules import decode_cursor, encode_cursor
from chalicelib.domain.audit import AuditEvent
from chalicelib.domain.inbox import sortable_time
from chalicelib.services.audit_ports import MAX_LIMIT, InvalidAuditCursorError

_CURSOR_KIND = "audit"


def audit_entry(event: AuditEvent) -> str:
    """The event's sort key within its resident (the `audit` table's range key): newest sorts
    last; the same event twice gets the same key, so recording it again overwrites itself."""
    return f"{sortable_time(event.at)}#{event.fingerprint}"


def check_audit_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def recent_cursor(entry: str, resident_ref: str) -> str:
    """`recent`'s cursor: the last event handed out (the next page starts after it)."""
    return encode_cursor({"k": _CURSOR_KIND, "e": entry, "r": resident_ref})


def position_of(cursor: str) -> tuple[str, str]:
    """(entry, resident_ref) of the event `recent_cursor` named; InvalidAuditCursorError for
    anything else."""
    try:
        position = decode_cursor(cursor)
    except ValueError as error:
        raise InvalidAuditCursorError(str(error)) from None
    if (
        not isinstance(position, dict)
        or position.get("k") != _CURSOR_KIND
        or not isinstance(position.get("e"), str)
        or not isinstance(position.get("r"), str)
    ):
        raise InvalidAuditCursorError(f"not a cursor of the audit log: {cursor!r}")
    return position["e"], position["r"]
