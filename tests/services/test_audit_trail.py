"""Recording through the AuditTrail on the in-memory log: residents named by pseudonym only,
views recorded once per window, a failing log never raising where the action already happened,
one event per broadcast, and typed numbers read as the console and the CLI need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.memory_audit_log import InMemoryAuditLog
from chalicelib.domain.audit import AuditAction, AuditEvent, resident_ref
from chalicelib.services.audit_trail import AuditTrail
from chalicelib.services.phone_input import InvalidPhoneError, resident_key_for_phone

KEY = b"service-test-key"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RESIDENT = "wa:351912345678"


class BrokenLog(InMemoryAuditLog):
    def record(self, event: AuditEvent) -> None:
        raise ConnectionError("DynamoDB did not answer")


def test_events_name_the_resident_by_pseudonym() -> None:
    trail = AuditTrail(InMemoryAuditLog(), KEY)
    event = trail.record(RESIDENT, actor="cli:maria", action=AuditAction.EXPORTED, at=NOW)

    assert event.resident_ref == resident_ref(RESIDENT, KEY)
    found = trail.for_resident(RESIDENT)
    assert (found.resident_ref, found.events) == (event.resident_ref, [event])
    assert "351912345678" not in repr(found)


def test_a_view_is_recorded_once_per_agent_and_window() -> None:
    trail = AuditTrail(InMemoryAuditLog(), KEY)

    def view(agent: str, minutes: int) -> AuditEvent | None:
        return trail.record_view(
            RESIDENT, actor=agent, at=NOW + timedelta(minutes=minutes), detail="conversation c"
        )

    assert view("agent:a", 0) is not None
    assert view("agent:a", 3) is None
    assert view("agent:b", 3) is not None
    assert view("agent:a", 11) is not None
    assert len(trail.for_resident(RESIDENT).events) == 3


def test_quiet_recording_survives_a_broken_log_or_a_missing_key() -> None:
    broken = AuditTrail(BrokenLog(), KEY)
    assert broken.record_quietly(RESIDENT, actor="agent:a", action="messaged", at=NOW) is None  # type: ignore[arg-type]
    assert broken.record_view(RESIDENT, actor="agent:a", at=NOW) is None
    assert broken.record_broadcast("b-1", actor="agent:a", at=NOW, audience=10) is None
    with pytest.raises(ConnectionError):  # where the record is part of the action, it raises
        broken.record(RESIDENT, actor="cli:x", action=AuditAction.ERASED, at=NOW)

    def no_key() -> bytes:
        raise RuntimeError("no pseudonym key on this stage")

    keyless = AuditTrail(InMemoryAuditLog(), no_key)
    assert keyless.record_view(RESIDENT, actor="agent:a", at=NOW) is None


def test_a_broadcast_is_one_event_naming_no_resident() -> None:
    log = InMemoryAuditLog()
    trail = AuditTrail(log, KEY)
    event = trail.record_broadcast("b-7", actor="agent:boss", at=NOW, audience=1200)

    assert event is not None
    assert (event.resident_ref, event.action, dict(event.counts or {})) == (
        "broadcast:b-7",
        AuditAction.MESSAGED,
        {"audience": 1200},
    )
    assert log.recent() == ([event], None)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("351912345678", "wa:351912345678"),  # as the console shows it
        ("+351912345678", "wa:351912345678"),
        ("+351 912 345 678", "wa:351912345678"),
        ("00351912345678", "wa:351912345678"),
        ("912 345 678", "wa:351912345678"),  # a local number of the municipality's region
        ("+999123456789", "wa:999123456789"),  # unknown to phonenumbers: taken as written
    ],
)
def test_typed_numbers_name_resident_keys(typed: str, key: str) -> None:
    assert resident_key_for_phone(typed, "PT") == key


@pytest.mark.parametrize("typed", ["", "12", "not a number", "+12"])
def test_what_is_not_a_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidPhoneError):
        resident_key_for_phone(typed, "PT")
