"""Event-source entry points: raw Lambda events in, use cases called, batch results out.

`app.py` delegates each SQS and schedule handler here in one line. SQS handlers return
`batchItemFailures` (the deployment switches on ReportBatchItemFailures), so one bad record is
retried alone instead of taking its batch down with it.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.observability import logger
from chalicelib.wiring import container, new_id, utc_now


def process_inbound_batch(event: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (
        SqsFifoPartialProcessor,
        process_partial_response,
    )

    # On a failure the rest of that resident's messages wait (skip_group_on_error): they are
    # retried after it, in order; other residents' messages carry on.
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    return process_partial_response(
        event=event, record_handler=_handle_inbound_record, processor=processor
    )


def _handle_inbound_record(record: Any) -> None:
    from chalicelib.services.handle_inbound_message import handle_inbound_message
    from chalicelib.whatsapp.events import InboundMessage
    from chalicelib.whatsapp.webhook_parser import parse_webhook

    parsed = parse_webhook(json.loads(record.body))
    deps = container()
    for message in parsed.events:
        if not isinstance(message, InboundMessage):
            continue
        logger.set_correlation_id(message.wamid)
        handle_inbound_message(
            message,
            definition=deps.definition,
            residents=deps.residents,
            messages=deps.messages,
            outbound=deps.outbound_queue,
            now=utc_now(),
            new_id=new_id,
        )


def process_outbound_batch(event: dict[str, Any]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    return process_partial_response(
        event=event,
        record_handler=_handle_outbound_record,
        processor=BatchProcessor(event_type=EventType.SQS),
    )


def _handle_outbound_record(record: Any) -> None:
    from chalicelib.services.send_queued_message import send_queued_messages

    message_ids = json.loads(record.body)["message_ids"]
    deps = container()
    logger.set_correlation_id(message_ids[0] if message_ids else None)
    send_queued_messages(message_ids, messages=deps.messages, sender=deps.sender, now=utc_now())


def requeue_stalled_outbound() -> int:
    from chalicelib.services.requeue_stalled_outbound import requeue_stalled_outbound as requeue

    deps = container()
    return requeue(messages=deps.messages, outbound=deps.outbound_queue, now=utc_now())
