"""When stored items expire (adapters.store_rules): messages the retention after they were made,
conversations never before their messages, tickets the tickets' retention after their last
change; obligations the messages' retention after their due date, their reminders never before
them, notifications after their send time; nothing when the config keeps everything."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chalicelib.adapters.store_rules import (
    conversation_expiry,
    notification_expiry,
    obligation_expiry,
    reminder_expiry,
    ticket_expiry,
    with_expiry,
)
from chalicelib.domain.bot.definition import Period, Retention
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.obligations import Notification, Obligation, ScheduledReminder
from chalicelib.domain.tickets import Ticket

AT = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
RETENTION = Retention(messages=Period(1, "months"), tickets=Period(5, "years"))


def message(**changes: object) -> StoredMessage:
    fields: dict[str, object] = {
        "id": "m1",
        "direction": Direction.INBOUND,
        "resident_key": "wa:351911000001",
        "conversation_id": "c1",
        "message_type": "text",
        "body": "hello",
        "created_at": AT,
        "status": DeliveryStatus.RECEIVED,
        "status_at": AT,
    }
    fields.update(changes)
    return StoredMessage(**fields)  # type: ignore[arg-type]


def test_a_message_expires_the_retention_after_it_was_made() -> None:
    assert with_expiry(message(), RETENTION).expires_at == datetime(2026, 2, 28, 9, tzinfo=UTC)
    kept = message(expires_at=LATER)
    assert with_expiry(kept, RETENTION) is kept  # one set already stays
    assert with_expiry(message(), None).expires_at is None
    assert with_expiry(message(), Retention(tickets=Period(1, "years"))).expires_at is None


def test_a_conversation_outlives_its_last_message() -> None:
    conversation = Conversation(
        id="c1", resident_key="wa:1", opened_at=AT, updated_at=AT, last_message_at=LATER
    )
    assert conversation_expiry(conversation, RETENTION) == datetime(2026, 4, 5, 12, tzinfo=UTC)
    assert conversation_expiry(conversation, None) is None


def test_a_ticket_expires_the_tickets_retention_after_its_last_change() -> None:
    ticket = Ticket(
        reference="VNR-2026-000001",
        resident_key="wa:1",
        conversation_id="c1",
        flow="report_problem",
        created_at=AT,
        updated_at=LATER,
    )
    assert ticket_expiry(ticket, RETENTION) == datetime(2031, 3, 5, 12, tzinfo=UTC)
    assert ticket_expiry(ticket, Retention(messages=Period(1, "days"))) is None


OBLIGATION = Obligation(
    external_id="LIC-1",
    kind="driving_licence",
    phone="+351911000001",
    resident_key="wa:351911000001",
    language="pt",
    due_date=date(2026, 3, 15),
    params={"name": "Ana"},
    created_at=AT,
    updated_at=AT,
    registered_by="imt",
)


def reminder(send_at: datetime) -> ScheduledReminder:
    return ScheduledReminder(
        external_id="LIC-1", offset_days=0, send_at=send_at, expires_at=send_at, updated_at=AT
    )


def test_an_obligation_expires_the_messages_retention_after_its_due_date() -> None:
    # The due date is over at midnight UTC after it; a month later the item may go.
    assert obligation_expiry(OBLIGATION, RETENTION) == datetime(2026, 4, 16, tzinfo=UTC)
    assert obligation_expiry(OBLIGATION, None) is None
    assert obligation_expiry(OBLIGATION, Retention(tickets=Period(1, "years"))) is None


def test_a_reminder_never_outlives_its_obligation_nor_its_own_sending() -> None:
    before_due = reminder(datetime(2026, 3, 1, 9, tzinfo=UTC))  # -14d
    overdue = reminder(datetime(2026, 3, 18, 9, tzinfo=UTC))  # +3d
    assert reminder_expiry(before_due, OBLIGATION, RETENTION) == obligation_expiry(
        OBLIGATION, RETENTION
    )
    assert reminder_expiry(overdue, OBLIGATION, RETENTION) == datetime(2026, 4, 18, 9, tzinfo=UTC)
    assert reminder_expiry(overdue, OBLIGATION, None) is None


def test_a_notification_expires_the_messages_retention_after_its_send_time() -> None:
    notification = Notification(
        external_id="DOC-1",
        kind="document_ready",
        phone="+351911000001",
        resident_key="wa:351911000001",
        language="pt",
        send_at=LATER,
        created_at=AT,
        registered_by="registry",
    )
    assert notification_expiry(notification, RETENTION) == datetime(2026, 4, 5, 12, tzinfo=UTC)
    assert notification_expiry(notification, None) is None
