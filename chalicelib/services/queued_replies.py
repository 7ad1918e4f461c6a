"""Outbound messages as stored before the senders take them: the bot's replies and the
business-initiated templates (reminders, notifications)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.replies import Reply, reply_summary, reply_to_dict
from chalicelib.domain.residents import Resident


def queued_message(
    message_id: str,
    reply: Reply,
    *,
    resident_key: str,
    recipient: str,
    conversation_id: str | None,
    priority: Priority,
    sent_by: str,
    now: datetime,
) -> StoredMessage:
    return StoredMessage(
        id=message_id,
        direction=Direction.OUTBOUND,
        resident_key=resident_key,
        conversation_id=conversation_id,
        message_type=reply.kind,
        body=reply_summary(reply),
        payload=reply_to_dict(reply),
        created_at=now,
        status=DeliveryStatus.QUEUED,
        status_at=now,
        recipient=recipient,
        priority=priority,
        sent_by=sent_by,
    )


def queued_bot_reply(
    message_id: str, reply: Reply, resident: Resident, conversation_id: str, now: datetime
) -> StoredMessage:
    return queued_message(
        message_id,
        reply,
        resident_key=resident.key,
        recipient=resident.recipient,
        conversation_id=conversation_id,
        priority=Priority.REPLY,
        sent_by="bot",
        now=now,
    )
