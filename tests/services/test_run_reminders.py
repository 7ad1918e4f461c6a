"""The reminders job, in memory: what is due goes out once, as an approved template in the
obligation's language, in the send window; missed runs catch up; expired reminders are skipped
and reported; scheduled notifications ride along."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.memory_reminder_stores import (
    InMemoryNotificationStore,
    InMemoryObligationStore,
    InMemoryReminderSchedule,
)
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority
from chalicelib.domain.obligations import (
    Notification,
    NotificationStatus,
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
    notification_message_id,
)
from chalicelib.domain.reminder_plan import as_scheduled, plan_reminders, reminder_message_id
from chalicelib.domain.replies import TemplateReply, reply_from_dict
from chalicelib.services.run_reminders import ReminderRun, run_reminders, slots_to_read
from tests.services.conftest import World

REGISTERED = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DUE = date(2026, 12, 15)  # tax_payment: -14d is Tuesday 1 December, 09:00 in Lisbon (= UTC)
WINDOW_OPENS = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Reminders:
    """The job's stores on the world's database."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.obligations = InMemoryObligationStore(world.database)
        self.schedule = InMemoryReminderSchedule(world.database)
        self.notifications = InMemoryNotificationStore(world.database)

    def register(
        self, external_id: str = "TAX-1", *, now: datetime = REGISTERED, **changes: Any
    ) -> Obligation:
        obligation = Obligation(
            external_id=external_id,
            kind="tax_payment",
            phone="+351912345678",
            resident_key="wa:351912345678",
            language="pt",
            due_date=DUE,
            params={"name": "Ana", "amount": "312,40 €", "payment_url": "https://pay/1"},
            created_at=now,
            updated_at=now,
            registered_by="finance",
        )
        obligation = dataclasses.replace(obligation, **changes)
        old = [r for r in self.obligations.reminders_of(external_id)]
        plan = plan_reminders(obligation, self.world.definition, now)
        self.obligations.save(obligation, plan, replaced=old)
        return obligation

    def run(self, at: datetime, **kwargs: Any) -> ReminderRun:
        return run_reminders(
            at,
            definition=self.world.definition,
            schedule=kwargs.pop("schedule", self.schedule),
            notifications=self.notifications,
            obligations=self.obligations,
            messages=self.world.messages,
            outbound=self.world.outbound,
            **kwargs,
        )

    def reminder(self, external_id: str, offset: int) -> ScheduledReminder:
        return next(
            r for r in self.obligations.reminders_of(external_id) if r.offset_days == offset
        )


@pytest.fixture
def jobs(world: World) -> Reminders:
    return Reminders(world)


def sent_templates(world: World) -> list[tuple[str, TemplateReply]]:
    world.send_all()
    return [(to, reply) for to, reply in world.sender.sent if isinstance(reply, TemplateReply)]


# --- sending ----------------------------------------------------------------------------------


def test_a_due_reminder_becomes_one_bulk_template_message(world: World, jobs: Reminders) -> None:
    jobs.register()

    run = jobs.run(WINDOW_OPENS)

    assert (run.queued, run.items_read, run.skipped, run.moved) == (1, 1, 0, 0)
    message_id = reminder_message_id(jobs.reminder("TAX-1", -14), DUE)
    message = world.messages.get(message_id)
    assert message is not None
    assert (
        message.direction,
        message.priority,
        message.sent_by,
        message.recipient,
        message.conversation_id,
        message.resident_key,
        message.status,
    ) == (
        Direction.OUTBOUND,
        Priority.BULK,
        "reminders",
        "351912345678",
        None,
        "wa:351912345678",
        DeliveryStatus.QUEUED,
    )
    assert reply_from_dict(message.payload) == TemplateReply(
        name="payment_due",
        language="pt_PT",  # Meta's code for the town's Portuguese: there is no bare "pt"
        body_params=("Ana", "312,40 €", "15/12/2026", "https://pay/1"),
    )
    assert world.outbound.ids(Priority.BULK) == [message_id]
    reminder = jobs.reminder("TAX-1", -14)
    assert (reminder.status, reminder.message_id) == (ReminderStatus.QUEUED, message_id)
    assert sent_templates(world) == [("351912345678", reply_from_dict(message.payload))]


def test_each_resident_gets_their_language(world: World, jobs: Reminders) -> None:
    jobs.register("TAX-PT")
    jobs.register("TAX-ES", language="es", phone="+34600111222", resident_key="wa:34600111222")

    jobs.run(WINDOW_OPENS)

    assert sorted((to, reply.language) for to, reply in sent_templates(world)) == [
        ("34600111222", "es"),
        ("351912345678", "pt_PT"),
    ]


def test_running_twice_sends_once(world: World, jobs: Reminders) -> None:
    jobs.register()

    first = jobs.run(WINDOW_OPENS)
    second = jobs.run(WINDOW_OPENS)
    third = jobs.run(WINDOW_OPENS + timedelta(minutes=15))

    assert (first.queued, second.queued, third.queued) == (1, 0, 0)
    assert (second.items_read, third.items_read) == (0, 0)
    assert len(sent_templates(world)) == 1


def test_a_lost_claim_queues_nothing(world: World, jobs: Reminders) -> None:
    jobs.register()

    class RacingSchedule(InMemoryReminderSchedule):
        def claim(self, reminder: ScheduledReminder, message_id: str, now: datetime) -> bool:
            super().claim(reminder, message_id, now)  # another run got there first
            return False

    run = jobs.run(WINDOW_OPENS, schedule=RacingSchedule(world.database))

    assert (run.queued, run.lost_claims) == (0, 1)
    assert world.outbound.ids() == []


def test_it_reads_only_the_slots_since_the_last_run(jobs: Reminders) -> None:
    jobs.register()
    jobs.schedule.advance_watermark("2026-12-01T08:30")

    run = jobs.run(WINDOW_OPENS)

    # 08:30 again (something may have been planned into it after that run), 08:45, 09:00.
    assert (run.first_slot, run.last_slot, run.slots) == ("2026-12-01T08:30", "2026-12-01T09:00", 3)
    assert jobs.schedule.watermark() == "2026-12-01T09:00"


def test_a_reminder_planned_into_the_current_slot_after_a_run_is_not_lost(
    world: World, jobs: Reminders
) -> None:
    jobs.run(utc("2026-12-01T10:05"))
    # Registered at 10:07 with the -14d reminder's time passed: it goes out "now", slot 10:00.
    jobs.register(now=utc("2026-12-01T10:07"))
    assert jobs.reminder("TAX-1", -14).send_at == utc("2026-12-01T10:07")

    run = jobs.run(utc("2026-12-01T10:20"))

    assert run.queued == 1
    assert len(sent_templates(world)) == 1


def test_a_missed_run_is_caught_up(world: World, jobs: Reminders) -> None:
    jobs.register()
    jobs.run(utc("2026-12-01T08:00"))  # then an outage until 11:00

    run = jobs.run(utc("2026-12-01T11:00"))

    assert (run.queued, run.slots) == (1, 13)
    assert len(sent_templates(world)) == 1


def test_catching_up_stops_at_the_limit(jobs: Reminders) -> None:
    jobs.register()
    jobs.run(utc("2026-11-30T08:00"))

    run = jobs.run(utc("2026-12-03T10:00"), max_catch_up=timedelta(hours=12))

    assert run.first_slot == "2026-12-02T22:00"
    assert run.queued == 0
    assert run.not_caught_up == 4 * (2 * 24 + 14)  # 11-30 08:00 … 12-02 21:45, unread
    assert jobs.reminder("TAX-1", -14).status is ReminderStatus.SCHEDULED


def test_an_expired_reminder_is_skipped_and_reported_not_sent_late(
    world: World, jobs: Reminders
) -> None:
    jobs.register()
    jobs.run(utc("2026-12-14T08:00"))  # -14d went out; then an outage over -1d and the due date
    world.send_all()
    world.sender.sent.clear()

    run = jobs.run(utc("2026-12-16T07:00"))

    assert (run.queued, run.skipped, dict(run.skipped_by_reason)) == (0, 1, {"expired": 1})
    reminder = jobs.reminder("TAX-1", -1)
    assert (reminder.status, reminder.reason) == (ReminderStatus.SKIPPED, "expired")
    assert sent_templates(world) == []


# --- the send window --------------------------------------------------------------------------


def test_never_at_night_a_caught_up_reminder_waits_for_the_morning(
    world: World, jobs: Reminders
) -> None:
    jobs.register()
    jobs.run(utc("2026-12-01T08:00"))

    night = jobs.run(utc("2026-12-01T21:30"))  # back from an outage at 21:30

    assert (night.queued, night.moved) == (0, 1)
    assert jobs.reminder("TAX-1", -14).send_at == utc("2026-12-02T09:00")
    assert sent_templates(world) == []
    assert jobs.run(utc("2026-12-02T08:45")).queued == 0
    assert jobs.run(utc("2026-12-02T09:00")).queued == 1
    assert len(sent_templates(world)) == 1


def test_a_weekdays_only_kind_waits_for_monday(jobs: Reminders) -> None:
    # Due Friday 18 December: -14d is Friday 4 December.
    jobs.register(due_date=date(2026, 12, 18))
    jobs.run(utc("2026-12-04T08:00"))

    saturday = jobs.run(utc("2026-12-05T10:00"))  # the Friday run was missed

    assert (saturday.queued, saturday.moved) == (0, 1)
    assert jobs.reminder("TAX-1", -14).send_at == utc("2026-12-07T09:00")
    assert jobs.run(utc("2026-12-07T09:00")).queued == 1


def test_a_reminder_that_could_only_go_out_after_it_expires_is_skipped(jobs: Reminders) -> None:
    jobs.register()
    jobs.run(utc("2026-12-14T08:00"))

    run = jobs.run(utc("2026-12-15T21:00"))  # the due date's evening: next window is too late

    assert dict(run.skipped_by_reason) == {"expired": 1}


# --- what cannot be sent ----------------------------------------------------------------------


def test_a_reminder_missing_a_parameter_is_skipped(world: World, jobs: Reminders) -> None:
    jobs.register(params={"name": "Ana", "amount": "1 €"})  # no payment_url

    run = jobs.run(WINDOW_OPENS)

    assert (run.queued, dict(run.skipped_by_reason)) == (0, {"missing_parameter": 1})
    assert world.outbound.ids() == []


def test_a_kind_gone_from_the_config_is_skipped(
    world: World, jobs: Reminders, definition: MunicipalityDefinition
) -> None:
    jobs.register()
    assert definition.reminders is not None
    kinds = {k: v for k, v in definition.reminders.kinds.items() if k != "tax_payment"}
    world.definition = dataclasses.replace(
        definition, reminders=dataclasses.replace(definition.reminders, kinds=kinds)
    )

    run = jobs.run(WINDOW_OPENS)

    assert dict(run.skipped_by_reason) == {"unknown_kind": 1}


def test_without_the_obligations_copy_it_is_read_by_key(world: World, jobs: Reminders) -> None:
    jobs.register()

    class PlainSchedule(InMemoryReminderSchedule):
        def due_in_slot(self, slot: str) -> list[ScheduledReminder]:
            return [as_scheduled(r) for r in super().due_in_slot(slot)]

    run = jobs.run(WINDOW_OPENS, schedule=PlainSchedule(world.database))

    assert (run.queued, run.items_read) == (1, 2)


def test_a_renewed_obligations_stale_entry_is_skipped(world: World, jobs: Reminders) -> None:
    obligation = jobs.register()

    class StaleSchedule(InMemoryReminderSchedule):
        def due_in_slot(self, slot: str) -> list[ScheduledReminder]:
            return [as_scheduled(r) for r in super().due_in_slot(slot)]

    world.database.obligations["TAX-1"] = dataclasses.replace(
        obligation, state=ObligationState.RENEWED
    )
    run = jobs.run(WINDOW_OPENS, schedule=StaleSchedule(world.database))

    assert dict(run.skipped_by_reason) == {"renewed": 1}


def test_renewing_stops_the_pending_reminders(world: World, jobs: Reminders) -> None:
    obligation = jobs.register()
    renewed = dataclasses.replace(obligation, state=ObligationState.RENEWED)
    jobs.obligations.save(renewed, [], replaced=jobs.obligations.reminders_of("TAX-1"))

    runs = [jobs.run(WINDOW_OPENS), jobs.run(utc("2026-12-14T09:00"))]

    assert [run.items_read for run in runs] == [0, 0]
    assert sent_templates(world) == []


def test_a_resident_who_opted_out_is_not_messaged(world: World, jobs: Reminders) -> None:
    jobs.register()
    world.residents.set_opted_out("wa:351912345678", True, REGISTERED, wa_id="351912345678")

    assert jobs.run(WINDOW_OPENS).queued == 1

    assert sent_templates(world) == []
    message = world.messages.get(reminder_message_id(jobs.reminder("TAX-1", -14), DUE))
    assert message is not None and message.status is DeliveryStatus.SKIPPED


# --- scheduled notifications ------------------------------------------------------------------


def a_notification(send_at: datetime, **changes: Any) -> Notification:
    notification = Notification(
        external_id="DOC-7",
        kind="document_ready",
        phone="+34600111222",
        resident_key="wa:34600111222",
        language="es",
        params={"name": "Ana", "document": "DNI", "office": "Plaza Mayor 1"},
        send_at=send_at,
        created_at=REGISTERED,
        registered_by="registry",
    )
    return dataclasses.replace(notification, **changes)


def test_a_scheduled_notification_goes_out_in_its_slot_once(world: World, jobs: Reminders) -> None:
    jobs.notifications.add(a_notification(utc("2026-12-01T10:10")))

    early = jobs.run(utc("2026-12-01T09:50"))
    due = jobs.run(utc("2026-12-01T10:10"))
    again = jobs.run(utc("2026-12-01T10:25"))

    assert (early.queued, due.queued, again.queued) == (0, 1, 0)
    assert sent_templates(world) == [
        (
            "34600111222",
            TemplateReply(
                name="document_ready", language="es", body_params=("Ana", "DNI", "Plaza Mayor 1")
            ),
        )
    ]
    stored = jobs.notifications.get("DOC-7")
    assert stored is not None
    assert (stored.status, stored.message_id) == (
        NotificationStatus.QUEUED,
        notification_message_id("DOC-7"),
    )
    message = world.messages.get(notification_message_id("DOC-7"))
    assert message is not None and (message.priority, message.sent_by) == (
        Priority.BULK,
        "reminders",
    )


def test_a_notification_scheduled_at_night_waits_for_the_window(
    world: World, jobs: Reminders
) -> None:
    jobs.notifications.add(a_notification(utc("2026-12-01T23:00")))

    night = jobs.run(utc("2026-12-01T23:00"))

    assert (night.queued, night.moved) == (0, 1)
    assert jobs.run(utc("2026-12-02T09:00")).queued == 1
    assert len(sent_templates(world)) == 1


# --- slots ------------------------------------------------------------------------------------


def test_slots_to_read() -> None:
    at = utc("2026-12-01T09:05")
    two_days = timedelta(days=2)

    assert slots_to_read(at, None, two_days) == (["2026-12-01T08:45", "2026-12-01T09:00"], 0)
    assert slots_to_read(at, "2026-12-01T09:00", two_days) == (["2026-12-01T09:00"], 0)
    # An operator re-running an earlier window: that slot and the one before.
    assert slots_to_read(at, "2026-12-05T09:00", two_days) == (
        ["2026-12-01T08:45", "2026-12-01T09:00"],
        0,
    )
    slots, not_caught_up = slots_to_read(at, "2026-11-20T00:00", two_days)
    assert (slots[0], len(slots), not_caught_up) == ("2026-11-29T09:00", 193, 9 * 96 + 36)


def test_a_reminders_buttons_name_the_message_they_answer(world: World, jobs: Reminders) -> None:
    templates = dict(world.definition.templates)
    templates["payment_due"] = dataclasses.replace(
        templates["payment_due"], buttons=("More info", "Pay")
    )
    world.definition = dataclasses.replace(world.definition, templates=templates)
    jobs.register()
    jobs.run(WINDOW_OPENS)
    message_id = reminder_message_id(jobs.reminder("TAX-1", -14), DUE)
    reply = reply_from_dict(world.messages.get(message_id).payload)
    assert reply.button_payloads == (f"reminder|{message_id}|0", f"reminder|{message_id}|1")
