"""Use case (scheduled): find outbound messages stored as queued whose SQS send never happened
(the worker died between the database write and the queue call) and queue them again."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.messages import Priority
from chalicelib.observability import logger
from chalicelib.services.ports import MessageStore, OutboundQueue

STALLED_AFTER = timedelta(minutes=2)


def requeue_stalled_outbound(
    *, messages: MessageStore, outbound: OutboundQueue, now: datetime, limit: int = 500
) -> int:
    stalled = messages.list_queued_before(now - STALLED_AFTER, limit=limit)
    for priority in Priority:
        ids = [message.id for message in stalled if message.priority is priority]
        for message_id in ids:
            # One at a time: a stalled message's siblings may already have gone out.
            outbound.enqueue([message_id], priority)
    if stalled:
        logger.warning("stalled outbound messages queued again", extra={"count": len(stalled)})
    return len(stalled)
