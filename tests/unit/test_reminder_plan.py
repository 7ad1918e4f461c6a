"""The reminder plan: when each reminder goes out (local send window, weekdays), when it
expires, what happens to those whose time passed before registration, and what they say."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition, Reminders, TimeRange
from chalicelib.domain.bot.errors import ConfigError
from chalicelib.domain.obligations import (
    Obligation,
    ObligationState,
    ReminderStatus,
    ScheduledReminder,
)
from chalicelib.domain.reminder_plan import (
    DEFAULT_SEND_WINDOW,
    MissingParameterError,
    TemplateNotApprovedError,
    UnknownKindError,
    in_send_window,
    next_window_opening,
    plan_reminders,
    reminder_message_id,
    reminder_template,
    slot_of,
    slots_from,
    template_for,
    template_values,
)
from chalicelib.domain.replies import TemplateReply
from chalicelib.settings import BUNDLED_CONFIG

REGISTERED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)  # Europe/Lisbon, window 09:00-20:00


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def an_obligation(kind: str = "driving_licence", due: str = "2026-07-15", **changes) -> Obligation:
    params = {
        "driving_licence": {"name": "Ana", "renewal_url": "https://imt.example/r/1"},
        "tax_payment": {"name": "Ana", "amount": "312,40 €", "payment_url": "https://pay/1"},
        "residence_visa": {"name": "Omar"},
    }[kind]
    obligation = Obligation(
        external_id="EXT-1",
        kind=kind,
        phone="+351912345678",
        resident_key="wa:351912345678",
        language="pt",
        due_date=date.fromisoformat(due),
        params=params,
        created_at=REGISTERED,
        updated_at=REGISTERED,
        registered_by="imt",
    )
    return dataclasses.replace(obligation, **changes)


def summary(plan: list[ScheduledReminder]) -> list[tuple]:
    return [
        (r.id, r.send_at.isoformat(), r.expires_at.isoformat(), r.status.value, r.reason)
        for r in plan
    ]


# --- slots ------------------------------------------------------------------------------------


def test_a_slot_is_the_utc_quarter_hour_a_moment_falls_in() -> None:
    assert slot_of(utc("2026-12-01T09:14:59.999")) == "2026-12-01T09:00"
    assert slot_of(utc("2026-12-01T09:15:00")) == "2026-12-01T09:15"
    lisbon_summer = datetime(2026, 7, 1, 9, 50, tzinfo=UTC).astimezone(ZoneInfo("Europe/Lisbon"))
    assert slot_of(lisbon_summer) == "2026-07-01T09:45"


def test_slots_from_counts_both_ends() -> None:
    assert slots_from("2026-12-01T23:45", "2026-12-02T00:15") == [
        "2026-12-01T23:45",
        "2026-12-02T00:00",
        "2026-12-02T00:15",
    ]
    assert slots_from("2026-12-01T09:15", "2026-12-01T09:00") == []


# --- the send window --------------------------------------------------------------------------


def test_the_window_is_local_time(town: MunicipalityDefinition) -> None:
    # Lisbon is UTC+1 in summer: 09:00 local is 08:00 UTC.
    assert in_send_window(town, utc("2026-07-01T08:00"))
    assert not in_send_window(town, utc("2026-07-01T07:59"))
    assert not in_send_window(town, utc("2026-07-01T19:00"))  # 20:00 local: closed
    assert in_send_window(town, utc("2026-12-01T19:59"))  # winter: UTC


def test_the_next_opening(town: MunicipalityDefinition) -> None:
    inside = utc("2026-12-01T10:07")
    assert next_window_opening(town, inside) == inside
    assert next_window_opening(town, utc("2026-12-01T06:00")) == utc("2026-12-01T09:00")
    assert next_window_opening(town, utc("2026-12-01T21:00")) == utc("2026-12-02T09:00")
    saturday = utc("2026-11-28T10:00")
    assert next_window_opening(town, saturday) == saturday
    assert next_window_opening(town, saturday, weekdays_only=True) == utc("2026-11-30T09:00")


def test_without_a_configured_window_it_is_nine_to_eight(town: MunicipalityDefinition) -> None:
    assert town.reminders is not None
    bare = dataclasses.replace(
        town, reminders=dataclasses.replace(town.reminders, send_window=None)
    )
    assert TimeRange(time(9), time(20)) == DEFAULT_SEND_WINDOW
    assert next_window_opening(bare, utc("2026-12-01T20:00")) == utc("2026-12-02T09:00")


# --- planning ---------------------------------------------------------------------------------


def test_each_offset_goes_out_at_the_windows_opening_local_time(
    town: MunicipalityDefinition,
) -> None:
    plan = plan_reminders(an_obligation(), town, REGISTERED)

    end_of_due_date = "2026-07-15T23:00:00+00:00"  # midnight in Lisbon (UTC+1)
    assert summary(plan) == [
        ("rem|EXT-1|-42", "2026-06-03T08:00:00+00:00", end_of_due_date, "scheduled", None),
        ("rem|EXT-1|-7", "2026-07-08T08:00:00+00:00", end_of_due_date, "scheduled", None),
    ]
    assert {r.updated_at for r in plan} == {REGISTERED}
    assert {r.external_id for r in plan} == {"EXT-1"}


def test_an_overdue_notice_lives_a_week(town: MunicipalityDefinition) -> None:
    plan = plan_reminders(an_obligation("tax_payment", "2026-12-15"), town, REGISTERED)

    assert summary(plan)[-1] == (
        "rem|EXT-1|+3",
        "2026-12-18T09:00:00+00:00",
        "2026-12-25T09:00:00+00:00",
        "scheduled",
        None,
    )


def test_weekdays_only_moves_a_weekend_to_monday_but_never_past_the_due_date(
    town: MunicipalityDefinition,
) -> None:
    # Due on Sunday 13 December: -14d is a Sunday, -1d a Saturday.
    plan = plan_reminders(an_obligation("tax_payment", "2026-12-13"), town, REGISTERED)

    assert [(r.offset_days, r.send_at) for r in plan] == [
        (-14, utc("2026-11-30T09:00")),  # Monday after
        (-1, utc("2026-12-11T09:00")),  # Monday would be after the due date: the Friday before
        (3, utc("2026-12-16T09:00")),  # a Wednesday anyway
    ]


def test_a_kind_without_weekdays_only_goes_out_on_saturdays(
    town: MunicipalityDefinition,
) -> None:
    # 2026-12-19 - 7 days = Saturday 12 December.
    plan = plan_reminders(an_obligation(due="2026-12-19"), town, REGISTERED)
    assert plan[1].send_at == utc("2026-12-12T09:00")


def test_registered_late_the_latest_passed_reminder_goes_out_now(
    town: MunicipalityDefinition,
) -> None:
    now = utc("2026-06-20T10:07")  # after -42d, before -7d
    plan = plan_reminders(an_obligation(), town, now)

    assert [(r.offset_days, r.status, r.send_at) for r in plan] == [
        (-42, ReminderStatus.SCHEDULED, now),
        (-7, ReminderStatus.SCHEDULED, utc("2026-07-08T08:00")),
    ]


def test_of_several_passed_reminders_only_the_latest_is_sent(
    town: MunicipalityDefinition,
) -> None:
    night = utc("2026-07-10T23:30")  # both passed; 00:30 in Lisbon
    plan = plan_reminders(an_obligation(), town, night)

    assert summary(plan) == [
        ("rem|EXT-1|-42", "2026-06-03T08:00:00+00:00", "2026-07-15T23:00:00+00:00", "skipped", "superseded"),
        ("rem|EXT-1|-7", "2026-07-11T08:00:00+00:00", "2026-07-15T23:00:00+00:00", "scheduled", None),
    ]  # fmt: skip


def test_after_the_due_date_reminders_are_expired_and_the_overdue_notice_goes_out(
    town: MunicipalityDefinition,
) -> None:
    now = utc("2026-12-19T15:00")  # Saturday, a day after +3d's planned time
    plan = plan_reminders(an_obligation("tax_payment", "2026-12-15"), town, now)

    assert [(r.offset_days, r.status, r.reason, r.send_at) for r in plan] == [
        (-14, ReminderStatus.SKIPPED, "expired", utc("2026-12-01T09:00")),
        (-1, ReminderStatus.SKIPPED, "expired", utc("2026-12-14T09:00")),
        (3, ReminderStatus.SCHEDULED, None, utc("2026-12-21T09:00")),  # weekdays only: Monday
    ]


def test_a_passed_reminder_that_could_only_go_out_after_expiry_is_expired(
    town: MunicipalityDefinition,
) -> None:
    # 22:00 on the due date: the next window opens the day after.
    plan = plan_reminders(an_obligation(), town, utc("2026-07-15T21:00"))
    assert [(r.status, r.reason) for r in plan] == [(ReminderStatus.SKIPPED, "expired")] * 2


def test_nothing_is_planned_for_an_obligation_that_is_not_active(
    town: MunicipalityDefinition,
) -> None:
    for state in (ObligationState.CANCELLED, ObligationState.RENEWED):
        assert plan_reminders(an_obligation(state=state), town, REGISTERED) == []


def test_an_unknown_kind_raises(town: MunicipalityDefinition) -> None:
    obligation = dataclasses.replace(an_obligation(), kind="boat_licence")
    with pytest.raises(UnknownKindError, match="boat_licence"):
        plan_reminders(obligation, town, REGISTERED)
    no_reminders = dataclasses.replace(town, reminders=None)
    with pytest.raises(UnknownKindError):
        plan_reminders(an_obligation(), no_reminders, REGISTERED)


def test_a_repeated_offset_is_planned_once(town: MunicipalityDefinition) -> None:
    assert town.reminders is not None
    kind = dataclasses.replace(
        town.reminders.kinds["residence_visa"],
        offsets=(timedelta(days=-7), timedelta(days=-7)),
    )
    twice = dataclasses.replace(
        town,
        reminders=Reminders(
            kinds=MappingProxyType({"residence_visa": kind}),
            send_window=town.reminders.send_window,
        ),
    )
    plan = plan_reminders(an_obligation("residence_visa"), twice, REGISTERED)
    assert [r.id for r in plan] == ["rem|EXT-1|-7"]


# --- what it says -----------------------------------------------------------------------------


def test_the_template_takes_the_configured_parameters_in_order(
    town: MunicipalityDefinition,
) -> None:
    obligation = an_obligation("tax_payment", "2026-12-15", language="es")

    assert reminder_template(town, obligation) == TemplateReply(
        name="payment_due",
        language="es",
        body_params=("Ana", "312,40 €", "15/12/2026", "https://pay/1"),
    )
    assert template_values(obligation)["due_date"] == "15/12/2026"


def test_a_portuguese_residents_template_goes_under_metas_pt_pt(
    town: MunicipalityDefinition,
) -> None:
    # Meta has no bare "pt": the town approves its Portuguese templates as pt_PT
    reply = reminder_template(town, an_obligation("residence_visa", "2026-12-15"))
    assert reply == TemplateReply(
        name="visa_renewal", language="pt_PT", body_params=("Omar", "15/12/2026")
    )


def test_a_missing_or_blank_parameter_is_named(town: MunicipalityDefinition) -> None:
    with pytest.raises(MissingParameterError) as raised:
        template_for(town, "licence_renewal", ("name", "due_date", "renewal_url"), "pt", {"name": "Ana", "due_date": "x"})  # fmt: skip
    assert raised.value.name == "renewal_url"
    with pytest.raises(MissingParameterError) as blank:
        template_for(town, "licence_renewal", ("name",), "pt", {"name": "  "})
    assert blank.value.name == "name"


def test_a_template_not_approved_in_the_language_is_refused(
    town: MunicipalityDefinition,
) -> None:
    with pytest.raises(TemplateNotApprovedError):
        template_for(town, "payment_due", (), "ar", {})  # payment_due has no Arabic
    with pytest.raises(TemplateNotApprovedError):
        template_for(town, "no_such_template", (), "pt", {})


def test_a_reminders_message_is_new_for_a_new_due_date(town: MunicipalityDefinition) -> None:
    reminder = plan_reminders(an_obligation(), town, REGISTERED)[0]
    this_year = reminder_message_id(reminder, date(2026, 7, 15))

    assert this_year == reminder_message_id(reminder, date(2026, 7, 15))
    assert this_year != reminder_message_id(reminder, date(2027, 7, 15))
    assert this_year.startswith(reminder.id)


# --- the config -------------------------------------------------------------------------------


def test_weekdays_only_is_read_per_kind(town: MunicipalityDefinition) -> None:
    assert town.reminders is not None
    kinds = town.reminders.kinds
    assert kinds["tax_payment"].weekdays_only is True
    assert kinds["driving_licence"].weekdays_only is False


def test_weekdays_only_must_be_true_or_false(tmp_path: Path) -> None:
    text = BUNDLED_CONFIG.read_text(encoding="utf-8")
    assert text.count("weekdays_only: true") == 1
    path = tmp_path / "town.yaml"
    path.write_text(text.replace("weekdays_only: true", "weekdays_only: sometimes"), "utf-8")

    with pytest.raises(ConfigError) as raised:
        load_municipality_file(path)

    assert [str(p) for p in raised.value.problems] == [
        "reminders.tax_payment.weekdays_only: expected true or false, got 'sometimes'"
    ]
