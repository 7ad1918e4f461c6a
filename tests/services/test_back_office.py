"""The back-office use cases in memory: registering, re-planning, stopping, bulk, notifications
and the delivery status they report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.memory_reminder_stores import (
    InMemoryNotificationStore,
    InMemoryObligationStore,
    InMemoryReminderSchedule,
)
from chalicelib.domain.messages import DeliveryStatus, Priority
from chalicelib.domain.obligations import ObligationState, ReminderStatus
from chalicelib.domain.residents import Resident
from chalicelib.services import back_office
from chalicelib.services.back_office import (
    NotFoundError,
    ObligationView,
    cancel_obligation,
    mark_renewed,
    notification_status,
    notify,
    obligation_status,
    register_many,
    register_obligation,
)
from chalicelib.services.back_office_input import InputError
from chalicelib.services.ports import GraphApiError
from chalicelib.services.run_reminders import run_reminders
from tests.services.conftest import NOW, World


@dataclass
class Office:
    """The back office's view of the world: its use cases on the world's stores."""

    world: World
    obligations: InMemoryObligationStore
    notifications: InMemoryNotificationStore

    def register(self, external_id: str, body: dict[str, Any], at: datetime = NOW) -> Any:
        return register_obligation(
            external_id,
            body,
            definition=self.world.definition,
            obligations=self.obligations,
            residents=self.world.residents,
            messages=self.world.messages,
            registered_by="tax-office",
            now=at,
        )

    def status(self, external_id: str) -> ObligationView:
        return obligation_status(
            external_id, obligations=self.obligations, messages=self.world.messages
        )

    def notify(self, body: dict[str, Any], at: datetime = NOW) -> Any:
        return notify(
            body,
            definition=self.world.definition,
            notifications=self.notifications,
            residents=self.world.residents,
            messages=self.world.messages,
            outbound=self.world.outbound,
            registered_by="registry",
            now=at,
        )

    def bulk(self, rows: list[Any], concurrency: int | None = None) -> Any:
        return register_many(
            rows,
            definition=self.world.definition,
            obligations=self.obligations,
            residents=self.world.residents,
            registered_by="tax-office",
            now=NOW,
            concurrency=concurrency,
        )

    def run_job(self, at: datetime) -> None:
        run_reminders(
            at,
            definition=self.world.definition,
            schedule=InMemoryReminderSchedule(self.world.database),
            notifications=self.notifications,
            obligations=self.obligations,
            messages=self.world.messages,
            outbound=self.world.outbound,
        )


@pytest.fixture
def office(world: World) -> Office:
    return Office(
        world,
        InMemoryObligationStore(world.database),
        InMemoryNotificationStore(world.database),
    )


def licence(due: str = "2027-01-15", phone: str = "+351912000001", **changes: Any) -> dict:
    return {
        "phone": phone,
        "kind": "driving_licence",
        "due_date": due,
        "params": {"name": "Ana", "renewal_url": "https://e.org/r"},
        **changes,
    }


def a_resident(key: str, **changes: Any) -> Resident:
    return Resident(key=key, wa_id=key.removeprefix("wa:"), created_at=NOW, **changes)


def plan(view: ObligationView) -> list[tuple[int, str, str | None]]:
    return [(r.reminder.offset_days, r.delivery.status, r.delivery.reason) for r in view.reminders]


# --- registering ------------------------------------------------------------------------------


def test_a_new_obligation_is_saved_with_its_plan(office: Office) -> None:
    view = office.register("LIC-1", licence(phone="912 000 001"))

    assert (view.created, view.changed) == (True, True)
    obligation = view.obligation
    assert (obligation.phone, obligation.resident_key) == ("+351912000001", "wa:351912000001")
    assert (obligation.language, obligation.registered_by) == ("pt", "tax-office")
    assert obligation.due_date == date(2027, 1, 15)
    assert plan(view) == [(-42, "scheduled", None), (-7, "scheduled", None)]
    assert office.status("LIC-1").reminders == view.reminders


def test_the_same_registration_again_writes_nothing(office: Office) -> None:
    office.register("LIC-1", licence())
    before = (dict(office.world.database.obligations), dict(office.world.database.reminders))

    again = office.register("LIC-1", licence(), at=NOW + timedelta(hours=1))

    assert (again.created, again.changed) == (False, False)
    assert again.obligation.updated_at == NOW
    after = (dict(office.world.database.obligations), dict(office.world.database.reminders))
    assert after == before


def test_changing_anything_plans_again(office: Office) -> None:
    office.register("LIC-1", licence())

    view = office.register("LIC-1", licence(phone="+351912999999"), at=NOW + timedelta(hours=1))

    assert (view.created, view.changed) == (False, True)
    assert view.obligation.created_at == NOW
    assert view.obligation.updated_at == NOW + timedelta(hours=1)
    assert view.obligation.resident_key == "wa:351912999999"


def test_a_later_due_date_moves_every_reminder(office: Office) -> None:
    office.register("LIC-1", licence(due="2027-01-15"))

    view = office.register("LIC-1", licence(due="2027-06-15"))

    assert [r.reminder.send_at.date() for r in view.reminders] == [
        date(2027, 5, 4),
        date(2027, 6, 8),
    ]
    assert {r.id for r in office.obligations.reminders_of("LIC-1")} == {
        r.reminder.id for r in view.reminders
    }


def test_a_reminder_already_sent_is_not_sent_again_for_the_same_due_date(office: Office) -> None:
    # Due in five weeks: the six-week reminder is late and goes out at the next run.
    office.register("LIC-1", licence(due="2026-12-28"))
    office.run_job(NOW + timedelta(minutes=15))
    queued_before = office.status("LIC-1")
    assert plan(queued_before)[0] == (-42, "queued", None)

    # The same due date, a new renewal URL: the -42 stays sent, the -7 is planned again.
    body = licence(due="2026-12-28", params={"name": "Ana", "renewal_url": "https://e.org/2"})
    view = office.register("LIC-1", body, at=NOW + timedelta(hours=1))
    office.run_job(NOW + timedelta(hours=1, minutes=15))

    assert plan(view) == [(-42, "queued", None), (-7, "scheduled", None)]
    assert len(office.world.outbound.ids(Priority.BULK)) == 1


def test_a_due_date_in_the_past_plans_nothing_to_send(office: Office) -> None:
    view = office.register("LIC-OLD", licence(due="2026-01-15"))

    assert plan(view) == [(-42, "skipped", "expired"), (-7, "skipped", "expired")]


def test_the_residents_language_is_used_when_approved(office: Office, world: World) -> None:
    world.database.residents["wa:351912000005"] = a_resident("wa:351912000005", language="ar")

    licence_view = office.register("LIC-AR", licence(phone="+351912000005"))
    tax = {
        "phone": "+351912000005",
        "kind": "tax_payment",
        "due_date": "2027-01-15",
        "params": {"name": "Ana", "amount": "10 €", "payment_url": "https://e.org/p"},
    }
    tax_view = office.register("TAX-AR", tax)

    assert licence_view.obligation.language == "ar"
    assert tax_view.obligation.language == "pt"  # payment_due has no Arabic: the default


def test_a_given_language_wins(office: Office, world: World) -> None:
    world.database.residents["wa:351912000005"] = a_resident("wa:351912000005", language="ar")

    view = office.register("LIC-EN", licence(phone="+351912000005", language="en"))

    assert view.obligation.language == "en"


def test_nothing_is_written_when_anything_is_wrong(office: Office) -> None:
    with pytest.raises(InputError) as refused:
        office.register("LIC-1", licence(params={"name": "Ana"}))

    assert refused.value.status == 422
    assert [e.field for e in refused.value.errors] == ["params.renewal_url"]
    assert office.world.database.obligations == {}
    assert office.world.database.reminders == {}


# --- stopping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "state"),
    [(cancel_obligation, ObligationState.CANCELLED), (mark_renewed, ObligationState.RENEWED)],
)
def test_stopping_skips_pending_reminders_with_the_reason(
    office: Office, stop: Any, state: ObligationState
) -> None:
    office.register("LIC-1", licence())

    view = stop("LIC-1", obligations=office.obligations, messages=office.world.messages, now=NOW)
    again = stop("LIC-1", obligations=office.obligations, messages=office.world.messages, now=NOW)

    assert view.obligation.state is state
    assert plan(view) == [(-42, "skipped", state.value), (-7, "skipped", state.value)]
    assert (view.changed, again.changed) == (True, False)
    office.run_job(datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    assert office.world.outbound.ids() == []


def test_stopping_keeps_what_was_sent(office: Office) -> None:
    office.register("LIC-1", licence(due="2026-12-28"))
    office.run_job(NOW + timedelta(minutes=15))

    view = mark_renewed(
        "LIC-1", obligations=office.obligations, messages=office.world.messages, now=NOW
    )

    assert plan(view) == [(-42, "queued", None), (-7, "skipped", "renewed")]


def test_stopping_an_unknown_obligation_raises(office: Office) -> None:
    with pytest.raises(NotFoundError):
        cancel_obligation(
            "NOPE", obligations=office.obligations, messages=office.world.messages, now=NOW
        )
    with pytest.raises(NotFoundError):
        office.status("NOPE")


# --- delivery status --------------------------------------------------------------------------


def test_status_follows_the_message_through_the_sender(office: Office, world: World) -> None:
    office.register("LIC-1", licence(due="2026-12-28"))
    office.run_job(NOW + timedelta(minutes=15))
    (message_id,) = world.outbound.ids(Priority.BULK)

    world.send_all()
    sent = office.status("LIC-1").reminders[0].delivery
    wamid = world.messages.get(message_id).wamid
    world.messages.apply_status(wamid, DeliveryStatus.DELIVERED, NOW + timedelta(minutes=20))
    delivered = office.status("LIC-1").reminders[0].delivery
    world.messages.apply_status(wamid, DeliveryStatus.READ, NOW + timedelta(minutes=25))
    read = office.status("LIC-1").reminders[0].delivery

    assert [d.status for d in (sent, delivered, read)] == ["sent", "delivered", "read"]
    assert read.at == NOW + timedelta(minutes=25)


def test_a_failed_send_reports_metas_reason(office: Office, world: World) -> None:
    office.register("LIC-1", licence(due="2026-12-28"))
    office.run_job(NOW + timedelta(minutes=15))
    world.sender.refuse_with.append(GraphApiError(131026, "Message undeliverable"))

    world.send_all()

    delivery = office.status("LIC-1").reminders[0].delivery
    assert (delivery.status, delivery.error_code) == ("failed", 131026)
    assert delivery.reason == "Message undeliverable"


def test_an_opted_out_resident_is_reported_skipped(office: Office, world: World) -> None:
    world.residents.set_opted_out("wa:351912000001", True, NOW - timedelta(days=1))
    office.register("LIC-1", licence(due="2026-12-28"))
    office.run_job(NOW + timedelta(minutes=15))

    world.send_all()

    delivery = office.status("LIC-1").reminders[0].delivery
    assert (delivery.status, delivery.reason) == ("skipped", "opted_out")
    assert world.sender.sent == []


# --- bulk -------------------------------------------------------------------------------------


def test_thousands_of_rows_are_saved_concurrently(office: Office) -> None:
    rows = [
        {**licence(phone=f"+35191{i:07d}"), "external_id": f"K-{i}", "language": "pt"}
        for i in range(5000)
    ]
    rows[17]["phone"] = "not a phone"
    rows[4242]["kind"] = "boat"

    result = office.bulk(rows, concurrency=16)

    assert (result.accepted, result.created) == (4998, 4998)
    assert [(r.row, r.external_id, r.errors[0].field) for r in result.rejected] == [
        (18, "K-17", "phone"),
        (4243, "K-4242", "kind"),
    ]
    assert len(office.world.database.obligations) == 4998
    assert len(office.world.database.reminders) == 2 * 4998


def test_a_bulk_row_that_fails_to_save_is_retried_then_reported(office: Office) -> None:
    failures = {"K-1": 1, "K-2": 2}  # K-1 fails once, K-2 twice
    lock = threading.Lock()
    save = office.obligations.save

    def flaky_save(obligation: Any, reminders: Any, **kwargs: Any) -> None:
        with lock:
            left = failures.get(obligation.external_id, 0)
            failures[obligation.external_id] = left - 1
        if left > 0:
            raise RuntimeError("throttled")
        save(obligation, reminders, **kwargs)

    office.obligations.save = flaky_save  # type: ignore[method-assign]
    rows = [{**licence(), "external_id": f"K-{i}"} for i in range(4)]

    result = office.bulk(rows, concurrency=4)

    assert result.accepted == 3
    assert [(r.external_id, r.errors[0].code) for r in result.rejected] == [("K-2", "not_saved")]
    assert "K-1" in office.world.database.obligations


def test_bulk_counts_created_updated_and_unchanged(office: Office) -> None:
    office.register("A", licence())
    office.register("B", licence())
    rows = [
        {**licence(), "external_id": "A"},
        {**licence(due="2027-02-01"), "external_id": "B"},
        {**licence(), "external_id": "C"},
    ]

    result = office.bulk(rows)

    assert (result.created, result.updated, result.unchanged, result.rejected) == (1, 1, 1, [])


# --- notifications ----------------------------------------------------------------------------


def document_ready(external_id: str = "N-1", **changes: Any) -> dict:
    return {
        "external_id": external_id,
        "phone": "+351912000001",
        "kind": "document_ready",
        "params": {"name": "Ana", "document": "CC", "office": "Loja"},
        **changes,
    }


def test_a_notification_inside_the_window_is_queued_at_once(office: Office, world: World) -> None:
    view = office.notify(document_ready())

    assert view.created
    assert (view.notification.status.value, view.notification.message_id) == ("queued", "ntf|N-1")
    assert world.outbound.ids(Priority.BULK) == ["ntf|N-1"]
    message = world.messages.get("ntf|N-1")
    assert (message.priority, message.recipient) == (Priority.BULK, "351912000001")
    assert message.payload["name"] == "document_ready"
    assert list(message.payload["body_params"]) == ["Ana", "CC", "Loja"]

    world.send_all()
    status = notification_status("N-1", notifications=office.notifications, messages=world.messages)
    assert status.delivery.status == "sent"


def test_the_same_notification_again_returns_the_first(office: Office, world: World) -> None:
    first = office.notify(document_ready())
    again = office.notify(document_ready(params={"name": "B", "document": "x", "office": "y"}))

    assert not again.created
    assert again.notification == first.notification
    assert world.outbound.ids() == ["ntf|N-1"]


def test_a_notification_at_night_waits_for_the_window_and_the_job(
    office: Office, world: World
) -> None:
    night = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)

    view = office.notify(document_ready(), at=night)
    office.run_job(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))

    assert view.notification.status.value == "scheduled"
    assert view.notification.send_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert world.outbound.ids() == ["ntf|N-1"]


def test_a_scheduled_notification_is_sent_by_the_job_once(office: Office, world: World) -> None:
    view = office.notify(document_ready(send_at="2026-11-25T10:05:00Z"))
    for minutes in (0, 15, 30):
        office.run_job(datetime(2026, 11, 25, 10, minutes, tzinfo=UTC))

    assert view.notification.send_at == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    assert world.outbound.ids() == ["ntf|N-1"]


def test_an_unknown_notification_raises(office: Office) -> None:
    with pytest.raises(NotFoundError):
        notification_status(
            "NOPE", notifications=office.notifications, messages=office.world.messages
        )


def test_delivery_of_maps_every_message_status() -> None:
    from chalicelib.domain.messages import Direction, StoredMessage

    message = StoredMessage(
        id="m",
        direction=Direction.OUTBOUND,
        resident_key="wa:1",
        conversation_id=None,
        message_type="template",
        body=None,
        created_at=NOW,
        status=DeliveryStatus.QUEUED,
        status_at=NOW,
    )
    expected = {
        DeliveryStatus.QUEUED: "queued",
        DeliveryStatus.SENDING: "queued",
        DeliveryStatus.SENT: "sent",
        DeliveryStatus.DELIVERED: "delivered",
        DeliveryStatus.READ: "read",
        DeliveryStatus.PLAYED: "read",
        DeliveryStatus.FAILED: "failed",
        DeliveryStatus.SKIPPED: "skipped",
    }
    for status, shown in expected.items():
        delivery = back_office.delivery_of(
            ReminderStatus.QUEUED, None, replace(message, status=status)
        )
        assert delivery.status == shown
    assert back_office.delivery_of(ReminderStatus.QUEUED, None, None).status == "queued"
    assert back_office.delivery_of(ReminderStatus.SKIPPED, "expired", None).reason == "expired"


def test_the_logs_carry_who_registered_and_no_phone_number(office: Office) -> None:
    import io
    import json
    import logging

    from chalicelib.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        office.register("LIC-LOG", licence(phone="+351912345678"))
        office.notify(document_ready("N-LOG", phone="912345678"))
        office.bulk([{**licence(phone="+351912345679"), "external_id": "LIC-BULK"}])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "obligation registered",
        "notification accepted",
        "bulk registration",  # one line for the upload, not one per row
    ]
    assert "91234567" not in stream.getvalue()
    assert lines[0]["phone"] == "+35********78"
    assert {line["registered_by"] for line in lines} == {"tax-office", "registry"}
