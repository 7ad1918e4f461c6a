"""Event-source entry points: raw Lambda events in, use cases called, batch results out.

`app.py` delegates each SQS and schedule handler here in one line. SQS handlers return
`batchItemFailures` (the deployment switches on ReportBatchItemFailures), so one bad record is
retried alone instead of taking its batch down with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
    processor.raise_on_entire_batch_failure = False  # as for the senders (not a parameter here)
    result = process_partial_response(
        event=event, record_handler=_handle_inbound_record, processor=processor
    )
    _retry_soon(event, result)
    return result


INBOUND_RETRY_SECONDS = 5


def _retry_soon(event: dict[str, Any], result: dict[str, Any]) -> None:
    """A failed inbound record holds up its resident's whole FIFO group: bring it back in a
    few seconds (a version clash, a throttled write) rather than after the queue's visibility
    timeout."""
    failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
    for record in event.get("Records", []):
        if record["messageId"] in failed:
            _delay(record["eventSourceARN"], record["receiptHandle"], INBOUND_RETRY_SECONDS)


def _delay(event_source_arn: str, receipt_handle: str, seconds: int) -> None:
    """Best effort: if SQS refuses (an expired receipt handle), the record still comes back,
    after the queue's visibility timeout; failing the whole batch over it would be worse."""
    try:
        container().record_delay.delay(event_source_arn, receipt_handle, seconds)
    except Exception:
        logger.warning(
            "could not shorten a failed record's retry delay",
            extra={"queue": event_source_arn.rsplit(":", 1)[-1], "seconds": seconds},
            exc_info=True,
        )


def _handle_inbound_record(record: Any) -> None:
    from chalicelib.services.apply_user_preference import apply_user_preference
    from chalicelib.services.handle_inbound_message import handle_inbound_message
    from chalicelib.whatsapp.events import InboundMessage, UserPreferenceUpdate
    from chalicelib.whatsapp.webhook_parser import parse_webhook

    parsed = parse_webhook(json.loads(record.body))
    deps = container()
    for message in parsed.events:
        if isinstance(message, UserPreferenceUpdate):  # a marketing stop/resume
            apply_user_preference(message, residents=deps.residents)
            continue
        if not isinstance(message, InboundMessage):
            continue
        logger.set_correlation_id(message.wamid)
        outcome = handle_inbound_message(
            message,
            definition=deps.definition,
            ports=deps.inbound_ports,
            now=utc_now(),
            new_id=new_id,
        )
        if outcome.handed_off_to:
            _assign_waiting(outcome.handed_off_to)


def _assign_waiting(team: str) -> None:
    """Give a team's queue to its agents right after a hand-off. The turn is already stored, so
    a failure here must not fail the record: the SLA job's sweep assigns what is left."""
    from chalicelib.services.assign_conversations import assign_waiting

    deps = container()
    try:
        assign_waiting(
            team, definition=deps.definition, ports=deps.console_ports, now=utc_now(), new_id=new_id
        )
    except Exception:
        logger.warning("assigning after a hand-off failed", extra={"team": team}, exc_info=True)


def process_outbound_batch(event: dict[str, Any]) -> dict[str, Any]:
    return _process_standard_queue(event, _handle_outbound_record)


def _process_standard_queue(
    event: dict[str, Any], record_handler: Callable[[Any], None]
) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        # Report every failed record, even when all of them failed: raising instead would make
        # Lambda retry the whole batch after the visibility timeout, ignoring each backoff.
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
    )


def _handle_outbound_record(record: Any) -> None:
    from chalicelib.services.send_queued_message import RetryLaterError, send_queued_messages

    message_ids = json.loads(record.body)["message_ids"]
    deps = container()
    logger.set_correlation_id(message_ids[0] if message_ids else None)
    try:
        send_queued_messages(
            message_ids,
            outbox=deps.outbox,
            policy=deps.sending_policy,
            clock=deps.clock,
            priority=deps.priority_of_queue(record.event_source_arn),
        )
    except RetryLaterError as later:
        # Back off this record only; the rest of the batch goes on. The failure reported to
        # Lambda keeps the record on the queue; the visibility change decides when it returns.
        _delay(record.event_source_arn, record.receipt_handle, later.delay_seconds)
        raise


def requeue_stalled_outbound() -> int:
    from chalicelib.services.requeue_stalled_outbound import requeue_stalled_outbound as requeue

    deps = container()
    return requeue(messages=deps.messages, outbound=deps.outbound_queue, now=utc_now())


def run_reminders() -> dict[str, Any]:
    """The reminders job for now. What is due is decided by the watermark, not by when
    EventBridge meant to fire, so a late start changes nothing."""
    from chalicelib.services.run_reminders import run_reminders as run

    deps = container()
    now = utc_now()
    result = run(
        now,
        definition=deps.definition,
        schedule=deps.reminder_schedule,
        notifications=deps.notification_store,
        obligations=deps.obligations,
        messages=deps.messages,
        outbound=deps.outbound_queue,
    )
    return {
        "slots": result.slots,
        "items_read": result.items_read,
        "queued": result.queued,
        "skipped": result.skipped,
        "moved": result.moved,
    }


def run_broadcasts() -> dict[str, Any]:
    """The broadcasts job: start what is due, queue within the daily messaging limit, report
    what is finished (see services/broadcasts.py)."""
    import time

    from chalicelib.services.broadcasts import run_broadcasts as run

    deps = container()
    result = run(
        utc_now(), definition=deps.definition, ports=deps.broadcast_ports, clock=time.monotonic
    )
    return {
        "broadcasts": len(result.broadcasts),
        "started": result.started,
        "segments": result.segments,
        "queued": result.queued,
        "completed": result.completed,
        "out_of_budget": result.out_of_budget,
    }


def process_media_batch(event: dict[str, Any]) -> dict[str, Any]:
    # As for the senders: a failed record comes back after the visibility timeout, then parks
    # on the dead-letter queue.
    return _process_standard_queue(event, _handle_media_record)


def _handle_media_record(record: Any) -> None:
    from chalicelib.adapters.sqs_media_queue import MediaJobFormatError, media_job_from_body
    from chalicelib.services.store_inbound_media import store_inbound_media

    try:
        job = media_job_from_body(record.body)
    except MediaJobFormatError:
        logger.exception("media job dropped: unreadable", extra={"sqs_id": record.message_id})
        return
    deps = container()
    logger.set_correlation_id(job.message_id)
    store_inbound_media(
        job, graph=deps.media_graph, archive=deps.media_archive, messages=deps.messages
    )


def check_slas() -> dict[str, int]:
    """The console's clock: SLA warnings and escalations, snoozes that end, agents who left
    without signing off, and queues no one picked up."""
    import dataclasses

    from chalicelib.services.check_slas import check_slas as run_checks

    deps = container()
    run = run_checks(
        definition=deps.definition, ports=deps.console_ports, now=utc_now(), new_id=new_id
    )
    return dataclasses.asdict(run)
