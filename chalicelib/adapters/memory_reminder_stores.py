"""In-memory twins of the DynamoDB obligation, reminder and notification stores, on the shared
`InMemoryDatabase`. They pass the same contract tests
(tests/integration/test_reminder_store_contracts.py)."""

from __future__ import annotations

import copy
from collections.abc import MutableMapping, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from chalicelib.adapters.memory_stores import InMemoryDatabase
from chalicelib.domain.obligations import (
    Notification,
    NotificationStatus,
    Obligation,
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

_SCHEDULED = ReminderStatus.SCHEDULED.value  # and NotificationStatus.SCHEDULED's


def _due(reminder: ScheduledReminder, obligation: Obligation) -> DueReminder:
    planned = {item.name: getattr(reminder, item.name) for item in fields(ScheduledReminder)}
    return DueReminder(**planned, obligation=copy.deepcopy(obligation))


def _change_if_scheduled(
    items: MutableMapping[str, Any], key: str, scheduled_at: datetime, /, **changes: Any
) -> bool:
    """Change a reminder or notification still scheduled for `scheduled_at` (one re-planned or
    moved since it was read is another one); False when it is not. Call it holding the lock."""
    stored = items.get(key)
    if stored is None or stored.status != _SCHEDULED or stored.send_at != scheduled_at:
        return False
    items[key] = replace(stored, **changes)
    return True


class InMemoryObligationStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, external_id: str) -> Obligation | None:
        with self.database.lock:
            return copy.deepcopy(self.database.obligations.get(external_id))

    def reminders_of(self, external_id: str) -> list[ScheduledReminder]:
        with self.database.lock:
            found = [
                as_scheduled(reminder)
                for reminder in self.database.reminders.values()
                if reminder.external_id == external_id
            ]
        return sorted(found, key=lambda reminder: reminder.offset_days)

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Obligation]:
        """Latest due date first (ties by external id, descending: DynamoDB leaves their order
        open, so callers must not rely on it)."""
        with self.database.lock:
            theirs = sorted(
                (o for o in self.database.obligations.values() if o.resident_key == resident_key),
                key=lambda obligation: (obligation.due_date, obligation.external_id),
                reverse=True,
            )
            return copy.deepcopy(theirs[: max(limit, 0)])

    def save(
        self,
        obligation: Obligation,
        reminders: Sequence[ScheduledReminder],
        *,
        replaced: Sequence[ScheduledReminder] = (),
        rewritten: Sequence[ScheduledReminder] = (),
    ) -> None:
        db = self.database
        planned_ids = {reminder.id for reminder in reminders}
        superseded = [reminder for reminder in replaced if reminder.id not in planned_ids]
        superseded_ids = {reminder.id for reminder in superseded}
        rewrite_ids = {reminder.id for reminder in rewritten}
        items = 1 + len(planned_ids) + len(superseded_ids | rewrite_ids - planned_ids)
        if items > SAVE_LIMIT:
            raise TooManyRemindersError(
                f"{obligation.external_id}: {items} items do not fit in one transaction "
                f"(at most {SAVE_LIMIT})"
            )
        reason = replaced_reason(obligation)
        with db.lock:
            db.obligations[obligation.external_id] = copy.deepcopy(obligation)
            for reminder in reminders:
                stored = db.reminders.get(reminder.id)
                if (
                    isinstance(stored, DueReminder)
                    and stored.status is ReminderStatus.QUEUED
                    and stored.obligation.due_date == obligation.due_date
                ):
                    continue  # sent already for this due date: never again
                db.reminders[reminder.id] = _due(reminder, obligation)
            for reminder in superseded:
                stored = db.reminders.get(reminder.id)
                if stored is not None and stored.status is ReminderStatus.SCHEDULED:
                    db.reminders[reminder.id] = replace(
                        stored,
                        status=ReminderStatus.SKIPPED,
                        reason=reason,
                        updated_at=obligation.updated_at,
                    )
            for reminder_id in rewrite_ids:  # their copy of the obligation becomes this one
                stored = db.reminders.get(reminder_id)
                if isinstance(stored, DueReminder) and stored.obligation != obligation:
                    db.reminders[reminder_id] = replace(
                        stored, obligation=copy.deepcopy(obligation)
                    )


class InMemoryReminderSchedule:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def due_in_slot(self, slot: str) -> list[ScheduledReminder]:
        with self.database.lock:
            due = [
                copy.deepcopy(reminder)
                for reminder in self.database.reminders.values()
                if reminder.status is ReminderStatus.SCHEDULED and slot_of(reminder.send_at) == slot
            ]
        return sorted(due, key=lambda reminder: reminder.send_at)

    def claim(self, reminder: ScheduledReminder, message_id: str, now: datetime) -> bool:
        return self._change(
            reminder, status=ReminderStatus.QUEUED, message_id=message_id, updated_at=now
        )

    def skip(self, reminder: ScheduledReminder, reason: str, now: datetime) -> bool:
        return self._change(reminder, status=ReminderStatus.SKIPPED, reason=reason, updated_at=now)

    def move(self, reminder: ScheduledReminder, send_at: datetime) -> None:
        self._change(reminder, send_at=send_at)

    def watermark(self) -> str | None:
        with self.database.lock:
            return self.database.reminder_watermark

    def advance_watermark(self, slot: str) -> None:
        with self.database.lock:
            current = self.database.reminder_watermark
            if current is None or current < slot:
                self.database.reminder_watermark = slot

    def _change(self, reminder: ScheduledReminder, **changes: Any) -> bool:
        with self.database.lock:
            return _change_if_scheduled(
                self.database.reminders, reminder.id, reminder.send_at, **changes
            )


class InMemoryNotificationStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, external_id: str) -> Notification | None:
        with self.database.lock:
            return copy.deepcopy(self.database.notifications.get(external_id))

    def add(self, notification: Notification) -> bool:
        with self.database.lock:
            if notification.external_id in self.database.notifications:
                return False
            self.database.notifications[notification.external_id] = copy.deepcopy(notification)
            return True

    def due_in_slot(self, slot: str) -> list[Notification]:
        with self.database.lock:
            due = [
                copy.deepcopy(notification)
                for notification in self.database.notifications.values()
                if notification.status is NotificationStatus.SCHEDULED
                and slot_of(notification.send_at) == slot
            ]
        return sorted(due, key=lambda notification: notification.send_at)

    def claim(self, notification: Notification, message_id: str, now: datetime) -> bool:
        return self._change(notification, status=NotificationStatus.QUEUED, message_id=message_id)

    def move(self, notification: Notification, send_at: datetime) -> None:
        """Re-slot a scheduled notification whose slot passed outside the send window."""
        self._change(notification, send_at=send_at)

    def _change(self, notification: Notification, **changes: Any) -> bool:
        with self.database.lock:
            return _change_if_scheduled(
                self.database.notifications,
                notification.external_id,
                notification.send_at,
                **changes,
            )
