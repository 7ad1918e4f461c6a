"""Service-level targets for conversations with people, counted in business time.

A conversation's SLA clock starts when it is first handed to a person (`start_sla`). Two targets
run from then: the first response (met by the first agent reply) and the resolution. Both are
due after the policy's durations of *open* time, so a conversation handed off on Friday evening
is not late on Saturday night. A warning is due once `warn_at` of a target's business time has
passed, the breach at the due moment. A breached first response does not stop the resolution
clock: both targets are watched until each is met.

The due moments are stored on the conversation when the clock starts; later changes to the
policy's durations affect new hand-offs only. Reopening a resolved conversation restarts its
resolution target from that moment (`restart_resolution`). Every moment here is an aware
datetime; results are in UTC.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.bot.definition import BusinessHours, MunicipalityDefinition, Sla, TimeRange
from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget

WARNING = "warning"
BREACH = "breach"
_ZERO = timedelta(0)
_NOT_WATCHED = frozenset({ConversationStatus.BOT, ConversationStatus.RESOLVED})


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _merged(spans: tuple[TimeRange, ...]) -> tuple[tuple[time, time], ...]:
    """A day's opening ranges, sorted, overlapping or touching ones joined."""
    merged: list[tuple[time, time]] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        start, end = span.start, span.end
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


class BusinessClock:
    """Arithmetic on the time agents are at work.

    Open intervals are built per local day and converted to UTC, so DST days count the real time
    that passes (a 00:00–03:00 range is 2 h on the spring-forward night, 4 h on the fall-back
    one). Without business hours (or hours that never open) every moment is open time."""

    def __init__(self, hours: BusinessHours | None, zone: ZoneInfo) -> None:
        self._zone = zone
        self._holidays: frozenset[date] = frozenset()
        self._weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        if hours is not None:
            self._weekly = {day: _merged(tuple(spans)) for day, spans in hours.weekly.items()}
            self._holidays = frozenset(hours.holidays)
        self._always_open = not any(self._weekly.values())

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self._holidays:
            return []
        intervals = []
        for start, end in self._weekly.get(day.weekday(), ()):
            opens = datetime.combine(day, start, tzinfo=self._zone).astimezone(UTC)
            closes = datetime.combine(day, end, tzinfo=self._zone).astimezone(UTC)
            if opens < closes:
                intervals.append((opens, closes))
        return intervals

    def _intervals_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in time order, from the local day of `moment` on (endless: a week
        always has open time and holidays are finite)."""
        day = moment.astimezone(self._zone).date()
        while True:
            yield from self._day_intervals(day)
            day += timedelta(days=1)

    def is_open(self, moment: datetime) -> bool:
        moment = _aware(moment, "moment")
        if self._always_open:
            return True
        return any(
            opens <= moment < closes
            for opens, closes in self._day_intervals(moment.astimezone(self._zone).date())
        )

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of open time after `start`. A target that runs out exactly
        at closing time is due at closing time, not at the next opening."""
        start = _aware(start, "start")
        if duration < _ZERO:
            raise ValueError("duration must not be negative")
        if self._always_open or duration == _ZERO:
            return start + duration
        remaining = duration
        for opens, closes in self._intervals_from(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise AssertionError("unreachable: open intervals never end")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from `start` to `end`; negative when `end` is before `start`."""
        start, end = _aware(start, "start"), _aware(end, "end")
        if end < start:
            return -self.between(end, start)
        if self._always_open:
            return end - start
        total = _ZERO
        for opens, closes in self._intervals_from(start):
            if opens >= end:
                break
            overlap = min(closes, end) - max(opens, start)
            if overlap > _ZERO:
                total += overlap
        return total


def clock_for(definition: MunicipalityDefinition) -> BusinessClock:
    return BusinessClock(definition.business_hours, definition.zone)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaStatus:
    target: SlaTarget
    due: datetime
    seconds_left: int  # business seconds; < 0 once breached
    state: str  # "ok" | "warning" | "breached"


@dataclass(frozen=True, slots=True)
class SlaAlert:
    target: SlaTarget
    kind: str  # "warning" | "breach"


def _due(conversation: Conversation, target: SlaTarget) -> datetime | None:
    if target is SlaTarget.FIRST_RESPONSE:
        return conversation.first_response_due
    return conversation.resolution_due


def _running(conversation: Conversation, policy: Sla | None) -> tuple[SlaTarget, ...]:
    """The targets not yet met whose clock runs, first response first."""
    if conversation.status in _NOT_WATCHED:
        return ()
    return _unmet(conversation, policy)


def _unmet(conversation: Conversation, policy: Sla | None) -> tuple[SlaTarget, ...]:
    if policy is None:
        return ()
    targets = []
    if conversation.first_response_at is None and conversation.first_response_due is not None:
        targets.append(SlaTarget.FIRST_RESPONSE)
    if conversation.resolution_due is not None:
        targets.append(SlaTarget.RESOLUTION)
    return tuple(targets)


def _warning_at(
    conversation: Conversation, target: SlaTarget, policy: Sla, clock: BusinessClock
) -> datetime | None:
    """`warn_at` of the target's business time after its clock started (the hand-off, or for
    the resolution the last reopening), from the stored due, so it agrees with the due moment
    even if the policy changed since."""
    due = _due(conversation, target)
    started = conversation.handed_off_at
    if target is SlaTarget.RESOLUTION and conversation.resolution_started_at is not None:
        started = conversation.resolution_started_at
    if due is None or started is None:
        return None
    total = clock.between(started, due)
    if total <= _ZERO:
        return due
    return clock.add(started, total * policy.warn_at)


def _moments(
    conversation: Conversation, target: SlaTarget, policy: Sla, clock: BusinessClock
) -> tuple[datetime | None, datetime]:
    due = _due(conversation, target)
    assert due is not None  # _running checked it
    return _warning_at(conversation, target, policy, clock), _aware(due, "due")


def next_check(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock
) -> datetime | None:
    """When the SLA job must next look at the conversation: a snooze ending, or the earliest
    warning or breach of a running target not yet recorded. None when nothing is pending."""
    if conversation.status in _NOT_WATCHED:
        return None
    return _next_check(conversation, policy, clock)


def _next_check(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock
) -> datetime | None:
    candidates: list[datetime] = []
    if conversation.status is ConversationStatus.SNOOZED and conversation.snoozed_until:
        candidates.append(_aware(conversation.snoozed_until, "snoozed_until"))
    if policy is not None:
        for target in _unmet(conversation, policy):
            if target in conversation.sla_breached:
                continue
            warning, due = _moments(conversation, target, policy, clock)
            if warning is not None and target not in conversation.sla_warned and warning < due:
                candidates.append(warning)
            candidates.append(due)
    return min(candidates, default=None)


def with_next_check(conversation: Conversation, definition: MunicipalityDefinition) -> Conversation:
    """`conversation` with its `sla_next_check` worked out again under the municipality's
    policy: what every change of status, snooze or holder must store."""
    return dataclasses.replace(
        conversation,
        sla_next_check=next_check(conversation, definition.sla, clock_for(definition)),
    )


def start_sla(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock, now: datetime
) -> Conversation:
    """The first hand-off to people starts the clock. A conversation already handed off is
    returned unchanged: transfers and escalations never restart it (a reopening restarts the
    resolution target only: `restart_resolution`).

    Safe to call before or after moving the status out of BOT: `sla_next_check` is computed as
    if the conversation were with people already."""
    if conversation.handed_off_at is not None:
        return conversation
    now = _aware(now, "now")
    started = dataclasses.replace(
        conversation,
        handed_off_at=now,
        first_response_due=clock.add(now, policy.first_response) if policy else None,
        resolution_due=clock.add(now, policy.resolution) if policy else None,
    )
    if started.status is ConversationStatus.RESOLVED:
        return dataclasses.replace(started, sla_next_check=None)
    return dataclasses.replace(started, sla_next_check=_next_check(started, policy, clock))


def restart_resolution(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock, now: datetime
) -> Conversation:
    """A reopened conversation: the resolution target runs again from `now`, in business time,
    and its warning and breach are forgotten, so a conversation resolved on time long ago is
    not late the moment it reopens. The first response keeps its outcome. A conversation never
    handed off starts its clock as at a first hand-off.

    Like `start_sla`, safe to call before moving the status out of RESOLVED."""
    if conversation.handed_off_at is None:
        return start_sla(conversation, policy, clock, now)
    now = _aware(now, "now")
    restarted = dataclasses.replace(
        conversation,
        resolution_due=clock.add(now, policy.resolution) if policy else None,
        resolution_started_at=now,
        sla_warned=conversation.sla_warned - {SlaTarget.RESOLUTION},
        sla_breached=conversation.sla_breached - {SlaTarget.RESOLUTION},
    )
    return dataclasses.replace(restarted, sla_next_check=_next_check(restarted, policy, clock))


def record_first_response(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock, now: datetime
) -> Conversation:
    """The first agent reply meets (or ends) the first-response target; later replies are no-ops."""
    if conversation.first_response_at is not None:
        return conversation
    answered = dataclasses.replace(conversation, first_response_at=_aware(now, "now"))
    return dataclasses.replace(answered, sla_next_check=next_check(answered, policy, clock))


def sla_status(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock, now: datetime
) -> SlaStatus | None:
    """The pending target as agents see it: the first response until answered, then the
    resolution. None without a policy, before the hand-off and once resolved."""
    running = _running(conversation, policy)
    if not running:
        return None
    assert policy is not None
    target = running[0]
    now = _aware(now, "now")
    warning, due = _moments(conversation, target, policy, clock)
    seconds_left = math.floor(clock.between(now, due).total_seconds())
    if now >= due or target in conversation.sla_breached:
        state, seconds_left = "breached", min(seconds_left, -1)
    elif (warning is not None and now >= warning) or target in conversation.sla_warned:
        state = "warning"
    else:
        state = "ok"
    return SlaStatus(target=target, due=due, seconds_left=seconds_left, state=state)


def due_alerts(
    conversation: Conversation, policy: Sla | None, clock: BusinessClock, now: datetime
) -> tuple[SlaAlert, ...]:
    """Warnings and breaches whose moment has come and that are not recorded yet. A target
    found already past its due gets only the breach (its warning would be news to no one)."""
    now = _aware(now, "now")
    alerts: list[SlaAlert] = []
    for target in _running(conversation, policy):
        if target in conversation.sla_breached:
            continue
        assert policy is not None
        warning, due = _moments(conversation, target, policy, clock)
        if now >= due:
            alerts.append(SlaAlert(target, BREACH))
        elif warning is not None and now >= warning and target not in conversation.sla_warned:
            alerts.append(SlaAlert(target, WARNING))
    return tuple(alerts)


def with_alerts(
    conversation: Conversation,
    alerts: Iterable[SlaAlert],
    policy: Sla | None,
    clock: BusinessClock,
) -> Conversation:
    """Records `alerts` so they are raised once, and moves `sla_next_check` on."""
    warned = set(conversation.sla_warned)
    breached = set(conversation.sla_breached)
    for alert in alerts:
        if alert.kind == BREACH:
            breached.add(alert.target)
        elif alert.kind == WARNING:
            warned.add(alert.target)
        else:
            raise ValueError(f"unknown SLA alert kind {alert.kind!r}")
    recorded = dataclasses.replace(
        conversation, sla_warned=frozenset(warned), sla_breached=frozenset(breached)
    )
    return dataclasses.replace(recorded, sla_next_check=next_check(recorded, policy, clock))
