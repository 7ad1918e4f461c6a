"""Use case: the sender takes queued outbound messages and hands them to the Graph API —
every message once, as fast as Meta allows and never faster.

For each message, in order:
1. claim it (queued → sending, a conditional write), so an SQS redelivery or a Lambda retry
   never sends it twice; a message someone else claimed or sent is skipped;
2. a bulk message (anything the town hall starts: reminders, notifications, broadcasts) to a
   resident who opted out is marked `skipped` and never sent, however long ago it was queued;
   so is a message of a broadcast cancelled since it was queued (reason "cancelled");
3. fit it to the 24-hour window (a free-form reply outside it becomes the re-open template);
4. take a pacing slot shared by every concurrent sender: the recipient's pair rate (if it must
   wait, only that recipient's record is deferred) and the number's throughput cap;
5. send, with our message id as callback data, and record Meta's wamid.

Refusals are handled by class (see whatsapp/errors.py): a recipient's terminal error is recorded
on the message; throttling and transient faults are retried later with backoff and jitter, and
after MAX_SEND_ATTEMPTS the message is dead-lettered with its reason; configuration and account
errors pause the sender and raise an alarm instead of burning through the queue.

When one message must wait, the rest of its record waits with it (SQS retries the record later),
so a resident never receives the menu before the welcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.broadcasts import CANCELLED, BroadcastStatus
from chalicelib.domain.messages import Priority, StoredMessage
from chalicelib.domain.pacing import Rate
from chalicelib.domain.replies import Reply, TemplateReply, reply_from_dict, reply_to_dict
from chalicelib.domain.residents import CUSTOMER_SERVICE_WINDOW, Resident
from chalicelib.domain.retry_policy import exhausted, retry_delay_seconds
from chalicelib.domain.service_window import fit_to_window
from chalicelib.observability import (
    MetricUnit,
    logger,
    mask_phone,
    mask_resident_key,
    metrics,
)
from chalicelib.services.broadcast_ports import BroadcastStore
from chalicelib.services.pacing import acquire_send_slot
from chalicelib.services.pacing_ports import RateLimiter
from chalicelib.services.ports import (
    GraphApiError,
    MessageSender,
    MessageStore,
    OutboundQueue,
    ResidentStore,
    SenderControl,
)
from chalicelib.whatsapp.errors import ErrorClass, classify
from chalicelib.whatsapp.payloads import PayloadError

PAUSED_RECHECK_SECONDS = 180  # see infra: OUTBOUND_MAX_RECEIVE_COUNT
OPTED_OUT = "opted_out"  # why a bulk message was skipped


class RetryLaterError(Exception):
    """Defer this record: SQS should deliver it again after `delay_seconds`."""

    def __init__(self, reason: str, delay_seconds: float) -> None:
        super().__init__(reason)
        self.delay_seconds = max(1, round(delay_seconds))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbox:
    """Everything the sender talks to."""

    messages: MessageStore
    residents: ResidentStore
    graph: MessageSender
    limiter: RateLimiter
    control: SenderControl
    dead_letters: OutboundQueue
    # Read once per batch for its broadcasts' messages: those of a cancelled one are skipped.
    broadcasts: BroadcastStore | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendingPolicy:
    phone_number_id: str
    number_rate: Rate
    pair_rate: Rate
    # the re-open template's languages, each with its code at Meta (fit_to_window)
    reopen_template_codes: Mapping[str, str] | None
    default_language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Clock:
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    jitter: Callable[[], float]  # uniform in [0, 1)

    def now_us(self) -> int:
        return int(self.now().timestamp() * 1_000_000)


@dataclass(slots=True)
class SendReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # claimed or sent by someone else
    opted_out: list[str] = field(default_factory=list)  # bulk, to a resident who opted out
    cancelled: list[str] = field(default_factory=list)  # of a cancelled broadcast
    dead_lettered: list[str] = field(default_factory=list)


def send_queued_messages(
    message_ids: Sequence[str],
    *,
    outbox: Outbox,
    policy: SendingPolicy,
    clock: Clock,
    priority: Priority = Priority.REPLY,
) -> SendReport:
    report = SendReport()
    paused = outbox.control.paused_reason(policy.phone_number_id)
    if paused:
        raise RetryLaterError(f"sender paused: {paused}", PAUSED_RECHECK_SECONDS)
    cancelled = _CancelledBroadcasts(outbox.broadcasts)
    for message_id in message_ids:
        _send_one(message_id, outbox, policy, clock, priority, report, cancelled)
    return report


class _CancelledBroadcasts:
    """Which broadcasts were cancelled, each looked up once per batch."""

    def __init__(self, store: BroadcastStore | None) -> None:
        self._store = store
        self._known: dict[str, bool] = {}

    def __contains__(self, broadcast_id: str | None) -> bool:
        if broadcast_id is None or self._store is None:
            return False
        if broadcast_id not in self._known:
            broadcast = self._store.get(broadcast_id)
            self._known[broadcast_id] = (
                broadcast is not None and broadcast.status is BroadcastStatus.CANCELLED
            )
        return self._known[broadcast_id]


def _send_one(
    message_id: str,
    outbox: Outbox,
    policy: SendingPolicy,
    clock: Clock,
    priority: Priority,
    report: SendReport,
    cancelled: _CancelledBroadcasts,
) -> None:
    claimed = outbox.messages.claim_for_sending(message_id, clock.now())
    if claimed is None:
        report.skipped.append(message_id)  # already sent, or being sent: never twice
        return
    try:
        if claimed.broadcast_id in cancelled:
            _skip_cancelled(claimed, outbox.messages, clock, report)
            return
        _send_claimed(claimed, outbox, policy, clock, priority, report)
    except RetryLaterError:
        raise
    except Exception as error:
        # Anything unforeseen (a store or limiter fault) must not leave the message claimed:
        # a claimed message is skipped by every later delivery, so it would never be sent.
        outbox.messages.release_claim(
            message_id, clock.now(), error_code=None, error_title=f"sender error: {error!r}"
        )
        raise


def _send_claimed(
    claimed: StoredMessage,
    outbox: Outbox,
    policy: SendingPolicy,
    clock: Clock,
    priority: Priority,
    report: SendReport,
) -> None:
    messages, message_id = outbox.messages, claimed.id
    log_extra = {"message_id": message_id, "to": mask_phone(claimed.recipient)}
    bulk = priority is Priority.BULK or claimed.priority is Priority.BULK
    # A bulk message reads the resident now, not when it was queued: an opt-out may have come
    # in since.
    resident = outbox.residents.get(claimed.resident_key) if bulk else None
    if resident is not None and resident.opted_out:
        _skip_opted_out(claimed, messages, clock, report)
        return
    requested = reply_from_dict(claimed.payload)
    is_open, language = _window_and_language(
        claimed, requested, outbox.residents, policy, clock.now(), resident=resident, read=bulk
    )
    decision = fit_to_window(
        requested,
        is_open=is_open,
        language=language,
        reopen_template_codes=policy.reopen_template_codes,
    )
    if decision.reply is None:
        _fail(messages, message_id, 131047, decision.note or "", clock, report, log_extra)
        return

    pace = acquire_send_slot(
        outbox.limiter,
        phone_number_id=policy.phone_number_id,
        recipient=claimed.recipient or claimed.resident_key,
        number_rate=policy.number_rate,
        pair_rate=policy.pair_rate,
        now_us=clock.now_us,
        sleep=clock.sleep,
    )
    if not pace.ok:
        messages.release_claim(message_id, clock.now())
        raise RetryLaterError(f"{message_id}: waiting for the pacing slot", pace.retry_after_s)

    try:
        result = outbox.graph.send(
            claimed.recipient or "", decision.reply, callback_data=message_id
        )
    except PayloadError as error:  # breaks Meta's limits: sending again can never work
        _fail(messages, message_id, None, str(error), clock, report, log_extra)
        return
    except GraphApiError as error:
        _refused(error, claimed, outbox, policy, clock, priority, report, log_extra)
        return
    except OSError as error:  # timeouts and connection faults (requests' errors are OSErrors)
        _retry_or_give_up(claimed, None, repr(error), outbox, clock, priority, report, log_extra)
        return

    messages.mark_sent(
        message_id,
        result.wamid,
        clock.now(),
        note=decision.note,
        payload=reply_to_dict(decision.reply) if decision.reply is not requested else None,
    )
    metrics.add_metric(name="OutboundSent", unit=MetricUnit.Count, value=1)
    logger.info("message sent", extra={**log_extra, "wamid": result.wamid})
    report.sent.append(message_id)


def _refused(
    error: GraphApiError,
    claimed: StoredMessage,
    outbox: Outbox,
    policy: SendingPolicy,
    clock: Clock,
    priority: Priority,
    report: SendReport,
    log_extra: dict[str, object],
) -> None:
    error_class = classify(error.code, http_status=error.http_status)
    if error_class is ErrorClass.RECIPIENT:
        _fail(outbox.messages, claimed.id, error.code, error.title, clock, report, log_extra)
        return
    if error_class.should_retry:
        _retry_or_give_up(
            claimed, error.code, error.title, outbox, clock, priority, report, log_extra
        )
        return
    # Configuration or account: every further send would fail the same way. Stop, alarm, wait.
    reason = f"({error.code}) {error.title}"
    outbox.control.pause(policy.phone_number_id, reason, clock.now())
    metrics.add_metric(name="SenderPaused", unit=MetricUnit.Count, value=1)
    logger.error("sender paused by a Graph API error", extra={**log_extra, "reason": reason})
    attempts = outbox.messages.release_claim(
        claimed.id, clock.now(), error_code=error.code, error_title=error.title
    )
    if exhausted(attempts):
        _give_up(claimed, error.code, error.title, attempts, outbox, clock, priority, report)
        return
    raise RetryLaterError(f"sender paused: {reason}", PAUSED_RECHECK_SECONDS)


def _retry_or_give_up(
    claimed: StoredMessage,
    code: int | None,
    title: str,
    outbox: Outbox,
    clock: Clock,
    priority: Priority,
    report: SendReport,
    log_extra: dict[str, object],
) -> None:
    attempts = outbox.messages.release_claim(
        claimed.id, clock.now(), error_code=code, error_title=title
    )
    if exhausted(attempts):
        _give_up(claimed, code, title, attempts, outbox, clock, priority, report)
        return
    delay = retry_delay_seconds(code, attempts, clock.jitter())
    metrics.add_metric(name="OutboundRetried", unit=MetricUnit.Count, value=1)
    logger.warning(
        "send will be retried",
        extra={**log_extra, "code": code, "attempt": attempts, "delay_s": delay},
    )
    raise RetryLaterError(f"{claimed.id}: ({code}) {title}", delay)


def _give_up(
    claimed: StoredMessage,
    code: int | None,
    title: str,
    attempts: int,
    outbox: Outbox,
    clock: Clock,
    priority: Priority,
    report: SendReport,
) -> None:
    reason = f"gave up after {attempts} attempts: ({code}) {title}"
    outbox.messages.mark_failed(claimed.id, error_code=code, error_title=reason, now=clock.now())
    outbox.dead_letters.dead_letter([claimed.id], priority, reason)
    metrics.add_metric(name="OutboundDeadLettered", unit=MetricUnit.Count, value=1)
    logger.error("message dead-lettered", extra={"message_id": claimed.id, "reason": reason})
    report.dead_lettered.append(claimed.id)


def _fail(
    messages: MessageStore,
    message_id: str,
    code: int | None,
    title: str,
    clock: Clock,
    report: SendReport,
    log_extra: dict[str, object],
) -> None:
    messages.mark_failed(message_id, error_code=code, error_title=title, now=clock.now())
    metrics.add_metric(name="OutboundFailed", unit=MetricUnit.Count, value=1)
    logger.warning("message not sent", extra={**log_extra, "code": code, "reason": title})
    report.failed.append(message_id)


def _skip_cancelled(
    claimed: StoredMessage, messages: MessageStore, clock: Clock, report: SendReport
) -> None:
    """A message of a cancelled broadcast: no Graph call, marked skipped "cancelled"."""
    messages.mark_skipped(claimed.id, CANCELLED, clock.now())
    logger.info(
        "broadcast message not sent: the broadcast was cancelled",
        extra={"message_id": claimed.id, "broadcast": claimed.broadcast_id},
    )
    report.cancelled.append(claimed.id)


def _skip_opted_out(
    claimed: StoredMessage, messages: MessageStore, clock: Clock, report: SendReport
) -> None:
    """No Graph call and no pacing slot: the message is marked skipped and stays unsent."""
    messages.mark_skipped(claimed.id, OPTED_OUT, clock.now())
    metrics.add_metric(name="OutboundSkippedOptedOut", unit=MetricUnit.Count, value=1)
    logger.info(
        "bulk message not sent: the resident opted out",
        extra={"message_id": claimed.id, "resident": mask_resident_key(claimed.resident_key)},
    )
    report.opted_out.append(claimed.id)


def _window_and_language(
    message: StoredMessage,
    requested: Reply,
    residents: ResidentStore,
    policy: SendingPolicy,
    now: datetime,
    *,
    resident: Resident | None,
    read: bool,
) -> tuple[bool, str]:
    """What fit_to_window needs, asking the store only when it matters and is not known yet
    (`read`: `resident` was read already, None meaning unknown). A template goes out whatever
    the window. A bot reply answers a message that has just opened the window, so while it is
    younger than the window it needs no lookup; anything else asks when the resident last
    wrote."""
    if isinstance(requested, TemplateReply):
        return True, policy.default_language
    young = now - message.created_at < CUSTOMER_SERVICE_WINDOW - timedelta(minutes=1)
    if message.sent_by == "bot" and young:
        return True, policy.default_language
    if not read:
        resident = residents.get(message.resident_key)
    if resident is None:
        return False, policy.default_language
    return resident.window_open(now), resident.language or policy.default_language
