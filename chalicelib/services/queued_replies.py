"""The bot's replies as stored outbound messages, queued for the reply sender."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.replies import Reply, reply_summary, reply_to_dict
from chalicelib.domain.residents import Resident


def queued_bot_reply(
    message_id: str, reply: Reply, resident: Resident, conversation_id: str, now: datetime
) -> StoredMessage:
    return StoredMessage(
        id=message_id,
        direction=Direction.OUTBOUND,
        resident_key=resident.key,
        conversation_id=conversation_id,
        message_type=reply.kind,
        body=reply_summary(reply),
        payload=reply_to_dict(reply),
        created_at=now,
        status=DeliveryStatus.QUEUED,
        status_at=now,
        recipient=resident.recipient,
        priority=Priority.REPLY,
        sent_by="bot",
    )
