"""What back-office systems do through `/api/v1`: register obligations (one or thousands),
cancel them or mark them renewed, send one-off notifications, and ask what was delivered.

Every input is checked before anything is read or written (`back_office_input`), and each
obligation is saved with its reminder plan in one write (`ObligationStore.save`), so a refused
request leaves nothing behind. Registering the same obligation again changes nothing; changing
its due date (or kind, language, phone, parameters) plans its reminders again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.audit import AuditAction, api_key_actor
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.messages import DeliveryStatus, Priority, StoredMessage
from chalicelib.domain.obligations import (
    Notification,
    NotificationStatus,
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
    notification_message_id,
)
from chalicelib.domain.reminder_plan import (
    in_send_window,
    next_window_opening,
    plan_reminders,
    slot_of,
    template_for,
)
from chalicelib.observability import logger, mask_phone
from chalicelib.services.audit_trail import AuditTrail
from chalicelib.services.back_office_input import (
    FieldError,
    InputError,
    NotificationInput,
    ObligationInput,
    read_notification,
    read_obligation,
)
from chalicelib.services.ports import (
    MessageStore,
    NotificationStore,
    ObligationStore,
    OutboundQueue,
    ResidentStore,
)
from chalicelib.services.run_reminders import template_message

# Bulk rows are saved this many at a time: each costs a few DynamoDB round trips, and thousands
# of them one after another would outlast the API's timeout.
BULK_CONCURRENCY = 16


class NotFoundError(Exception):
    """No obligation or notification with this external id."""

    def __init__(self, what: str, external_id: str) -> None:
        super().__init__(f"no {what} with external_id '{external_id}'")
        self.what = what
        self.external_id = external_id


# --- delivery status --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What became of one reminder or notification, in the API's words: scheduled, queued,
    sent, delivered, read, failed (reason: Meta's error) or skipped (reason: opted_out, expired,
    superseded, cancelled, renewed)."""

    status: str
    reason: str | None = None
    error_code: int | None = None
    at: datetime | None = None  # when it reached this status, once it is a message


def delivery_of(
    status: ReminderStatus | NotificationStatus, reason: str | None, message: StoredMessage | None
) -> Delivery:
    if status == ReminderStatus.SKIPPED:
        return Delivery(status="skipped", reason=reason)
    if status == ReminderStatus.SCHEDULED:
        return Delivery(status="scheduled")
    if message is None:  # queued a moment ago; the message is being written
        return Delivery(status="queued")
    at = message.status_at
    match message.status:
        case DeliveryStatus.QUEUED | DeliveryStatus.SENDING:
            return Delivery(status="queued", at=at)
        case DeliveryStatus.SENT | DeliveryStatus.DELIVERED:
            return Delivery(status=message.status.value, at=at)
        case DeliveryStatus.READ | DeliveryStatus.PLAYED:
            return Delivery(status="read", at=at)
        case DeliveryStatus.SKIPPED:
            return Delivery(status="skipped", reason=message.note or message.error_title, at=at)
        case _:  # FAILED
            reason = message.error_title or (
                f"error {message.error_code}" if message.error_code else "failed"
            )
            return Delivery(status="failed", reason=reason, error_code=message.error_code, at=at)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderView:
    reminder: ScheduledReminder
    delivery: Delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationView:
    obligation: Obligation
    reminders: tuple[ReminderView, ...]
    created: bool = False  # by this request
    changed: bool = False  # by this request (created, re-planned, cancelled, renewed)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationView:
    notification: Notification
    delivery: Delivery
    created: bool = False


def _messages_by_id(messages: MessageStore, ids: Iterable[str | None]) -> dict[str, StoredMessage]:
    wanted = [message_id for message_id in dict.fromkeys(ids) if message_id]
    if not wanted:
        return {}
    return {message.id: message for message in messages.get_many(wanted)}


def _view(
    obligation: Obligation,
    reminders: Sequence[ScheduledReminder],
    messages: MessageStore,
    **flags: bool,
) -> ObligationView:
    queued = [r.message_id for r in reminders if r.status is ReminderStatus.QUEUED]
    sent = _messages_by_id(messages, queued)
    ordered = sorted(reminders, key=lambda r: (r.offset_days, r.id))
    return ObligationView(
        obligation=obligation,
        reminders=tuple(
            ReminderView(
                reminder=r,
                delivery=delivery_of(
                    r.status, r.reason, sent.get(r.message_id) if r.message_id else None
                ),
            )
            for r in ordered
        ),
        **flags,
    )


def obligation_status(
    external_id: str, *, obligations: ObligationStore, messages: MessageStore
) -> ObligationView:
    """The obligation and each reminder's delivery status. Raises NotFoundError."""
    obligation = obligations.get(external_id)
    if obligation is None:
        raise NotFoundError("obligation", external_id)
    return _view(obligation, obligations.reminders_of(external_id), messages)


def notification_status(
    external_id: str, *, notifications: NotificationStore, messages: MessageStore
) -> NotificationView:
    """The notification and its delivery status. Raises NotFoundError."""
    notification = notifications.get(external_id)
    if notification is None:
        raise NotFoundError("notification", external_id)
    return _notification_view(notification, messages)


# --- obligations ------------------------------------------------------------------------------


def register_obligation(
    external_id: str,
    data: Any,
    *,
    definition: MunicipalityDefinition,
    obligations: ObligationStore,
    residents: ResidentStore,
    messages: MessageStore,
    registered_by: str,
    now: datetime,
    audit: AuditTrail | None = None,
) -> ObligationView:
    """Register or update the obligation `external_id` from a JSON object. Raises InputError
    (nothing written) when anything is wrong with it."""
    entry = read_obligation(data, definition, external_id=external_id)
    saved = _save_obligation(
        entry,
        definition=definition,
        obligations=obligations,
        residents=residents,
        registered_by=registered_by,
        now=now,
        log=logger.info,
        audit=audit,
    )
    changed = saved.reminders is not None
    reminders = saved.reminders if changed else obligations.reminders_of(entry.external_id)
    return _view(saved.obligation, reminders, messages, created=saved.created, changed=changed)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Saved:
    obligation: Obligation
    created: bool
    # Its reminders after the save; None when nothing changed (nothing written, none read).
    reminders: list[ScheduledReminder] | None


def _save_obligation(
    entry: ObligationInput,
    *,
    definition: MunicipalityDefinition,
    obligations: ObligationStore,
    residents: ResidentStore,
    registered_by: str,
    now: datetime,
    log: Callable[..., None],
    audit: AuditTrail | None = None,
) -> _Saved:
    assert definition.reminders is not None  # read_obligation checked the kind
    reminder = definition.reminders.kinds[entry.kind]
    existing = obligations.get(entry.external_id)
    language = entry.language or _language_for(
        residents, entry.phone.resident_key, reminder.template, definition
    )
    obligation = Obligation(
        external_id=entry.external_id,
        kind=entry.kind,
        phone=entry.phone.e164,
        resident_key=entry.phone.resident_key,
        language=language,
        due_date=entry.due_date,
        params=dict(entry.params),
        state=ObligationState.ACTIVE,
        created_at=existing.created_at if existing else now,
        updated_at=now,
        registered_by=registered_by,
    )
    if existing is not None and _same(existing, obligation):
        return _Saved(obligation=existing, created=False, reminders=None)

    old = obligations.reminders_of(entry.external_id) if existing is not None else []
    plan = plan_reminders(obligation, definition, now)
    if existing is not None and existing.due_date == obligation.due_date:
        # A reminder already handed to the sender for this due date stays as it is: planning
        # it again would say "scheduled" about a message that went out.
        done = {r.id for r in old if r.status is ReminderStatus.QUEUED}
        plan = [r for r in plan if r.id not in done]
    planned = {r.id for r in plan}
    replaced = [r for r in old if r.status is ReminderStatus.SCHEDULED and r.id not in planned]
    # Another phone: the earlier reminders' copies of the obligation name the old one.
    moved = existing is not None and existing.phone != obligation.phone
    obligations.save(obligation, plan, replaced=replaced, rewritten=old if moved else ())
    # One line per obligation, at INFO for single registrations; a bulk upload logs a summary.
    log(
        "obligation registered",
        extra={
            "external_id": obligation.external_id,
            "kind": obligation.kind,
            "phone": mask_phone(obligation.phone),
            "registered_by": registered_by,
            "new": existing is None,
            "reminders_scheduled": sum(r.status is ReminderStatus.SCHEDULED for r in plan),
        },
    )
    _audit_registration(
        audit, obligation.resident_key, registered_by, f"obligation {obligation.external_id}", now
    )
    kept = [r for r in old if r.id not in planned and r not in replaced]
    reminders = plan + kept + [_skipped(r, "superseded", now) for r in replaced]
    return _Saved(obligation=obligation, created=existing is None, reminders=reminders)


def _same(stored: Obligation, new: Obligation) -> bool:
    return stored.state is ObligationState.ACTIVE and (
        stored.kind,
        stored.phone,
        stored.language,
        stored.due_date,
        stored.params,
    ) == (new.kind, new.phone, new.language, new.due_date, new.params)


def _language_for(
    residents: ResidentStore,
    resident_key: str,
    template_name: str,
    definition: MunicipalityDefinition,
) -> str:
    """Not given: the resident's own language when the template is approved in it, else the
    municipality's default (every template is approved in it: the config loader checks)."""
    resident = residents.get(resident_key)
    template = definition.templates[template_name]
    language = definition.supported_language(resident.language) if resident else None
    if language and language in template.languages:
        return language
    return definition.default_language


def _skipped(reminder: ScheduledReminder, reason: str, now: datetime) -> ScheduledReminder:
    return replace(reminder, status=ReminderStatus.SKIPPED, reason=reason, updated_at=now)


def cancel_obligation(
    external_id: str,
    *,
    obligations: ObligationStore,
    messages: MessageStore,
    now: datetime,
) -> ObligationView:
    """Its pending reminders are skipped ("cancelled"). Raises NotFoundError."""
    return _stop(external_id, ObligationState.CANCELLED, obligations, messages, now)


def mark_renewed(
    external_id: str,
    *,
    obligations: ObligationStore,
    messages: MessageStore,
    now: datetime,
) -> ObligationView:
    """Done: its pending reminders are skipped ("renewed"). Raises NotFoundError."""
    return _stop(external_id, ObligationState.RENEWED, obligations, messages, now)


def _stop(
    external_id: str,
    state: ObligationState,
    obligations: ObligationStore,
    messages: MessageStore,
    now: datetime,
) -> ObligationView:
    existing = obligations.get(external_id)
    if existing is None:
        raise NotFoundError("obligation", external_id)
    reminders = obligations.reminders_of(external_id)
    pending = [r for r in reminders if r.status is ReminderStatus.SCHEDULED]
    if existing.state is state and not pending:
        return _view(existing, reminders, messages)
    stopped = replace(existing, state=state, updated_at=now)
    # The store skips them saying why ("cancelled" or "renewed"), leaving out any the job
    # queued meanwhile.
    obligations.save(stopped, [], replaced=pending)
    skipped = [_skipped(r, state.value, now) for r in pending]
    logger.info(
        f"obligation {state.value}",
        extra={"external_id": external_id, "reminders_stopped": len(pending)},
    )
    by_id = {r.id: r for r in reminders} | {r.id: r for r in skipped}
    return _view(stopped, list(by_id.values()), messages, changed=True)


# --- bulk -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedRow:
    row: int  # counted from 1, the CSV header not counted
    external_id: str | None
    errors: tuple[FieldError, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged


def register_many(
    rows: Sequence[Any],
    *,
    definition: MunicipalityDefinition,
    obligations: ObligationStore,
    residents: ResidentStore,
    registered_by: str,
    now: datetime,
    concurrency: int | None = None,
    audit: AuditTrail | None = None,
) -> BulkResult:
    """Register every good row and report each bad one with all its problems. Rows are checked
    first, all of them; the good ones are then saved `concurrency` at a time, each with its
    plan in one write. An external id given twice is taken from its first row only."""
    rejected: list[RejectedRow] = []
    good: list[tuple[int, ObligationInput]] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if isinstance(row, FieldError):
            rejected.append(RejectedRow(row=number, external_id=None, errors=(row,)))
            continue
        try:
            entry = read_obligation(row, definition)
        except InputError as error:
            given_id = row.get("external_id") if isinstance(row, dict) else None
            errors = tuple(_as_row_error(e) for e in error.errors)
            rejected.append(
                RejectedRow(
                    row=number,
                    external_id=given_id if isinstance(given_id, str) else None,
                    errors=errors,
                )
            )
            continue
        if entry.external_id in first_row:
            again = FieldError(
                "external_id",
                "duplicate",
                f"was given already in row {first_row[entry.external_id]}",
                422,
            )
            rejected.append(RejectedRow(row=number, external_id=entry.external_id, errors=(again,)))
            continue
        first_row[entry.external_id] = number
        good.append((number, entry))

    def save(entry: ObligationInput) -> _Saved | Exception:
        try:
            return _save_obligation(
                entry,
                definition=definition,
                obligations=obligations,
                residents=residents,
                registered_by=registered_by,
                now=now,
                log=logger.debug,
            )
        except Exception as error:  # reported per row below
            return error

    entries = [entry for _, entry in good]
    outcomes = _run(save, entries, concurrency or BULK_CONCURRENCY)
    # A row that failed in the concurrent pass (throttled, a lost race) is tried once more, on
    # its own; one that fails again is reported, and the rows saved stay saved.
    counts: Counter[str] = Counter()
    changed: list[tuple[str, str]] = []  # (resident key, audit detail) of rows that changed
    for (number, entry), outcome in zip(good, outcomes, strict=True):
        if isinstance(outcome, Exception):
            outcome = save(entry)
        if isinstance(outcome, Exception):
            logger.error(
                "bulk row not saved",
                exc_info=outcome,
                extra={"external_id": entry.external_id},
            )
            failure = FieldError("row", "not_saved", "could not be saved; send it again", 503)
            rejected.append(
                RejectedRow(row=number, external_id=entry.external_id, errors=(failure,))
            )
            continue
        if outcome.created:
            counts["created"] += 1
        else:
            counts["updated" if outcome.reminders is not None else "unchanged"] += 1
        if outcome.reminders is not None:
            changed.append((outcome.obligation.resident_key, f"obligation {entry.external_id}"))
    if audit is not None:  # `messaged` for every row that changed, in a few batch writes
        audit.record_many_quietly(
            changed, actor=api_key_actor(registered_by), action=AuditAction.MESSAGED, at=now
        )
    rejected.sort(key=lambda r: r.row)
    result = BulkResult(**counts, rejected=rejected)
    logger.info(
        "bulk registration",
        extra={
            "rows": len(rows),
            "rows_created": result.created,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "rows_rejected": len(rejected),
            "registered_by": registered_by,
        },
    )
    return result


def _as_row_error(error: FieldError) -> FieldError:
    if error.field != "body":
        return error
    return replace(error, field="row", reason="must be a JSON object describing an obligation")


def _run(
    action: Callable[[ObligationInput], _Saved | Exception],
    entries: list[ObligationInput],
    concurrency: int,
) -> list[_Saved | Exception]:
    if concurrency <= 1 or len(entries) <= 1:
        return [action(entry) for entry in entries]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(entries))) as pool:
        return list(pool.map(action, entries))


# --- notifications ----------------------------------------------------------------------------


def notify(
    data: Any,
    *,
    definition: MunicipalityDefinition,
    notifications: NotificationStore,
    residents: ResidentStore,
    messages: MessageStore,
    outbound: OutboundQueue,
    registered_by: str,
    now: datetime,
    audit: AuditTrail | None = None,
) -> NotificationView:
    """Accept a one-off notification. Sent now when it is not scheduled later and the send
    window is open; otherwise kept for the reminders job, which sends it at `send_at` (or the
    window's next opening). Sending the same external id again returns the notification
    already accepted (created False) and sends nothing. Raises InputError."""
    entry = read_notification(data, definition, now)
    existing = notifications.get(entry.external_id)
    if existing is not None:
        return _notification_view(existing, messages)
    configured = definition.notifications[entry.kind]
    language = entry.language or _language_for(
        residents, entry.phone.resident_key, configured.template, definition
    )
    base = Notification(
        external_id=entry.external_id,
        kind=entry.kind,
        phone=entry.phone.e164,
        resident_key=entry.phone.resident_key,
        language=language,
        params=dict(entry.params),
        send_at=now,
        created_at=now,
        registered_by=registered_by,
    )
    message: StoredMessage | None = None
    if _send_now(definition, entry, now):
        # The message the reminders job would store for it: same id, so only one is sent.
        reply = template_for(
            definition, configured.template, configured.params, language, entry.params
        )
        message_id = notification_message_id(base.external_id)
        message = template_message(definition, message_id, reply, base, now)
        # The message first: if we stop after it, the sweep of stalled messages sends it, and a
        # retry of this request finds no notification and writes the same ids again.
        messages.add_outbound([message])
        stored = replace(base, status=NotificationStatus.QUEUED, message_id=message.id)
    else:
        stored = replace(base, send_at=_schedule_time(definition, entry, now))
    if not notifications.add(stored):  # another request with this id was first
        return _notification_view(_existing(notifications, entry.external_id), messages)
    if message is not None:
        outbound.enqueue([message.id], Priority.BULK)
    logger.info(
        "notification accepted",
        extra={
            "external_id": stored.external_id,
            "kind": stored.kind,
            "phone": mask_phone(stored.phone),
            "status": stored.status.value,
            "send_at": stored.send_at.isoformat(),
            "registered_by": registered_by,
        },
    )
    _audit_registration(
        audit, stored.resident_key, registered_by, f"notification {stored.external_id}", now
    )
    return NotificationView(
        notification=stored,
        delivery=delivery_of(stored.status, None, message),
        created=True,
    )


def _audit_registration(
    audit: AuditTrail | None, resident_key: str, key_name: str, detail: str, now: datetime
) -> None:
    """`messaged` by the API key: a message for the resident was registered (sent now or
    later). After the write, and quiet: a failed entry is logged, the registration stands."""
    if audit is not None:
        audit.record_quietly(
            resident_key,
            actor=api_key_actor(key_name),
            action=AuditAction.MESSAGED,
            at=now,
            detail=detail,
        )


def _existing(notifications: NotificationStore, external_id: str) -> Notification:
    notification = notifications.get(external_id)
    assert notification is not None, "add() said it exists"
    return notification


def _notification_view(notification: Notification, messages: MessageStore) -> NotificationView:
    message = messages.get(notification.message_id) if notification.message_id else None
    return NotificationView(
        notification=notification,
        delivery=delivery_of(notification.status, None, message),
    )


def _send_now(definition: MunicipalityDefinition, entry: NotificationInput, now: datetime) -> bool:
    due_now = entry.send_at is None or slot_of(entry.send_at) <= slot_of(now)
    return due_now and in_send_window(definition, now)


def _schedule_time(
    definition: MunicipalityDefinition, entry: NotificationInput, now: datetime
) -> datetime:
    """When the job should send it: the time asked, or the window's next opening after it."""
    wanted = entry.send_at if entry.send_at and entry.send_at > now else now
    return next_window_opening(definition, wanted)
