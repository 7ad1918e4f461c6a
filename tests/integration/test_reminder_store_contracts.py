"""Contract tests for the obligation store, the reminder schedule (the due index) and the
notification store: the same cases run on the in-memory twins and on DynamoDB in moto's server
(a fresh stage per module, provisioned from the real template)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.dynamodb_reminder_stores import (
    DynamoDBNotificationStore,
    DynamoDBObligationStore,
    DynamoDBReminderSchedule,
)
from chalicelib.adapters.memory_reminder_stores import (
    InMemoryNotificationStore,
    InMemoryObligationStore,
    InMemoryReminderSchedule,
)
from chalicelib.adapters.memory_stores import InMemoryDatabase
from chalicelib.adapters.store_rules import (
    notification_expiry,
    obligation_expiry,
    reminder_expiry,
)
from chalicelib.domain.bot.definition import Period, Retention
from chalicelib.domain.obligations import (
    Notification,
    NotificationStatus,
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
)
from chalicelib.domain.reminder_plan import (
    DueReminder,
    TooManyRemindersError,
    as_scheduled,
    slot_of,
)
from chalicelib.resource_names import ResourceNames
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2026, 6, 1, 8, 0, 0, 123000, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def a_day() -> date:
    """A day of its own, so a test's slots hold only its reminders even in a shared table."""
    return date(2040, 1, 1) + timedelta(days=random.randrange(40 * 365))


def at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


def an_obligation(due: date | None = None, **changes: Any) -> Obligation:
    obligation = Obligation(
        external_id=unique("LIC-"),
        kind="driving_licence",
        phone="+351912345678",
        resident_key="wa:351912345678",
        language="pt",
        due_date=due or a_day(),
        params={"name": "Ana Sousa", "renewal_url": "https://example.org/r?x=1&y=ç"},
        created_at=NOW,
        updated_at=NOW,
        registered_by="imt",
    )
    return replace(obligation, **changes)


def a_plan(obligation: Obligation, offsets: tuple[int, ...] = (-42, -7)) -> list[ScheduledReminder]:
    return [
        ScheduledReminder(
            external_id=obligation.external_id,
            offset_days=offset,
            send_at=at_nine(obligation.due_date + timedelta(days=offset)),
            expires_at=datetime.combine(obligation.due_date + timedelta(days=1), time(0), UTC),
            updated_at=NOW,
        )
        for offset in offsets
    ]


def a_notification(**changes: Any) -> Notification:
    notification = Notification(
        external_id=unique("DOC-"),
        kind="document_ready",
        phone="+34600111222",
        resident_key="wa:34600111222",
        language="es",
        params={"name": "Ana", "document": "DNI", "office": "Plaza Mayor 1"},
        send_at=at_nine(a_day()) + timedelta(minutes=20),
        created_at=NOW,
        registered_by="registry",
    )
    return replace(notification, **changes)


def mine(items: list[Any], *ids: str) -> list[Any]:
    """Only the given external ids (DynamoDB's tables are shared by the module's tests)."""
    return [item for item in items if item.external_id in ids]


@dataclass
class Stores:
    obligations: Any
    schedule: Any
    notifications: Any


# --- the contract -----------------------------------------------------------------------------


class ReminderStoreContract:
    @pytest.fixture
    def stores(self) -> Stores:
        raise NotImplementedError

    # obligations

    def test_an_unknown_obligation_is_nothing(self, stores: Stores) -> None:
        assert stores.obligations.get(unique("x")) is None
        assert stores.obligations.reminders_of(unique("x")) == []

    def test_an_obligation_and_its_plan_are_saved_together(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation)

        stores.obligations.save(obligation, plan)

        assert stores.obligations.get(obligation.external_id) == obligation
        assert stores.obligations.reminders_of(obligation.external_id) == plan

    def test_the_due_index_holds_scheduled_reminders_by_slot(self, stores: Stores) -> None:
        obligation = an_obligation()
        early, late = a_plan(obligation)
        skipped = replace(
            a_plan(obligation, (-1,))[0], status=ReminderStatus.SKIPPED, reason="expired"
        )
        stores.obligations.save(obligation, [early, late, skipped])

        due = mine(stores.schedule.due_in_slot(slot_of(late.send_at)), obligation.external_id)

        assert [as_scheduled(reminder) for reminder in due] == [late]
        assert isinstance(due[0], DueReminder)
        assert due[0].obligation == obligation  # sent from this one read
        assert (
            mine(stores.schedule.due_in_slot(slot_of(skipped.send_at)), obligation.external_id)
            == []
        )

    def test_a_slot_is_fifteen_minutes_in_send_order(self, stores: Stores) -> None:
        day = a_day()
        first, second, third = (an_obligation(day) for _ in range(3))
        stores.obligations.save(
            first, [replace(a_plan(first, (0,))[0], send_at=at_nine(day) + timedelta(minutes=14))]
        )
        stores.obligations.save(second, [replace(a_plan(second, (0,))[0], send_at=at_nine(day))])
        stores.obligations.save(
            third, [replace(a_plan(third, (0,))[0], send_at=at_nine(day) + timedelta(minutes=15))]
        )

        due = stores.schedule.due_in_slot(slot_of(at_nine(day)))

        ids = (first.external_id, second.external_id, third.external_id)
        assert [r.external_id for r in mine(due, *ids)] == [second.external_id, first.external_id]

    def test_cancelling_skips_the_pending_reminders(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation)
        stores.obligations.save(obligation, plan)
        cancelled = replace(
            obligation, state=ObligationState.CANCELLED, updated_at=NOW + timedelta(hours=1)
        )

        stores.obligations.save(cancelled, [], replaced=plan)

        assert stores.obligations.get(obligation.external_id) == cancelled
        reminders = stores.obligations.reminders_of(obligation.external_id)
        assert [(r.status, r.reason) for r in reminders] == [
            (ReminderStatus.SKIPPED, "cancelled")
        ] * 2
        for reminder in plan:
            assert (
                mine(stores.schedule.due_in_slot(slot_of(reminder.send_at)), obligation.external_id)
                == []
            )

    def test_a_new_due_date_replaces_the_plan(self, stores: Stores) -> None:
        obligation = an_obligation()
        old_plan = a_plan(obligation, (-42, -7, 3))
        stores.obligations.save(obligation, old_plan)
        moved = replace(obligation, due_date=a_day(), updated_at=NOW + timedelta(days=1))
        new_plan = a_plan(moved, (-42, -7))

        stores.obligations.save(moved, new_plan, replaced=old_plan)

        reminders = stores.obligations.reminders_of(obligation.external_id)
        assert reminders[:2] == new_plan
        assert (reminders[2].id, reminders[2].status, reminders[2].reason) == (
            old_plan[2].id,
            ReminderStatus.SKIPPED,
            "superseded",
        )
        for reminder in old_plan:
            assert (
                mine(stores.schedule.due_in_slot(slot_of(reminder.send_at)), obligation.external_id)
                == []
            )
        due = stores.schedule.due_in_slot(slot_of(new_plan[0].send_at))
        assert [r.obligation.due_date for r in mine(due, obligation.external_id)] == [
            moved.due_date
        ]

    def test_a_reminder_sent_for_this_due_date_is_never_planned_again(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation)
        stores.obligations.save(obligation, plan)
        assert stores.schedule.claim(plan[0], "m-1", NOW)
        updated = replace(obligation, params={**obligation.params, "name": "Ana S."})

        stores.obligations.save(updated, a_plan(updated), replaced=plan)

        first, second = stores.obligations.reminders_of(obligation.external_id)
        assert (first.status, first.message_id) == (ReminderStatus.QUEUED, "m-1")
        assert second == plan[1]
        assert stores.obligations.get(obligation.external_id) == updated

    def test_a_new_due_date_plans_a_sent_reminder_again(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation)
        stores.obligations.save(obligation, plan)
        stores.schedule.claim(plan[0], "m-1", NOW)
        next_year = replace(obligation, due_date=obligation.due_date + timedelta(days=365))

        stores.obligations.save(next_year, a_plan(next_year), replaced=[plan[1]])

        assert stores.obligations.reminders_of(obligation.external_id) == a_plan(next_year)

    def test_a_superseded_reminder_claimed_meanwhile_stays_claimed(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation, (-42, -7, 3))
        stores.obligations.save(obligation, plan)
        stores.schedule.claim(plan[2], "m-3", NOW)  # the job got there between read and save
        cancelled = replace(obligation, state=ObligationState.RENEWED)

        stores.obligations.save(cancelled, [], replaced=plan)

        reminders = stores.obligations.reminders_of(obligation.external_id)
        assert [r.status for r in reminders] == [
            ReminderStatus.SKIPPED,
            ReminderStatus.SKIPPED,
            ReminderStatus.QUEUED,
        ]
        assert stores.obligations.get(obligation.external_id) == cancelled

    def test_a_save_too_big_for_one_transaction_writes_nothing(self, stores: Stores) -> None:
        obligation = an_obligation()
        plan = a_plan(obligation, tuple(range(-100, 0)))

        with pytest.raises(TooManyRemindersError):
            stores.obligations.save(obligation, plan)

        assert stores.obligations.get(obligation.external_id) is None
        stores.obligations.save(obligation, plan[:99])  # 100 items fit
        assert stores.obligations.get(obligation.external_id) == obligation

    # the schedule

    def test_a_reminder_is_claimed_once_and_leaves_the_index(self, stores: Stores) -> None:
        obligation = an_obligation()
        reminder = a_plan(obligation)[0]
        stores.obligations.save(obligation, [reminder])

        assert stores.schedule.claim(reminder, "msg-1", NOW) is True
        assert stores.schedule.claim(reminder, "msg-2", NOW) is False

        (stored,) = stores.obligations.reminders_of(obligation.external_id)
        assert stored == replace(
            reminder, status=ReminderStatus.QUEUED, message_id="msg-1", updated_at=NOW
        )
        assert (
            mine(stores.schedule.due_in_slot(slot_of(reminder.send_at)), obligation.external_id)
            == []
        )

    def test_a_reminder_replanned_since_it_was_read_is_not_claimed(self, stores: Stores) -> None:
        obligation = an_obligation()
        reminder = a_plan(obligation)[0]
        stores.obligations.save(obligation, [reminder])
        replanned = replace(reminder, send_at=reminder.send_at + timedelta(days=3))
        stores.obligations.save(obligation, [replanned], replaced=[reminder])

        assert stores.schedule.claim(reminder, "msg-1", NOW) is False
        assert stores.schedule.skip(reminder, "expired", NOW) is False
        assert stores.obligations.reminders_of(obligation.external_id) == [replanned]

    def test_a_skipped_reminder_says_why_and_leaves_the_index(self, stores: Stores) -> None:
        obligation = an_obligation()
        reminder = a_plan(obligation)[0]
        stores.obligations.save(obligation, [reminder])

        assert stores.schedule.skip(reminder, "expired", NOW) is True
        assert stores.schedule.skip(reminder, "expired", NOW) is False
        assert stores.schedule.claim(reminder, "msg", NOW) is False

        (stored,) = stores.obligations.reminders_of(obligation.external_id)
        assert (stored.status, stored.reason, stored.updated_at) == (
            ReminderStatus.SKIPPED,
            "expired",
            NOW,
        )
        assert (
            mine(stores.schedule.due_in_slot(slot_of(reminder.send_at)), obligation.external_id)
            == []
        )

    def test_a_moved_reminder_is_due_in_its_new_slot(self, stores: Stores) -> None:
        obligation = an_obligation()
        reminder = a_plan(obligation)[0]
        stores.obligations.save(obligation, [reminder])
        later = reminder.send_at + timedelta(hours=11, minutes=30)

        stores.schedule.move(reminder, later)

        assert (
            mine(stores.schedule.due_in_slot(slot_of(reminder.send_at)), obligation.external_id)
            == []
        )
        (due,) = mine(stores.schedule.due_in_slot(slot_of(later)), obligation.external_id)
        assert as_scheduled(due) == replace(reminder, send_at=later)
        assert stores.schedule.claim(reminder, "stale", NOW) is False
        assert stores.schedule.claim(due, "msg", NOW) is True

    def test_the_watermark_only_moves_forward(self, stores: Stores) -> None:
        base = stores.schedule.watermark() or "2000-01-01T00:00"
        later = "9000-01-01T09:00"
        assert later > base

        stores.schedule.advance_watermark(later)
        stores.schedule.advance_watermark("8999-12-31T23:45")

        assert stores.schedule.watermark() == later
        stores.schedule.advance_watermark("9000-01-01T09:15")
        assert stores.schedule.watermark() == "9000-01-01T09:15"

    # notifications

    def test_a_notification_is_added_once(self, stores: Stores) -> None:
        notification = a_notification()

        assert stores.notifications.add(notification) is True
        assert stores.notifications.add(replace(notification, kind="receipt")) is False

        assert stores.notifications.get(notification.external_id) == notification
        assert stores.notifications.get(unique("x")) is None

    def test_a_scheduled_notification_is_due_in_its_slot_and_claimed_once(
        self, stores: Stores
    ) -> None:
        notification = a_notification()
        stores.notifications.add(notification)
        slot = slot_of(notification.send_at)

        assert mine(stores.notifications.due_in_slot(slot), notification.external_id) == [
            notification
        ]
        assert stores.notifications.claim(notification, "ntf|x", NOW) is True
        assert stores.notifications.claim(notification, "ntf|x", NOW) is False

        assert stores.notifications.get(notification.external_id) == replace(
            notification, status=NotificationStatus.QUEUED, message_id="ntf|x"
        )
        assert mine(stores.notifications.due_in_slot(slot), notification.external_id) == []

    def test_a_queued_notification_is_never_due(self, stores: Stores) -> None:
        notification = a_notification(status=NotificationStatus.QUEUED, message_id="ntf|y")
        stores.notifications.add(notification)

        assert (
            mine(
                stores.notifications.due_in_slot(slot_of(notification.send_at)),
                notification.external_id,
            )
            == []
        )

    def test_a_moved_notification_is_due_in_its_new_slot(self, stores: Stores) -> None:
        notification = a_notification()
        stores.notifications.add(notification)
        later = notification.send_at + timedelta(hours=12)

        stores.notifications.move(notification, later)

        assert (
            mine(
                stores.notifications.due_in_slot(slot_of(notification.send_at)),
                notification.external_id,
            )
            == []
        )
        (due,) = mine(stores.notifications.due_in_slot(slot_of(later)), notification.external_id)
        assert due == replace(notification, send_at=later)
        assert stores.notifications.claim(notification, "stale", NOW) is False


class TestInMemoryReminderStores(ReminderStoreContract):
    @pytest.fixture
    def stores(self) -> Stores:
        database = InMemoryDatabase()
        return Stores(
            InMemoryObligationStore(database),
            InMemoryReminderSchedule(database),
            InMemoryNotificationStore(database),
        )

    def test_callers_cannot_change_what_is_stored(self, stores: Stores) -> None:
        obligation = an_obligation()
        stores.obligations.save(obligation, a_plan(obligation))

        obligation.params["name"] = "changed"
        fetched = stores.obligations.get(obligation.external_id)
        assert fetched is not None
        fetched.params["name"] = "changed too"

        assert stores.obligations.get(obligation.external_id).params["name"] == "Ana Sousa"


# --- DynamoDB on moto -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    names = ResourceNames(unique("r")[:9])
    provision(moto_endpoint, names, REGION)
    return names


class TestDynamoDBReminderStores(ReminderStoreContract):
    @pytest.fixture
    def stores(self, moto_stage: ResourceNames, aws_env: str) -> Stores:
        tables = stage_tables(moto_stage, REGION)
        return Stores(
            DynamoDBObligationStore(tables, retention=lambda: None),
            DynamoDBReminderSchedule(tables),
            DynamoDBNotificationStore(tables, retention=lambda: None),
        )

    def test_items_expire_and_a_moved_obligation_keeps_no_old_phone(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        tables = stage_tables(moto_stage, REGION)
        retention = Retention(messages=Period(1, "months"))
        obligations = DynamoDBObligationStore(tables, retention=lambda: retention)
        notifications = DynamoDBNotificationStore(tables, retention=lambda: retention)
        obligation = an_obligation()
        plan = a_plan(obligation, (-42, -7))
        obligations.save(obligation, plan)
        assert DynamoDBReminderSchedule(tables).claim(plan[0], "m-sent", NOW)  # sent
        # The back office corrects the phone (same due date): the sent reminder stays as it
        # is, but its copy of the obligation now names the new phone only.
        moved = replace(obligation, phone="+351933000003", resident_key="wa:351933000003")
        old = obligations.reminders_of(obligation.external_id)
        obligations.save(moved, a_plan(moved, (-7,)), rewritten=old)

        items = [tables.reminders.get(reminder.id) for reminder in plan]
        assert [item.status for item in items] == ["queued", "scheduled"]
        assert {item.obligation["phone"] for item in items} == {moved.phone}
        stored = tables.obligations.get(obligation.external_id)
        assert stored.expires_at == obligation_expiry(moved, retention)
        assert items[1].purge_at == reminder_expiry(plan[1], moved, retention)
        notification = a_notification()
        assert notifications.add(notification)
        stored_notification = tables.notifications.get(notification.external_id)
        assert stored_notification.expires_at == notification_expiry(notification, retention)

        kept = DynamoDBObligationStore(tables, retention=lambda: None)  # everything kept
        kept.save(replace(moved, due_date=moved.due_date + timedelta(days=1)), [])
        assert tables.obligations.get(obligation.external_id).expires_at is None

    def test_request_budgets(self, moto_stage: ResourceNames, aws_env: str) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
        tables = stage_tables(moto_stage, REGION, dynamodb_client=client)
        obligations = DynamoDBObligationStore(tables, retention=lambda: None)
        schedule = DynamoDBReminderSchedule(tables)
        notifications = DynamoDBNotificationStore(tables, retention=lambda: None)
        obligation = an_obligation()
        plan = a_plan(obligation, (-42, -7, 3))
        notification = a_notification()

        def requests(action: Callable[[], object]) -> list[str]:
            operations.clear()
            action()
            return list(operations)

        assert requests(lambda: obligations.save(obligation, plan)) == ["TransactWriteItems"]
        assert requests(lambda: schedule.due_in_slot(slot_of(plan[0].send_at))) == ["Query"]
        assert requests(lambda: schedule.claim(plan[0], "m", NOW)) == ["UpdateItem"]
        assert requests(lambda: schedule.skip(plan[1], "expired", NOW)) == ["UpdateItem"]
        assert requests(lambda: schedule.move(plan[2], NOW)) == ["UpdateItem"]
        assert requests(lambda: schedule.watermark()) == ["GetItem"]
        assert requests(lambda: schedule.advance_watermark("2000-01-01T00:00")) == ["UpdateItem"]
        assert requests(lambda: obligations.get(obligation.external_id)) == ["GetItem"]
        assert requests(lambda: obligations.reminders_of(obligation.external_id)) == [
            "GetItem",
            "BatchGetItem",
        ]
        assert requests(lambda: notifications.add(notification)) == ["PutItem"]
        assert requests(lambda: notifications.due_in_slot(slot_of(notification.send_at))) == [
            "Query"
        ]
        assert requests(lambda: notifications.claim(notification, "n", NOW)) == ["UpdateItem"]
        cancelled = replace(obligation, state=ObligationState.CANCELLED)
        assert requests(lambda: obligations.save(cancelled, [], replaced=plan)) == [
            "TransactWriteItems",  # plan[0] and plan[1] are not scheduled any more: dropped
            "TransactWriteItems",
        ]

    def test_only_scheduled_items_carry_the_due_slot(
        self, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        tables = stage_tables(moto_stage, REGION)
        obligation = an_obligation()
        plan = a_plan(obligation)
        DynamoDBObligationStore(tables, retention=lambda: None).save(obligation, plan)
        DynamoDBReminderSchedule(tables).claim(plan[0], "m", NOW)

        claimed, scheduled = (tables.reminders.get(r.id) for r in plan)

        assert (claimed.due_slot, scheduled.due_slot) == (None, slot_of(plan[1].send_at))
        assert tables.obligations.get(obligation.external_id).reminder_ids == {r.id for r in plan}
