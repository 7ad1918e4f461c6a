"""Use case: the sender takes queued outbound messages and hands them to the Graph API.

A message is claimed (queued → sending) with a conditional write before Graph is called, so an
SQS redelivery or a Lambda retry never sends it twice. Messages of one batch are sent in order;
when one must wait (throttled, transient fault) the rest of the batch waits with it, so a
resident never receives the menu before the welcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.domain.replies import reply_from_dict
from chalicelib.observability import MetricUnit, logger, mask_phone, metrics
from chalicelib.services.ports import GraphApiError, MessageSender, MessageStore
from chalicelib.whatsapp.errors import classify
from chalicelib.whatsapp.payloads import PayloadError


class SendLaterError(Exception):
    """The batch must be retried later (SQS redelivery); what was sent stays sent."""


@dataclass(slots=True)
class SendReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def send_queued_messages(
    message_ids: Sequence[str],
    *,
    messages: MessageStore,
    sender: MessageSender,
    now: datetime,
) -> SendReport:
    report = SendReport()
    for message_id in message_ids:
        claimed = messages.claim_for_sending(message_id, now)
        if claimed is None:
            report.skipped.append(message_id)  # already sent or being sent: never twice
            continue
        log_extra = {"message_id": message_id, "to": mask_phone(claimed.recipient)}
        try:
            result = sender.send(claimed.recipient or "", reply_from_dict(claimed.payload))
        except PayloadError as error:
            # Breaks Meta's limits: sending it again can never work.
            _record_failure(messages, message_id, None, str(error), now, report, log_extra)
            continue
        except GraphApiError as error:
            if classify(error.code, http_status=error.http_status).should_retry:
                messages.release_claim(message_id, now)
                raise SendLaterError(f"{message_id}: {error}") from error
            _record_failure(messages, message_id, error.code, error.title, now, report, log_extra)
            continue
        except Exception as error:
            # Timeouts and connection faults: Meta may or may not have it; send again later.
            messages.release_claim(message_id, now)
            raise SendLaterError(f"{message_id}: {error!r}") from error
        messages.mark_sent(message_id, result.wamid, now)
        metrics.add_metric(name="OutboundSent", unit=MetricUnit.Count, value=1)
        logger.info("message sent", extra={**log_extra, "wamid": result.wamid})
        report.sent.append(message_id)
    return report


def _record_failure(
    messages: MessageStore,
    message_id: str,
    code: int | None,
    title: str,
    now: datetime,
    report: SendReport,
    log_extra: dict[str, object],
) -> None:
    messages.mark_failed(message_id, error_code=code, error_title=title, now=now)
    metrics.add_metric(name="OutboundFailed", unit=MetricUnit.Count, value=1)
    logger.warning("message not sent", extra={**log_extra, "code": code, "reason": title})
    report.failed.append(message_id)
