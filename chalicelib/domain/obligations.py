"""What back-office systems register: obligations with a due date (a licence to renew, a tax to
pay) whose reminders civicchat sends, and one-off notifications. Plain data; the planning rules
are in `domain.reminder_plan`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class ObligationState(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"  # the back office withdrew it
    RENEWED = "renewed"  # done: pending reminders stop


class ReminderStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its slot (only these are in the due index)
    QUEUED = "queued"  # handed to the outbound pipeline as message `message_id`
    SKIPPED = "skipped"  # never sent: `reason` says why (expired, superseded, cancelled, ...)


@dataclass(frozen=True, slots=True, kw_only=True)
class Obligation:
    external_id: str  # the back office's own id; registering it again updates it
    kind: str  # a `reminders:` kind of the config
    phone: str  # E.164, "+351912345678"
    resident_key: str  # "wa:351912345678"
    language: str
    due_date: date
    params: dict[str, str] = field(default_factory=dict)
    state: ObligationState = ObligationState.ACTIVE
    created_at: datetime
    updated_at: datetime
    registered_by: str  # the API key's name


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledReminder:
    external_id: str
    offset_days: int  # -42, -7, +3
    send_at: datetime  # UTC, inside the send window
    expires_at: datetime  # UTC: after this it is skipped, never sent late
    status: ReminderStatus = ReminderStatus.SCHEDULED
    message_id: str | None = None  # the outbound message, once queued
    reason: str | None = None  # why it was skipped
    updated_at: datetime

    @property
    def id(self) -> str:
        return reminder_id(self.external_id, self.offset_days)


class NotificationStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """A one-off template message (document ready, payment receipt), optionally scheduled."""

    external_id: str
    kind: str  # a `notifications:` kind of the config
    phone: str
    resident_key: str
    language: str
    params: dict[str, str] = field(default_factory=dict)
    send_at: datetime  # UTC; now when not scheduled
    status: NotificationStatus = NotificationStatus.SCHEDULED
    message_id: str | None = None
    created_at: datetime
    registered_by: str


def reminder_id(external_id: str, offset_days: int) -> str:
    return f"rem|{external_id}|{offset_days:+d}"


def notification_message_id(external_id: str) -> str:
    return f"ntf|{external_id}"


# Quick-reply buttons of reminder templates carry "reminder|<message id>|<button index>" as their
# payload, so that a resident's tap ("More info") reaches a person with the reminder it answers.
REMINDER_BUTTON_PREFIX = "reminder|"


def reminder_button_payload(message_id: str, index: int) -> str:
    return f"{REMINDER_BUTTON_PREFIX}{message_id}|{index}"
