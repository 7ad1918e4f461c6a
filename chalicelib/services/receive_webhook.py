"""Use case: Meta posts a webhook. Check it, acknowledge fast, lose nothing.

Inbound messages and marketing stop/resume choices (`user_preferences`) go onto the inbound FIFO
queue (one group per resident, deduplicated by wamid or by the choice itself) so that each
resident's messages and choices are handled in order by the inbound worker; delivery statuses are
applied here directly, since each is one small conditional write.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from chalicelib.whatsapp.webhook_parser import (
    envelope_for,
    parse_webhook,
    preference_envelope_for,
)


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    status_code: int
    message: str
    queued: int = 0  # inbound messages
    statuses_applied: int = 0
    preferences_queued: int = 0


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
    preferences = [event for event in parsed.events if isinstance(event, UserPreferenceUpdate)]
    # One enqueue, in payload order: a resident's messages and choices keep their order.
    queued_items = [
        _queue_item(event)
        for event in parsed.events
        if isinstance(event, InboundMessage | UserPreferenceUpdate)
    ]
    if queued_items:
        inbound_queue().enqueue(queued_items)
    if inbound:
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

    if preferences:
        metrics.add_metric(name="UserPreferences", unit=MetricUnit.Count, value=len(preferences))
        for preference in preferences:
            logger.info(
                "user preference queued",
                extra={
                    "resident": mask_resident_key(preference.sender.key),
                    "category": preference.category,
                    "value": preference.value,
                },
            )

    applied = 0
    for event in parsed.events:
        if isinstance(event, StatusUpdate):
            applied += _apply_status(event, messages())
        elif isinstance(event, AccountError):
            metrics.add_metric(name="AccountErrors", unit=MetricUnit.Count, value=len(event.errors))
            for error in event.errors:
                logger.error(
                    "WhatsApp reported an account-level error",
                    extra={"code": error.code, "title": error.title, "details": error.details},
                )
    return WebhookReceipt(
        200,
        "ok",
        queued=len(inbound),
        statuses_applied=applied,
        preferences_queued=len(preferences),
    )


def _queue_item(event: InboundMessage | UserPreferenceUpdate) -> tuple[str, str, dict[str, Any]]:
    """(message group, deduplication id, body) for the inbound FIFO queue."""
    if isinstance(event, InboundMessage):
        return event.sender.key, event.wamid, envelope_for(event)
    return event.sender.key, preference_dedup_id(event), preference_envelope_for(event)


_DEDUP_ID_MAX = 128
_DEDUP_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)


def preference_dedup_id(update: UserPreferenceUpdate) -> str:
    """The same choice redelivered by Meta gets the same id (SQS drops it for 5 minutes; later
    copies are harmless: applying one twice changes nothing). Readable when SQS accepts it as
    is (≤128 ASCII letters, digits, punctuation), else a digest of it."""
    seconds = int(update.timestamp.timestamp())
    readable = f"pref:{update.sender.key}:{update.category}:{update.value}:{seconds}"
    if len(readable) <= _DEDUP_ID_MAX and set(readable) <= _DEDUP_ID_CHARACTERS:
        return readable
    return "pref:" + hashlib.sha256(readable.encode()).hexdigest()


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
