"""SLA targets in business time: the clock's arithmetic, then the targets' life cycle."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.bot.definition import BusinessHours, Sla, TimeRange
from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget
from chalicelib.domain.sla import (
    BusinessClock,
    SlaAlert,
    clock_for,
    due_alerts,
    next_check,
    record_first_response,
    restart_resolution,
    sla_status,
    start_sla,
    with_alerts,
)
from tests.unit.bot_definitions import HOURS, town

LISBON = ZoneInfo("Europe/Lisbon")
CLOCK = BusinessClock(HOURS, LISBON)  # Mon–Fri 09:00–17:30, Sat 09:00–13:00, 25 Dec closed
POLICY = Sla(
    first_response=timedelta(minutes=15),
    resolution=timedelta(days=2),
    warn_at=0.8,
    escalate_to="front_desk",
)
FIRST, RESOLUTION = SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LISBON)  # type: ignore[misc]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- the business clock ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (local(2026, 11, 24, 10, 0), minutes(15), local(2026, 11, 24, 10, 15)),  # open
        (local(2026, 11, 24, 7, 0), minutes(15), local(2026, 11, 24, 9, 15)),  # before opening
        (local(2026, 11, 24, 17, 20), minutes(15), local(2026, 11, 25, 9, 5)),  # over the night
        (local(2026, 11, 24, 19, 0), minutes(15), local(2026, 11, 25, 9, 15)),  # in the night
        (local(2026, 11, 24, 17, 15), minutes(15), local(2026, 11, 24, 17, 30)),  # at closing
        (local(2026, 11, 27, 17, 25), minutes(15), local(2026, 11, 28, 9, 10)),  # Fri → Sat
        (local(2026, 11, 28, 12, 50), minutes(15), local(2026, 11, 30, 9, 5)),  # Sat → Mon
        (local(2026, 11, 29, 11, 0), minutes(15), local(2026, 11, 30, 9, 15)),  # on Sunday
        (local(2026, 12, 24, 17, 25), minutes(15), local(2026, 12, 26, 9, 10)),  # Christmas
        (local(2026, 12, 25, 10, 0), minutes(15), local(2026, 12, 26, 9, 15)),  # on Christmas
        # 48 h of open time: Tue 7.5 + Wed, Thu, Fri 8.5 each + Sat 4 + Mon 8.5 + Tue 2.5
        (local(2026, 11, 24, 10, 0), timedelta(days=2), local(2026, 12, 1, 11, 30)),
    ],
)
def test_add_counts_open_time_only(
    start: datetime, duration: timedelta, expected: datetime
) -> None:
    assert CLOCK.add(start, duration) == expected
    assert CLOCK.between(start, expected) == duration


def test_add_returns_utc() -> None:
    result = CLOCK.add(local(2026, 11, 24, 10, 0), minutes(15))
    assert result.tzinfo is UTC


def test_zero_duration_is_the_start_even_when_closed() -> None:
    sunday = local(2026, 11, 29, 11, 0)
    assert CLOCK.add(sunday, timedelta(0)) == sunday


def test_negative_durations_and_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        CLOCK.add(local(2026, 11, 24, 10, 0), minutes(-1))
    with pytest.raises(ValueError, match="aware"):
        CLOCK.add(datetime(2026, 11, 24, 10, 0), minutes(1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        CLOCK.between(datetime(2026, 11, 24, 10, 0), local(2026, 11, 24, 11, 0))  # noqa: DTZ001


def test_between_counts_open_time_and_is_negative_backwards() -> None:
    start, end = local(2026, 11, 27, 17, 0), local(2026, 11, 30, 9, 30)  # Fri → Mon
    assert CLOCK.between(start, end) == minutes(30) + timedelta(hours=4) + minutes(30)
    assert CLOCK.between(end, start) == -CLOCK.between(start, end)
    assert CLOCK.between(start, start) == timedelta(0)


def test_between_a_closed_stretch_is_zero() -> None:
    assert CLOCK.between(local(2026, 11, 28, 14, 0), local(2026, 11, 30, 8, 0)) == timedelta(0)
    assert CLOCK.between(local(2026, 12, 25, 0, 0), local(2026, 12, 26, 0, 0)) == timedelta(0)


def test_is_open() -> None:
    assert CLOCK.is_open(local(2026, 11, 24, 9, 0))
    assert not CLOCK.is_open(local(2026, 11, 24, 17, 30))  # the end is excluded
    assert not CLOCK.is_open(local(2026, 12, 25, 10, 0))
    assert not CLOCK.is_open(local(2026, 11, 29, 10, 0))
    assert BusinessClock(None, LISBON).is_open(local(2026, 11, 29, 3, 0))


def test_spring_forward_weekend() -> None:
    """Lisbon moves from UTC+0 to UTC+1 on Sunday 29 March 2026."""
    due = CLOCK.add(local(2026, 3, 28, 12, 55), minutes(15))
    assert due == local(2026, 3, 30, 9, 10)
    assert due == datetime(2026, 3, 30, 8, 10, tzinfo=UTC)
    assert CLOCK.between(local(2026, 3, 28, 12, 55), due) == minutes(15)


def test_fall_back_weekend() -> None:
    """Lisbon moves from UTC+1 to UTC+0 on Sunday 25 October 2026."""
    due = CLOCK.add(local(2026, 10, 24, 12, 55), minutes(15))
    assert due == datetime(2026, 10, 26, 9, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sunday", "open_hours"),
    [(date(2026, 3, 29), 2), (date(2026, 10, 25), 4), (date(2026, 11, 29), 3)],
)
def test_open_time_across_a_dst_night_is_real_time(sunday: date, open_hours: int) -> None:
    night = BusinessHours(weekly={6: (TimeRange(time(0), time(3)),)})
    clock = BusinessClock(night, LISBON)
    saturday = datetime.combine(sunday - timedelta(days=1), time(12), tzinfo=LISBON)
    monday = datetime.combine(sunday + timedelta(days=1), time(0), tzinfo=LISBON)
    assert clock.between(saturday, monday) == timedelta(hours=open_hours)
    assert clock.add(saturday, timedelta(hours=open_hours)) == datetime.combine(
        sunday, time(3), tzinfo=LISBON
    )


def test_without_hours_time_is_plain_utc_arithmetic() -> None:
    clock = BusinessClock(None, LISBON)
    start = local(2026, 3, 28, 12, 0)
    assert clock.add(start, timedelta(hours=24)) == local(2026, 3, 29, 13, 0)  # an hour lost
    assert clock.between(start, local(2026, 3, 29, 13, 0)) == timedelta(hours=24)
    assert clock.is_open(local(2026, 3, 29, 3, 0))  # a Sunday night: always open


def test_hours_that_never_open_count_as_always_open() -> None:
    clock = BusinessClock(BusinessHours(weekly={0: ()}), LISBON)
    assert clock.is_open(local(2026, 11, 30, 3, 0))  # a Monday night: always open
    assert clock.add(local(2026, 11, 29, 3, 0), minutes(5)) == local(2026, 11, 29, 3, 5)


def test_split_and_overlapping_ranges() -> None:
    lunch_break = BusinessHours(
        weekly={0: (TimeRange(time(14), time(18)), TimeRange(time(9), time(12)))}
    )
    clock = BusinessClock(lunch_break, LISBON)
    assert clock.add(local(2026, 11, 30, 11, 50), minutes(20)) == local(2026, 11, 30, 14, 10)
    overlapping = BusinessHours(
        weekly={0: (TimeRange(time(9), time(12)), TimeRange(time(11), time(13)))}
    )
    clock = BusinessClock(overlapping, LISBON)
    assert clock.between(local(2026, 11, 30, 8), local(2026, 11, 30, 14)) == timedelta(hours=4)


def test_add_and_between_agree_on_random_moments() -> None:
    rng = random.Random(6)
    base = local(2026, 1, 1, 0, 0)
    for _ in range(300):
        start = base + timedelta(minutes=rng.randrange(0, 366 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(0, 4000))
        end = CLOCK.add(start, duration)
        assert end >= start
        assert CLOCK.between(start, end) == duration
        if duration:
            assert CLOCK.is_open(end - timedelta(microseconds=1))


def test_clock_for_reads_the_definition() -> None:
    clock = clock_for(town())
    assert clock.add(local(2026, 11, 24, 19, 0), minutes(15)) == local(2026, 11, 25, 9, 15)
    always = clock_for(town(business_hours=None))
    assert always.add(local(2026, 11, 24, 19, 0), minutes(15)) == local(2026, 11, 24, 19, 15)


# --- the targets ----------------------------------------------------------------------------

TUESDAY_10 = local(2026, 11, 24, 10, 0)


def conversation(**fields: Any) -> Conversation:
    defaults: dict[str, Any] = {
        "id": "c1",
        "resident_key": "wa:351912345678",
        "status": ConversationStatus.QUEUED,
        "team": "front_desk",
        "opened_at": TUESDAY_10 - minutes(5),
        "updated_at": TUESDAY_10,
    }
    return Conversation(**(defaults | fields))


def handed_off(at: datetime = TUESDAY_10, **fields: Any) -> Conversation:
    return start_sla(conversation(**fields), POLICY, CLOCK, at)


def test_start_sla_sets_the_dues_in_business_time() -> None:
    started = handed_off()
    assert started.handed_off_at == TUESDAY_10
    assert started.first_response_due == local(2026, 11, 24, 10, 15)
    assert started.resolution_due == local(2026, 12, 1, 11, 30)
    assert started.sla_next_check == local(2026, 11, 24, 10, 12)  # the first response warning


def test_start_sla_out_of_hours() -> None:
    started = handed_off(local(2026, 11, 24, 17, 25))
    assert started.first_response_due == local(2026, 11, 25, 9, 10)
    assert started.sla_next_check == local(2026, 11, 25, 9, 7)  # 5 min on Tue + 7 on Wed


def test_start_sla_never_restarts_the_clock() -> None:
    started = handed_off()
    later = dataclasses.replace(started, team="public_works", status=ConversationStatus.ASSIGNED)
    assert start_sla(later, POLICY, CLOCK, local(2026, 11, 26, 10, 0)) is later


def test_reopening_restarts_the_resolution_target_only() -> None:
    answered = record_first_response(handed_off(), POLICY, CLOCK, TUESDAY_10 + minutes(5))
    resolved = dataclasses.replace(
        answered,
        status=ConversationStatus.RESOLVED,
        sla_warned=frozenset({FIRST, RESOLUTION}),
        sla_breached=frozenset({RESOLUTION}),
        sla_next_check=None,
    )
    reopened_at = local(2026, 12, 14, 10, 0)  # a Monday, three weeks on

    restarted = restart_resolution(resolved, POLICY, CLOCK, reopened_at)

    # 48 h of open time: Mon 7.5 + Tue–Fri 8.5 each + Sat 4 + Mon 2.5
    assert restarted.resolution_due == local(2026, 12, 21, 11, 30)
    assert restarted.resolution_started_at == reopened_at
    assert restarted.handed_off_at == TUESDAY_10  # reports still count from the hand-off
    assert restarted.first_response_due == answered.first_response_due
    assert restarted.sla_warned == {FIRST} and restarted.sla_breached == frozenset()
    # The warning at 80 % of the new target's business time, counted from the reopening.
    assert restarted.sla_next_check == local(2026, 12, 18, 14, 24)
    with_people = dataclasses.replace(restarted, status=ConversationStatus.ASSIGNED)
    assert due_alerts(with_people, POLICY, CLOCK, reopened_at + minutes(1)) == ()
    status = sla_status(with_people, POLICY, CLOCK, reopened_at)
    assert status is not None and (status.target, status.state) == (RESOLUTION, "ok")
    assert next_check(with_people, POLICY, CLOCK) == local(2026, 12, 18, 14, 24)


def test_reopening_what_never_reached_people_starts_the_clock() -> None:
    never = conversation(status=ConversationStatus.RESOLVED)

    assert restart_resolution(never, POLICY, CLOCK, TUESDAY_10) == start_sla(
        never, POLICY, CLOCK, TUESDAY_10
    )
    unwatched = restart_resolution(handed_off(), None, CLOCK, TUESDAY_10 + minutes(1))
    assert unwatched.resolution_due is None and unwatched.sla_next_check is None


def test_start_sla_without_a_policy_only_marks_the_hand_off() -> None:
    started = start_sla(conversation(), None, CLOCK, TUESDAY_10)
    assert started.handed_off_at == TUESDAY_10
    assert started.first_response_due is None
    assert started.resolution_due is None
    assert started.sla_next_check is None
    assert sla_status(started, None, CLOCK, TUESDAY_10) is None


def test_start_sla_may_be_called_before_the_status_leaves_the_bot() -> None:
    started = start_sla(conversation(status=ConversationStatus.BOT), POLICY, CLOCK, TUESDAY_10)
    assert started.sla_next_check == local(2026, 11, 24, 10, 12)


def test_record_first_response_moves_on_to_the_resolution() -> None:
    answered = record_first_response(handed_off(), POLICY, CLOCK, local(2026, 11, 24, 10, 7))
    assert answered.first_response_at == local(2026, 11, 24, 10, 7)
    # 80 % of 48 h = 38 h 24 min of open time: Tue 7.5 + 3 × 8.5 + Sat 4 = 37 h, + Mon 1 h 24
    assert answered.sla_next_check == local(2026, 11, 30, 10, 24)
    again = record_first_response(answered, POLICY, CLOCK, local(2026, 11, 24, 11, 0))
    assert again is answered


@pytest.mark.parametrize(
    ("now", "state", "seconds_left"),
    [
        (local(2026, 11, 24, 10, 5), "ok", 600),
        (local(2026, 11, 24, 10, 12), "warning", 180),
        (local(2026, 11, 24, 10, 14, 59), "warning", 1),
        (local(2026, 11, 24, 10, 15), "breached", -1),
        (local(2026, 11, 24, 10, 20), "breached", -300),
        (local(2026, 11, 24, 18, 0), "breached", -(7 * 3600 + 15 * 60)),  # closing counts
    ],
)
def test_status_of_the_first_response(now: datetime, state: str, seconds_left: int) -> None:
    status = sla_status(handed_off(), POLICY, CLOCK, now)
    assert status is not None
    assert (status.target, status.due) == (FIRST, local(2026, 11, 24, 10, 15))
    assert (status.state, status.seconds_left) == (state, seconds_left)


def test_seconds_left_are_business_seconds() -> None:
    started = handed_off(local(2026, 11, 27, 17, 25))  # Friday: due Saturday 09:10
    status = sla_status(started, POLICY, CLOCK, local(2026, 11, 27, 21, 0))
    assert status is not None
    assert (status.state, status.seconds_left) == ("ok", 600)


def test_breached_status_is_negative_even_when_closed_since_the_due() -> None:
    started = handed_off(local(2026, 11, 24, 17, 15))  # due at 17:30, closing time
    status = sla_status(started, POLICY, CLOCK, local(2026, 11, 24, 20, 0))
    assert status is not None
    assert (status.state, status.seconds_left) == ("breached", -1)


def test_status_follows_the_resolution_after_the_first_response() -> None:
    answered = record_first_response(handed_off(), POLICY, CLOCK, local(2026, 11, 24, 10, 7))
    status = sla_status(answered, POLICY, CLOCK, local(2026, 11, 24, 11, 0))
    assert status is not None
    assert (status.target, status.state) == (RESOLUTION, "ok")
    assert status.due == local(2026, 12, 1, 11, 30)
    assert status.seconds_left == int(timedelta(days=2, hours=-1).total_seconds())
    assert sla_status(answered, POLICY, CLOCK, local(2026, 11, 30, 10, 24)).state == "warning"  # type: ignore[union-attr]


def test_recorded_alerts_show_in_the_status() -> None:
    started = with_alerts(handed_off(), (SlaAlert(FIRST, "warning"),), POLICY, CLOCK)
    status = sla_status(started, POLICY, CLOCK, local(2026, 11, 24, 10, 1))
    assert status is not None and status.state == "warning"


@pytest.mark.parametrize("status", [ConversationStatus.RESOLVED, ConversationStatus.BOT])
def test_no_status_nor_alerts_when_not_with_people(status: ConversationStatus) -> None:
    done = dataclasses.replace(handed_off(), status=status)
    late = local(2026, 12, 10, 10, 0)
    assert sla_status(done, POLICY, CLOCK, late) is None
    assert due_alerts(done, POLICY, CLOCK, late) == ()
    assert next_check(done, POLICY, CLOCK) is None


def test_no_status_before_the_hand_off() -> None:
    assert sla_status(conversation(), POLICY, CLOCK, TUESDAY_10) is None
    assert due_alerts(conversation(), POLICY, CLOCK, TUESDAY_10) == ()
    assert next_check(conversation(), POLICY, CLOCK) is None


def test_a_warning_then_a_breach_each_raised_once() -> None:
    started = handed_off()
    assert due_alerts(started, POLICY, CLOCK, local(2026, 11, 24, 10, 11, 59)) == ()

    at_warning = local(2026, 11, 24, 10, 12)
    alerts = due_alerts(started, POLICY, CLOCK, at_warning)
    assert alerts == (SlaAlert(FIRST, "warning"),)
    warned = with_alerts(started, alerts, POLICY, CLOCK)
    assert warned.sla_warned == {FIRST}
    assert warned.sla_next_check == local(2026, 11, 24, 10, 15)
    assert due_alerts(warned, POLICY, CLOCK, at_warning) == ()

    at_due = local(2026, 11, 24, 10, 15)
    alerts = due_alerts(warned, POLICY, CLOCK, at_due)
    assert alerts == (SlaAlert(FIRST, "breach"),)
    breached = with_alerts(warned, alerts, POLICY, CLOCK)
    assert breached.sla_breached == {FIRST}
    assert due_alerts(breached, POLICY, CLOCK, at_due + minutes(30)) == ()
    # the resolution clock still runs: its warning is next
    assert breached.sla_next_check == local(2026, 11, 30, 10, 24)


def test_a_late_check_raises_only_the_breach() -> None:
    started = handed_off()
    alerts = due_alerts(started, POLICY, CLOCK, local(2026, 11, 24, 12, 0))
    assert alerts == (SlaAlert(FIRST, "breach"),)
    assert with_alerts(started, alerts, POLICY, CLOCK).sla_warned == frozenset()


def test_the_resolution_is_watched_while_the_first_response_is_still_missing() -> None:
    breached = with_alerts(handed_off(), (SlaAlert(FIRST, "breach"),), POLICY, CLOCK)
    alerts = due_alerts(breached, POLICY, CLOCK, local(2026, 11, 30, 10, 24))
    assert alerts == (SlaAlert(RESOLUTION, "warning"),)
    warned = with_alerts(breached, alerts, POLICY, CLOCK)
    assert warned.sla_next_check == local(2026, 12, 1, 11, 30)
    alerts = due_alerts(warned, POLICY, CLOCK, local(2026, 12, 1, 11, 30))
    assert alerts == (SlaAlert(RESOLUTION, "breach"),)
    done = with_alerts(warned, alerts, POLICY, CLOCK)
    assert done.sla_next_check is None
    status = sla_status(done, POLICY, CLOCK, local(2026, 12, 1, 12, 0))
    assert status is not None and (status.target, status.state) == (FIRST, "breached")


def test_both_targets_can_fall_due_in_one_check() -> None:
    started = handed_off()
    alerts = due_alerts(started, POLICY, CLOCK, local(2026, 12, 2, 10, 0))
    assert alerts == (SlaAlert(FIRST, "breach"), SlaAlert(RESOLUTION, "breach"))
    assert with_alerts(started, alerts, POLICY, CLOCK).sla_next_check is None


def test_a_met_first_response_raises_nothing_for_it() -> None:
    answered = record_first_response(handed_off(), POLICY, CLOCK, local(2026, 11, 24, 10, 13))
    assert due_alerts(answered, POLICY, CLOCK, local(2026, 11, 24, 10, 30)) == ()


def test_snoozed_conversations_are_checked_when_they_wake() -> None:
    started = handed_off()
    soon = dataclasses.replace(
        started,
        status=ConversationStatus.SNOOZED,
        snoozed_until=local(2026, 11, 24, 10, 10),
    )
    assert next_check(soon, POLICY, CLOCK) == local(2026, 11, 24, 10, 10)
    later = dataclasses.replace(soon, snoozed_until=local(2026, 11, 26, 10, 0))
    assert next_check(later, POLICY, CLOCK) == local(2026, 11, 24, 10, 12)
    assert next_check(later, None, CLOCK) == local(2026, 11, 26, 10, 0)
    # a snooze left over on a conversation that is no longer snoozed does not count
    awake = dataclasses.replace(later, status=ConversationStatus.ASSIGNED)
    assert next_check(awake, None, CLOCK) is None


def test_with_alerts_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="kind"):
        with_alerts(handed_off(), (SlaAlert(FIRST, "panic"),), POLICY, CLOCK)


def test_without_a_policy_nothing_is_due() -> None:
    started = handed_off()
    late = local(2026, 12, 10, 10, 0)
    assert due_alerts(started, None, CLOCK, late) == ()
    assert sla_status(started, None, CLOCK, late) is None
    assert next_check(started, None, CLOCK) is None


def test_always_open_clock() -> None:
    clock = BusinessClock(None, LISBON)
    started = start_sla(conversation(), POLICY, clock, local(2026, 11, 28, 23, 0))
    assert started.first_response_due == local(2026, 11, 28, 23, 15)
    assert started.resolution_due == local(2026, 11, 30, 23, 0)
    assert started.sla_next_check == local(2026, 11, 28, 23, 12)
