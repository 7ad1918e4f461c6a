"""Use case: Meta posts a webhook. Check it, acknowledge fast, lose nothing.

Inbound messages go onto the inbound FIFO queue (one group per resident, deduplicated by wamid)
so that each resident's messages are handled in order by the inbound worker; delivery statuses are
applied here directly, since each is one small conditional write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.messages import DeliveryStatus
from chalicelib.observability import MetricUnit, logger, mask_resident_key, metrics
from chalicelib.services.ports import InboundQueue, MessageStore
from chalicelib.whatsapp.events import (
    AccountError,
    InboundMessage,
    StatusUpdate,
    UserPreferenceUpdate,
)
from chalicelib.whatsapp.signature import SignatureCheck, verify_signature
from chalicelib.whatsapp.webhook_parser import envelope_for, parse_webhook


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    status_code: int
    message: str
    queued: int = 0
    statuses_applied: int = 0


def receive_webhook(
    raw_body: bytes,
    signature_header: str | None,
    *,
    app_secret: str,
    inbound_queue: Callable[[], InboundQueue],
    messages: Callable[[], MessageStore],
) -> WebhookReceipt:
    """Adapters are passed as factories so a rejected request builds no AWS client."""
    check = verify_signature(raw_body, signature_header, app_secret)
    if check is SignatureCheck.MISSING:
        logger.warning("webhook without X-Hub-Signature-256 rejected")
        return WebhookReceipt(401, "missing X-Hub-Signature-256 header")
    if check is not SignatureCheck.VALID:
        logger.warning("webhook with an invalid signature rejected")
        return WebhookReceipt(403, "invalid X-Hub-Signature-256 signature")

    try:
        payload = json.loads(raw_body)
    except ValueError:
        # Signed by Meta but not JSON: answering non-200 would only make Meta retry for days.
        logger.error(
            "signed webhook body is not JSON; acknowledged and dropped",
            extra={"size": len(raw_body)},
        )
        return WebhookReceipt(200, "acknowledged: body is not JSON")

    parsed = parse_webhook(payload)
    for problem in parsed.problems:
        logger.warning("webhook content skipped", extra={"problem": problem})

    inbound = [event for event in parsed.events if isinstance(event, InboundMessage)]
    if inbound:
        inbound_queue().enqueue(
            [(message.sender.key, message.wamid, envelope_for(message)) for message in inbound]
        )
        metrics.add_metric(name="InboundMessages", unit=MetricUnit.Count, value=len(inbound))
        for message in inbound:
            logger.info(
                "inbound message queued",
                extra={
                    "wamid": message.wamid,
                    "resident": mask_resident_key(message.sender.key),
                    "message_type": message.message_type,
                },
            )

    applied = 0
    for event in parsed.events:
        if isinstance(event, StatusUpdate):
            applied += _apply_status(event, messages())
        elif isinstance(event, UserPreferenceUpdate):
            logger.info(
                "marketing preference reported by WhatsApp",
                extra={"resident": mask_resident_key(event.sender.key), "value": event.value},
            )
        elif isinstance(event, AccountError):
            metrics.add_metric(name="AccountErrors", unit=MetricUnit.Count, value=len(event.errors))
            for error in event.errors:
                logger.error(
                    "WhatsApp reported an account-level error",
                    extra={"code": error.code, "title": error.title, "details": error.details},
                )
    return WebhookReceipt(200, "ok", queued=len(inbound), statuses_applied=applied)


def _apply_status(event: StatusUpdate, messages: MessageStore) -> int:
    try:
        status = DeliveryStatus(event.status)
    except ValueError:
        logger.warning(
            "unknown delivery status ignored", extra={"status": event.status, "wamid": event.wamid}
        )
        return 0
    error = event.errors[0] if event.errors else None
    changed = messages.apply_status(
        event.wamid,
        status,
        event.timestamp,
        error_code=error.code if error else None,
        error_title=error.title if error else None,
        message_id=event.biz_opaque_callback_data,
    )
    if status is DeliveryStatus.FAILED and changed:
        metrics.add_metric(name="OutboundFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "message delivery failed",
            extra={"wamid": event.wamid, "code": error.code if error else None},
        )
    return int(changed)
