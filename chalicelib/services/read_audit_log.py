"""Use cases: a supervisor reads the audit log — one resident's entries (asked by phone number)
or everyone's latest, page by page. Agents may not (Forbidden); reading is not itself recorded
(the log would grow with every look at it, and supervisors are few and named in the sign-in
logs)."""

from __future__ import annotations

from chalicelib.domain.agents import Agent
from chalicelib.domain.audit import AuditEvent
from chalicelib.services.audit_ports import MAX_LIMIT, InvalidAuditCursorError
from chalicelib.services.audit_trail import AuditTrail, ResidentAudit
from chalicelib.services.console_context import Invalid, require_supervisor


def resident_audit(
    actor: Agent, phone: str, *, audit: AuditTrail, default_region: str, limit: int = 100
) -> ResidentAudit:
    """The resident's entries, newest first: who viewed, messaged, exported or erased."""
    require_supervisor(actor, "the audit log")
    from chalicelib.services.phone_input import InvalidPhoneError, resident_key_for_phone

    try:
        resident_key = resident_key_for_phone(phone, default_region)
    except InvalidPhoneError as error:
        raise Invalid(f"the phone number {error}", field="phone") from None
    return audit.for_resident(resident_key, limit=_limit(limit))


def recent_audit(
    actor: Agent, *, audit: AuditTrail, cursor: str | None = None, limit: int = 50
) -> tuple[list[AuditEvent], str | None]:
    """Everyone's entries, newest first, and the cursor of the next page (None: no more)."""
    require_supervisor(actor, "the audit log")
    try:
        return audit.recent(limit=_limit(limit), cursor=cursor)
    except InvalidAuditCursorError:
        raise Invalid("not a cursor of the audit log", field="cursor") from None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be from 1 to {MAX_LIMIT}", field="limit")
    return limit
