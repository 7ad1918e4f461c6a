"""Use case (scheduled every 15 minutes; also `civicchat reminders run --at ...`): hand the
reminders and scheduled notifications that are due to the bulk sender.

It reads only what is due: one Query per 15-minute slot on the sparse `due` indexes, from the
watermark (the last slot a run finished) to the slot of `at`. The watermark's own slot is read
again, so something planned into the current slot after a run (a reminder registered at 10:07,
to go out "now") is picked up by the next run instead of being lost. A missed run (an outage)
is caught up by the next one, at most `max_catch_up` back.

For each due reminder:
- expired (or its next chance to go out would be after it expires) → skipped "expired",
  logged, never sent late;
- outside the send window at `at` (night, or a weekend for `weekdays_only` kinds) → moved to
  the next window opening;
- else a BULK template message is stored (`add_outbound`, idempotent: its id is derived from
  the reminder and the due date), the reminder is claimed (scheduled → queued, conditional)
  and the message queued. Running twice sends once: the second run finds nothing scheduled,
  and a run that loses a claim race does not queue. A run that dies between storing and
  queueing leaves a queued message that `requeue_stalled_outbound` queues again.
The sender skips residents who opted out and paces bulk sends under Meta's limits.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.messages import Priority, StoredMessage
from chalicelib.domain.obligations import (
    Notification,
    Obligation,
    ObligationState,
    ScheduledReminder,
    notification_message_id,
    reminder_button_payload,
)
from chalicelib.domain.reminder_plan import (
    SLOT,
    DueReminder,
    MissingParameterError,
    TemplateNotApprovedError,
    UnknownKindError,
    in_send_window,
    next_window_opening,
    reminder_kind,
    reminder_message_id,
    reminder_template,
    replaced_reason,
    slot_of,
    slots_from,
    template_for,
)
from chalicelib.domain.replies import TemplateReply
from chalicelib.observability import logger
from chalicelib.services.ports import (
    MessageStore,
    NotificationStore,
    ObligationStore,
    OutboundQueue,
    ReminderSchedule,
)
from chalicelib.services.queued_replies import queued_message

DEFAULT_MAX_CATCH_UP = timedelta(days=2)
SENT_BY = "reminders"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderRun:
    """What one run did. `queued` counts reminders and notifications handed to the sender."""

    at: datetime
    slots: int  # slots read (one Query each on both indexes)
    first_slot: str
    last_slot: str
    items_read: int  # items the due Queries returned (+ any obligation read by key)
    queued: int = 0
    skipped: int = 0
    moved: int = 0  # outside the send window: re-slotted to the next opening
    lost_claims: int = 0  # another run claimed them first
    failed: int = 0  # notifications that cannot be sent as configured (left scheduled)
    skipped_by_reason: Mapping[str, int] = field(default_factory=dict)
    not_caught_up: int = 0  # slots older than max_catch_up that were not read

    def summary(self) -> str:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(self.skipped_by_reason.items()))
        return (
            f"slots {self.first_slot}..{self.last_slot} ({self.slots}), "
            f"items read {self.items_read}, queued {self.queued}, "
            f"skipped {self.skipped}" + (f" ({reasons})" if reasons else "") + ", "
            f"moved {self.moved}, lost claims {self.lost_claims}, failed {self.failed}, "
            f"slots not caught up {self.not_caught_up}"
        )


def slots_to_read(
    at: datetime, watermark: str | None, max_catch_up: timedelta
) -> tuple[list[str], int]:
    """(the slots a run at `at` reads, how many older ones it leaves unread).

    From the watermark (included, see the module's docstring) — or the slot before `at`'s on
    a first run — to `at`'s slot, but not before `at - max_catch_up`. A run at a moment before
    the watermark (an operator re-running a window) reads that moment's slot and the one before.
    """
    last = slot_of(at)
    previous = slot_of(at - SLOT)
    first = watermark or previous
    if first > last:
        first = previous
    floor = slot_of(at - max_catch_up)
    not_caught_up = 0
    if first < floor:
        not_caught_up = len(slots_from(first, floor)) - 1
        first = floor
    return slots_from(first, last), not_caught_up


def run_reminders(
    at: datetime,
    *,
    definition: MunicipalityDefinition,
    schedule: ReminderSchedule,
    notifications: NotificationStore,
    obligations: ObligationStore,
    messages: MessageStore,
    outbound: OutboundQueue,
    max_catch_up: timedelta = DEFAULT_MAX_CATCH_UP,
    now: datetime | None = None,
) -> ReminderRun:
    """Send what is due at `at`. `now` (default `at`) stamps what is written: an operator
    re-running a past window passes the real time."""
    job = _Job(
        at=at,
        now=now or at,
        definition=definition,
        schedule=schedule,
        notifications=notifications,
        obligations=obligations,
        messages=messages,
    )
    slots, not_caught_up = slots_to_read(at, schedule.watermark(), max_catch_up)
    if not_caught_up:
        logger.warning(
            "reminder slots older than the catch-up limit were not read",
            extra={"slots": not_caught_up, "from": slots[0]},
        )
    for slot in slots:
        queued = [
            message_id
            for reminder in schedule.due_in_slot(slot)
            if (message_id := job.reminder(reminder)) is not None
        ]
        queued += [
            message_id
            for notification in notifications.due_in_slot(slot)
            if (message_id := job.notification(notification)) is not None
        ]
        if queued:
            outbound.enqueue(queued, Priority.BULK)
    schedule.advance_watermark(slots[-1])
    run = ReminderRun(
        at=at,
        slots=len(slots),
        first_slot=slots[0],
        last_slot=slots[-1],
        items_read=job.items_read,
        queued=job.queued,
        skipped=sum(job.skipped.values()),
        moved=job.moved,
        lost_claims=job.lost_claims,
        failed=job.failed,
        skipped_by_reason=dict(job.skipped),
        not_caught_up=not_caught_up,
    )
    logger.info("reminders run", extra={"run": run.summary()})
    return run


@dataclass
class _Job:
    at: datetime
    now: datetime
    definition: MunicipalityDefinition
    schedule: ReminderSchedule
    notifications: NotificationStore
    obligations: ObligationStore
    messages: MessageStore
    items_read: int = 0
    queued: int = 0
    moved: int = 0
    lost_claims: int = 0
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def reminder(self, reminder: ScheduledReminder) -> str | None:
        """The id of the message queued for `reminder`, or None."""
        self.items_read += 1
        obligation = self._obligation_of(reminder)
        if obligation is None:
            return self._skip(reminder, "cancelled")
        if obligation.state is not ObligationState.ACTIVE:
            return self._skip(reminder, replaced_reason(obligation))
        try:
            kind = reminder_kind(self.definition, obligation.kind)
        except UnknownKindError:
            return self._skip(reminder, "unknown_kind")
        if self.at >= reminder.expires_at:
            return self._skip(reminder, "expired")
        if not in_send_window(self.definition, self.at, weekdays_only=kind.weekdays_only):
            opening = next_window_opening(
                self.definition, self.at, weekdays_only=kind.weekdays_only
            )
            if opening >= reminder.expires_at:
                return self._skip(reminder, "expired")
            self.schedule.move(reminder, opening)
            self.moved += 1
            return None
        reply = self._reminder_template(reminder, obligation)
        if reply is None:
            return None
        message_id = reminder_message_id(reminder, obligation.due_date)
        self.messages.add_outbound(
            [template_message(self.definition, message_id, reply, obligation, self.now)]
        )
        if not self.schedule.claim(reminder, message_id, self.now):
            self.lost_claims += 1
            return None
        self.queued += 1
        return message_id

    def notification(self, notification: Notification) -> str | None:
        self.items_read += 1
        kind = self.definition.notifications.get(notification.kind)
        if kind is None:
            return self._fail(notification, "unknown notification kind")
        if not in_send_window(self.definition, self.at):
            self.notifications.move(notification, next_window_opening(self.definition, self.at))
            self.moved += 1
            return None
        try:
            reply = template_for(
                self.definition,
                kind.template,
                kind.params,
                notification.language,
                notification.params,
            )
        except (MissingParameterError, TemplateNotApprovedError) as error:
            return self._fail(notification, str(error))
        message_id = notification_message_id(notification.external_id)
        self.messages.add_outbound(
            [template_message(self.definition, message_id, reply, notification, self.now)]
        )
        if not self.notifications.claim(notification, message_id, self.now):
            self.lost_claims += 1
            return None
        self.queued += 1
        return message_id

    def _obligation_of(self, reminder: ScheduledReminder) -> Obligation | None:
        if isinstance(reminder, DueReminder):
            return reminder.obligation  # the due index's copy: no second read
        self.items_read += 1
        return self.obligations.get(reminder.external_id)

    def _reminder_template(
        self, reminder: ScheduledReminder, obligation: Obligation
    ) -> TemplateReply | None:
        try:
            return reminder_template(self.definition, obligation)
        except MissingParameterError as error:
            logger.error(
                "reminder not sent: a template parameter is missing",
                extra={"reminder": reminder.id, "parameter": error.name},
            )
            self._skip(reminder, "missing_parameter")
        except TemplateNotApprovedError as error:
            logger.error(
                "reminder not sent: template not approved",
                extra={"reminder": reminder.id, "error": str(error)},
            )
            self._skip(reminder, "template_not_approved")
        return None

    def _skip(self, reminder: ScheduledReminder, reason: str) -> None:
        if not self.schedule.skip(reminder, reason, self.now):
            self.lost_claims += 1  # another run (or a new plan) changed it first
            return None
        self.skipped[reason] += 1
        if reason == "expired":
            logger.warning(
                "reminder expired before it could be sent",
                extra={"reminder": reminder.id, "expired_at": reminder.expires_at.isoformat()},
            )
        return None

    def _fail(self, notification: Notification, error: str) -> None:
        # A notification has no skipped state: it stays scheduled (and out of later runs, its
        # slot being past) for an operator to look at.
        logger.error(
            "notification not sent",
            extra={"notification": notification.external_id, "error": error},
        )
        self.failed += 1
        return None


def template_message(
    definition: MunicipalityDefinition,
    message_id: str,
    reply: TemplateReply,
    source: Obligation | Notification,
    now: datetime,
) -> StoredMessage:
    """The BULK message of a reminder or notification, as stored for the bulk sender. Its
    template's quick-reply buttons, if any, carry payloads naming this message, so a tap comes
    back to it."""
    template = definition.templates.get(reply.name)
    if template is not None and template.buttons:
        payloads = tuple(
            reminder_button_payload(message_id, index) for index in range(len(template.buttons))
        )
        reply = dataclasses.replace(reply, button_payloads=payloads)
    return queued_message(
        message_id,
        reply,
        resident_key=source.resident_key,
        recipient=recipient(source.resident_key, source.phone),
        conversation_id=None,
        priority=Priority.BULK,
        sent_by=SENT_BY,
        now=now,
    )


def recipient(resident_key: str, phone: str) -> str:
    """The wa_id to send to: the E.164 digits without "+"."""
    if resident_key.startswith("wa:"):
        return resident_key.removeprefix("wa:")
    return "".join(ch for ch in phone if ch.isdigit())
