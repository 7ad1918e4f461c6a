"""ObligationStore, ReminderSchedule and NotificationStore on DynamoDB.

Reminders and scheduled notifications carry `due_slot` (the 15-minute UTC slot of their
send_at) only while scheduled, so the sparse `due` index holds exactly what is still to send
and the job reads a slot with one Query — never a Scan. Each reminder item carries a copy of its
obligation, so the job sends from that one read; when an obligation moves to another phone, the
save rewrites that copy on every earlier reminder (`rewritten`), so the old number does not stay
behind where erasing its resident would not find it.

Expiry (DynamoDB TTL, from the config's `retention.messages`; see docs/data-rights.md): an
obligation's `expires_at` is that long after its due date, a reminder's `purge_at` that long
after the later of its send time and the due date (its `expires_at` is when it may no longer be
sent), a notification's `expires_at` that long after its send time.

Request budgets:
- `ObligationStore.get`: 1 GetItem; `reminders_of`: 1 GetItem + 1 BatchGetItem;
  `for_resident`: 1 Query on `by_resident`.
- `ObligationStore.save`: 1 TransactWriteItems (the obligation, its new plan and the reminders
  it supersedes, ≤ 100 items), plus one more per conditional item that turned out not to apply
  (a reminder claimed by the job in the meantime) — rare.
- `due_in_slot`: 1 Query (more only past 1 MB of due items); `claim`, `skip`, `move`,
  `advance_watermark`: 1 UpdateItem; `watermark`: 1 GetItem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_models import (
    CONDITION_FAILED,
    ITEM_CHECK_FAILED,
    TRANSACTION_CANCELLED,
    WATERMARK_KEY,
    NotificationModel,
    ObligationModel,
    ReminderModel,
    StageTables,
    StageTableStore,
    cancellation_codes,
    conditional_update,
)
from chalicelib.adapters.store_rules import (
    notification_expiry,
    obligation_expiry,
    reminder_expiry,
)
from chalicelib.domain.obligations import (
    Notification,
    NotificationStatus,
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
)
from chalicelib.domain.reminder_plan import (
    SAVE_LIMIT,
    DueReminder,
    TooManyRemindersError,
    as_scheduled,
    replaced_reason,
    slot_of,
)

if TYPE_CHECKING:
    from chalicelib.adapters.store_rules import RetentionSource
    from chalicelib.domain.bot.definition import Retention

_SCHEDULED = ReminderStatus.SCHEDULED.value  # and NotificationStatus.SCHEDULED's
_CONFLICT_RETRIES = 3


# --- items ------------------------------------------------------------------------------------


def obligation_to_dict(obligation: Obligation) -> dict[str, Any]:
    return {
        "external_id": obligation.external_id,
        "kind": obligation.kind,
        "phone": obligation.phone,
        "resident_key": obligation.resident_key,
        "language": obligation.language,
        "due_date": obligation.due_date.isoformat(),
        "params": dict(obligation.params),
        "state": obligation.state.value,
        "created_at": obligation.created_at.isoformat(),
        "updated_at": obligation.updated_at.isoformat(),
        "registered_by": obligation.registered_by,
    }


def obligation_from_dict(data: dict[str, Any]) -> Obligation:
    return Obligation(
        external_id=data["external_id"],
        kind=data["kind"],
        phone=data["phone"],
        resident_key=data["resident_key"],
        language=data["language"],
        due_date=date.fromisoformat(data["due_date"]),
        params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
        state=ObligationState(data["state"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        registered_by=data["registered_by"],
    )


def obligation_item(
    tables: StageTables,
    obligation: Obligation,
    reminder_ids: Sequence[str] = (),
    *,
    retention: Retention | None = None,
) -> ObligationModel:
    """The item of `obligation` (for bulk loads; `save` sets the same attributes)."""
    return tables.obligations(
        obligation.external_id,
        kind=obligation.kind,
        phone=obligation.phone,
        resident_key=obligation.resident_key,
        language=obligation.language,
        due_date=obligation.due_date.isoformat(),
        params=dict(obligation.params),
        state=obligation.state.value,
        created_at=obligation.created_at,
        updated_at=obligation.updated_at,
        registered_by=obligation.registered_by,
        reminder_ids=set(reminder_ids) or None,
        expires_at=obligation_expiry(obligation, retention),
    )


def _to_obligation(item: ObligationModel) -> Obligation:
    return Obligation(
        external_id=item.external_id,
        kind=item.kind,
        phone=item.phone,
        resident_key=item.resident_key,
        language=item.language,
        due_date=date.fromisoformat(item.due_date),
        params={str(k): str(v) for k, v in (item.params or {}).items()},
        state=ObligationState(item.state),
        created_at=item.created_at,
        updated_at=item.updated_at,
        registered_by=item.registered_by,
    )


def reminder_item(
    tables: StageTables,
    reminder: ScheduledReminder,
    obligation: Obligation,
    *,
    retention: Retention | None = None,
) -> ReminderModel:
    """The item of `reminder` planned for `obligation`: in the due index while scheduled."""
    scheduled = reminder.status is ReminderStatus.SCHEDULED
    return tables.reminders(
        reminder.id,
        external_id=reminder.external_id,
        offset_days=reminder.offset_days,
        send_at=reminder.send_at,
        expires_at=reminder.expires_at,
        status=reminder.status.value,
        message_id=reminder.message_id,
        reason=reminder.reason,
        updated_at=reminder.updated_at,
        due_slot=slot_of(reminder.send_at) if scheduled else None,
        due_date=obligation.due_date.isoformat(),
        obligation=obligation_to_dict(obligation),
        purge_at=reminder_expiry(reminder, obligation, retention),
    )


def _to_reminder(item: ReminderModel) -> DueReminder:
    return DueReminder(
        external_id=item.external_id or "",
        offset_days=int(item.offset_days or 0),
        send_at=item.send_at,  # type: ignore[arg-type]
        expires_at=item.expires_at,  # type: ignore[arg-type]
        status=ReminderStatus(item.status),
        message_id=item.message_id,
        reason=item.reason,
        updated_at=item.updated_at,  # type: ignore[arg-type]
        obligation=obligation_from_dict(item.obligation or {}),
    )


def notification_item(
    tables: StageTables, notification: Notification, *, retention: Retention | None = None
) -> NotificationModel:
    scheduled = notification.status is NotificationStatus.SCHEDULED
    return tables.notifications(
        notification.external_id,
        kind=notification.kind,
        phone=notification.phone,
        resident_key=notification.resident_key,
        language=notification.language,
        params=dict(notification.params),
        send_at=notification.send_at,
        status=notification.status.value,
        message_id=notification.message_id,
        created_at=notification.created_at,
        registered_by=notification.registered_by,
        due_slot=slot_of(notification.send_at) if scheduled else None,
        expires_at=notification_expiry(notification, retention),
    )


def _to_notification(item: NotificationModel) -> Notification:
    return Notification(
        external_id=item.external_id,
        kind=item.kind,
        phone=item.phone,
        resident_key=item.resident_key,
        language=item.language,
        params={str(k): str(v) for k, v in (item.params or {}).items()},
        send_at=item.send_at,
        status=NotificationStatus(item.status),
        message_id=item.message_id,
        created_at=item.created_at,
        registered_by=item.registered_by,
    )


def _update_if_scheduled(model: Any, key: str, send_at: datetime, actions: list[Action]) -> bool:
    """One UpdateItem on a reminder or notification still scheduled for `send_at` (one
    re-planned or moved since it was read is another one); False when it is not."""
    condition = (model.status == _SCHEDULED) & (model.send_at == send_at)
    return conditional_update(model(key), actions, condition)


def _reslot(model: Any, send_at: datetime) -> list[Action]:
    return [model.send_at.set(send_at), model.due_slot.set(slot_of(send_at))]


# --- obligations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """One item of the save transaction. Optional entries are conditions about the reminders'
    current state; when one fails, the save goes on without it."""

    put: ReminderModel | None = None
    update: Any = None
    actions: tuple[Action, ...] = ()
    condition: Condition | None = None
    optional: bool = False
    fallback: _Entry | None = None  # what the save does instead when the condition fails


class DynamoDBObligationStore(StageTableStore):
    """`retention` (the config's, asked for on the first save) stamps the obligation and its
    reminders with their expiry (store_rules.obligation_expiry, reminder_expiry)."""

    def __init__(self, tables: StageTables | None = None, *, retention: RetentionSource) -> None:
        super().__init__(tables)
        self._retention = retention

    def get(self, external_id: str) -> Obligation | None:
        try:
            item = self._tables.obligations.get(external_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _to_obligation(item)

    def reminders_of(self, external_id: str) -> list[ScheduledReminder]:
        """Every reminder ever planned for it, by offset."""
        try:
            item = self._tables.obligations.get(
                external_id, consistent_read=True, attributes_to_get=["reminder_ids"]
            )
        except DoesNotExist:
            return []
        ids = sorted(item.reminder_ids or ())
        if not ids:
            return []
        found = [
            as_scheduled(_to_reminder(reminder))
            for reminder in self._tables.reminders.batch_get(ids, consistent_read=True)
        ]
        return sorted(found, key=lambda reminder: reminder.offset_days)

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Obligation]:
        """Latest due date first."""
        if limit < 1:
            return []
        items = self._tables.obligations.by_resident.query(
            resident_key, scan_index_forward=False, limit=limit
        )
        return [_to_obligation(item) for item in items]

    def save(
        self,
        obligation: Obligation,
        reminders: Sequence[ScheduledReminder],
        *,
        replaced: Sequence[ScheduledReminder] = (),
        rewritten: Sequence[ScheduledReminder] = (),
    ) -> None:
        """One TransactWriteItems: the obligation, its plan, the superseded reminders and the
        `rewritten` ones (their copy of the obligation becomes this one).

        A planned reminder never overwrites one already queued for the same due date (an update
        that keeps the due date must not send it again); a superseded one is only skipped while
        still scheduled (the job may have just queued it). Either condition failing drops that
        item (or, for a reminder to rewrite, only rewrites its copy) and the transaction is
        retried, so nothing is half-written."""
        entries = self._entries(obligation, reminders, replaced, rewritten)
        if len(entries) > SAVE_LIMIT:
            raise TooManyRemindersError(
                f"{obligation.external_id}: {len(entries)} items do not fit in one transaction "
                f"(at most {SAVE_LIMIT})"
            )
        conflicts = 0
        while True:
            # PynamoDB sends puts before updates: keep the list in that order to read the
            # cancellation reasons, which come one per item.
            ordered = [e for e in entries if e.put is not None] + [
                e for e in entries if e.put is None
            ]
            transaction = TransactWrite(connection=self._tables.connection)
            for entry in ordered:
                if entry.put is not None:
                    transaction.save(entry.put, condition=entry.condition)
                else:
                    transaction.update(
                        entry.update, actions=list(entry.actions), condition=entry.condition
                    )
            try:
                with transaction:
                    pass  # the context manager commits on exit
                return
            except TransactWriteError as error:
                if error.cause_response_code != TRANSACTION_CANCELLED:
                    raise
                codes = cancellation_codes(error)
                failed = {i for i, code in enumerate(codes) if code == ITEM_CHECK_FAILED}
                if codes and "TransactionConflict" in codes and conflicts < _CONFLICT_RETRIES:
                    conflicts += 1
                    continue
                if not failed or any(not ordered[i].optional for i in failed):
                    raise
                instead = (
                    entry if i not in failed else entry.fallback for i, entry in enumerate(ordered)
                )
                entries = [entry for entry in instead if entry is not None]

    def _entries(
        self,
        obligation: Obligation,
        reminders: Sequence[ScheduledReminder],
        replaced: Sequence[ScheduledReminder],
        rewritten: Sequence[ScheduledReminder] = (),
    ) -> list[_Entry]:
        model, reminder_model = self._tables.obligations, self._tables.reminders
        retention = self._retention()
        planned_ids = {reminder.id for reminder in reminders}
        superseded = {
            reminder.id: reminder for reminder in replaced if reminder.id not in planned_ids
        }
        copy = obligation_to_dict(obligation)
        rewrite_ids = {reminder.id for reminder in rewritten}

        def rewrite(reminder_id: str) -> _Entry | None:
            if reminder_id not in rewrite_ids:
                return None
            return _Entry(
                update=reminder_model(reminder_id),
                actions=(reminder_model.obligation.set(copy),),
                condition=reminder_model.reminder_id.exists(),
                optional=True,
            )

        # An update, not a put, so that `reminder_ids` keeps the ids of earlier plans.
        item = obligation_item(self._tables, obligation, retention=retention)
        actions: list[Action] = [
            attribute.set(value) if value is not None else attribute.remove()
            for name, attribute in model.get_attributes().items()
            if name not in ("external_id", "reminder_ids")
            for value in [getattr(item, name)]
        ]
        if planned_ids or superseded:
            # ADD keeps the ids of reminders planned before (sent, skipped) in the set.
            actions.append(model.reminder_ids.add(planned_ids | set(superseded)))
        entries = [_Entry(update=model(obligation.external_id), actions=tuple(actions))]
        due = obligation.due_date.isoformat()
        for reminder in reminders:
            not_sent_for_this_due_date = (
                reminder_model.reminder_id.does_not_exist()
                | (reminder_model.status != ReminderStatus.QUEUED.value)
                | (reminder_model.due_date != due)
            )
            entries.append(
                _Entry(
                    put=reminder_item(self._tables, reminder, obligation, retention=retention),
                    condition=not_sent_for_this_due_date,
                    optional=True,
                    fallback=rewrite(reminder.id),
                )
            )
        reason = replaced_reason(obligation)
        for reminder in superseded.values():
            skip: tuple[Action, ...] = (
                reminder_model.status.set(ReminderStatus.SKIPPED.value),
                reminder_model.reason.set(reason),
                reminder_model.updated_at.set(obligation.updated_at),
                reminder_model.due_slot.remove(),
            )
            if reminder.id in rewrite_ids:
                skip += (reminder_model.obligation.set(copy),)
            entries.append(
                _Entry(
                    update=reminder_model(reminder.id),
                    actions=skip,
                    condition=reminder_model.status == _SCHEDULED,
                    optional=True,
                    fallback=rewrite(reminder.id),
                )
            )
        for reminder_id in sorted(rewrite_ids - planned_ids - set(superseded)):
            entries.append(rewrite(reminder_id))  # type: ignore[arg-type]
        return entries


# --- the due index ----------------------------------------------------------------------------


class DynamoDBReminderSchedule(StageTableStore):
    def due_in_slot(self, slot: str) -> list[ScheduledReminder]:
        """The slot's scheduled reminders, by send_at, each a DueReminder carrying its
        obligation."""
        return [_to_reminder(item) for item in self._tables.reminders.due.query(slot)]

    def claim(self, reminder: ScheduledReminder, message_id: str, now: datetime) -> bool:
        model = self._tables.reminders
        return _update_if_scheduled(
            model,
            reminder.id,
            reminder.send_at,
            [
                model.status.set(ReminderStatus.QUEUED.value),
                model.message_id.set(message_id),
                model.updated_at.set(now),
                model.due_slot.remove(),
            ],
        )

    def skip(self, reminder: ScheduledReminder, reason: str, now: datetime) -> bool:
        model = self._tables.reminders
        return _update_if_scheduled(
            model,
            reminder.id,
            reminder.send_at,
            [
                model.status.set(ReminderStatus.SKIPPED.value),
                model.reason.set(reason),
                model.updated_at.set(now),
                model.due_slot.remove(),
            ],
        )

    def move(self, reminder: ScheduledReminder, send_at: datetime) -> None:
        model = self._tables.reminders
        _update_if_scheduled(model, reminder.id, reminder.send_at, _reslot(model, send_at))

    def watermark(self) -> str | None:
        try:
            item = self._tables.reminders.get(WATERMARK_KEY, consistent_read=True)
        except DoesNotExist:
            return None
        return item.watermark

    def advance_watermark(self, slot: str) -> None:
        """Never backwards: an operator re-running an old window leaves it where it is."""
        model = self._tables.reminders
        conditional_update(
            model(WATERMARK_KEY),
            [model.watermark.set(slot)],
            model.watermark.does_not_exist() | (model.watermark < slot),
        )


# --- notifications ----------------------------------------------------------------------------


class DynamoDBNotificationStore(StageTableStore):
    """`retention` (the config's, asked for on the first `add`) stamps each notification with
    its expiry (store_rules.notification_expiry)."""

    def __init__(self, tables: StageTables | None = None, *, retention: RetentionSource) -> None:
        super().__init__(tables)
        self._retention = retention

    def get(self, external_id: str) -> Notification | None:
        try:
            item = self._tables.notifications.get(external_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _to_notification(item)

    def add(self, notification: Notification) -> bool:
        model = self._tables.notifications
        try:
            notification_item(self._tables, notification, retention=self._retention()).save(
                condition=model.external_id.does_not_exist()
            )
        except PutError as error:
            if error.cause_response_code == CONDITION_FAILED:
                return False
            raise
        return True

    def due_in_slot(self, slot: str) -> list[Notification]:
        return [_to_notification(item) for item in self._tables.notifications.due.query(slot)]

    def claim(self, notification: Notification, message_id: str, now: datetime) -> bool:
        model = self._tables.notifications
        return _update_if_scheduled(
            model,
            notification.external_id,
            notification.send_at,
            [
                model.status.set(NotificationStatus.QUEUED.value),
                model.message_id.set(message_id),
                model.due_slot.remove(),
            ],
        )

    def move(self, notification: Notification, send_at: datetime) -> None:
        """Re-slot a scheduled notification whose slot passed outside the send window."""
        model = self._tables.notifications
        _update_if_scheduled(
            model, notification.external_id, notification.send_at, _reslot(model, send_at)
        )
