"""GCRA pacing as pure logic, and the send-slot helper on the in-memory limiter: a fake clock,
no sleeps. The simulator's limits (our stand-in for Meta's) act as the referee."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest

from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
from chalicelib.domain.pacing import (
    MICROS_PER_SECOND,
    Decision,
    Rate,
    decide,
    number_rate,
    pair_rate,
)
from chalicelib.services.pacing import PaceResult, acquire_send_slot, number_key, pair_key
from chalicelib.services.pacing_ports import RateLimiter
from chalicelib.simulator.limits import PairRateLimiter, ThroughputWindow

T0 = 1_750_000_000 * MICROS_PER_SECOND
SECOND = MICROS_PER_SECOND
CAPS = (1, 2, 5, 10, 20, 33, 80, 250, 1000)


def take_all(
    rate: Rate, times_us: Iterable[int], *, tat: int | None = None, max_delay_us: int = 0
) -> list[int]:
    """Ask for a slot at each time (in order) on one key; the times of the slots granted."""
    granted = []
    for now in times_us:
        decision = decide(tat, now, rate, max_delay_us=max_delay_us)
        if decision.allowed:
            tat = decision.new_tat
            granted.append(now + decision.send_after_us)
    return granted


def most_in_any_window(times_us: Sequence[int], window_us: int = SECOND) -> int:
    """The most times inside one half-open window [t, t + window_us), over every t."""
    ordered = sorted(times_us)
    most = start = 0
    for end, time in enumerate(ordered):
        while ordered[start] <= time - window_us:
            start += 1
        most = max(most, end - start + 1)
    return most


def random_arrivals(rng: random.Random, per_second: float, seconds: float) -> list[int]:
    """Poisson arrivals, with bunches: a few callers firing at the very same microsecond."""
    times, now = [], T0
    while now < T0 + seconds * SECOND:
        now += int(rng.expovariate(per_second) * SECOND)
        times.extend([now] * rng.choice((1, 1, 1, 2, 5)))
    return times


# ---- Rate ------------------------------------------------------------------------------------


def test_a_rate_has_an_integer_interval_and_a_tolerance_of_burst_minus_one_intervals() -> None:
    rate = Rate(per_second=4, burst=3)

    assert (rate.interval_us, rate.tolerance_us) == (250_000, 500_000)


def test_the_interval_is_rounded_up_never_pacing_faster_than_the_rate() -> None:
    assert Rate(per_second=3, burst=1).interval_us == 333_334
    assert Rate(per_second=76, burst=1).interval_us == 13_158
    assert Rate(per_second=1 / 6, burst=1).interval_us == 6 * SECOND  # not 6_000_001


@pytest.mark.parametrize(("per_second", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_rate_must_be_positive_with_a_burst_of_at_least_one(
    per_second: float, burst: int
) -> None:
    with pytest.raises(ValueError):
        Rate(per_second=per_second, burst=burst)


# ---- decide ----------------------------------------------------------------------------------


def test_a_fresh_key_grants_a_slot_and_moves_tat_one_interval_ahead() -> None:
    rate = Rate(per_second=10, burst=1)

    assert decide(None, T0, rate) == Decision(allowed=True, new_tat=T0 + 100_000, retry_after_us=0)


def test_a_tat_in_the_past_is_the_same_as_none() -> None:
    rate = Rate(per_second=10, burst=2)

    assert decide(T0 - 5 * SECOND, T0, rate) == decide(None, T0, rate)


def test_a_burst_goes_at_once_and_then_one_per_interval() -> None:
    rate = Rate(per_second=10, burst=3)
    tat = None
    for _ in range(3):
        decision = decide(tat, T0, rate)
        assert decision.allowed
        tat = decision.new_tat

    refused = decide(tat, T0, rate)

    assert refused == Decision(allowed=False, new_tat=None, retry_after_us=100_000)
    assert tat == T0 + 300_000  # tat itself is not moved by a refusal


def test_retry_after_is_exact() -> None:
    rate = Rate(per_second=7, burst=4)
    tat = T0 + 5 * SECOND
    refused = decide(tat, T0, rate)

    assert not refused.allowed
    assert refused.retry_after_us == tat - rate.tolerance_us - T0
    assert not decide(tat, T0 + refused.retry_after_us - 1, rate).allowed
    assert decide(tat, T0 + refused.retry_after_us, rate).allowed


def test_allowed_exactly_when_new_tat_minus_now_is_within_tolerance_plus_interval() -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        rate = Rate(per_second=rng.uniform(0.1, 2000), burst=rng.randint(1, 50))
        now = T0 + rng.randint(-10 * SECOND, 10 * SECOND)
        tat = rng.choice([None, T0 + rng.randint(-20 * SECOND, 40 * SECOND)])
        new_tat = max(tat if tat is not None else now, now) + rate.interval_us

        decision = decide(tat, now, rate)

        assert decision.allowed == (new_tat - now <= rate.tolerance_us + rate.interval_us)
        assert decision.new_tat == (new_tat if decision.allowed else None)
        assert (decision.retry_after_us > 0) == (not decision.allowed)


def test_a_delay_reserves_the_next_slot_instead_of_refusing() -> None:
    rate = Rate(per_second=10, burst=1)
    tat = T0 + 250_000  # slots are due at T0 + 250 ms, + 350 ms, ...

    reserved = decide(tat, T0, rate, max_delay_us=SECOND)
    too_far = decide(T0 + 2 * SECOND, T0, rate, max_delay_us=SECOND)

    assert reserved == Decision(
        allowed=True, new_tat=T0 + 350_000, retry_after_us=0, send_after_us=250_000
    )
    assert too_far == Decision(allowed=False, new_tat=None, retry_after_us=SECOND)
    assert decide(T0 + 2 * SECOND, T0 + too_far.retry_after_us, rate, max_delay_us=SECOND).allowed


def test_the_reserved_slots_of_queued_callers_are_one_interval_apart() -> None:
    rate = Rate(per_second=10, burst=1)

    granted = take_all(rate, [T0] * 15, max_delay_us=SECOND)

    assert granted == [T0 + i * 100_000 for i in range(11)]


# ---- the number's throughput -----------------------------------------------------------------


def test_the_default_number_rate_paces_76_per_second_in_bursts_of_3() -> None:
    rate = number_rate()

    assert (rate.per_second, rate.burst, rate.interval_us) == (76.0, 3, 13_158)
    assert rate.most_within(SECOND) == 78  # 2 of Meta's 80 left for timing differences


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("headroom", [1.0, 0.95, 0.9, 0.5])
def test_no_number_rate_grants_more_than_the_cap_within_a_second(cap: int, headroom: float) -> None:
    assert number_rate(cap, headroom).most_within(SECOND) <= cap


@pytest.mark.parametrize("cap", CAPS)
def test_over_any_sliding_second_the_slots_granted_stay_within_the_cap(cap: int) -> None:
    rng = random.Random(cap)
    rate = number_rate(cap)
    for load in (0.5, 1.0, 3.0):  # callers asking at a multiple of the cap
        arrivals = random_arrivals(rng, per_second=load * cap, seconds=min(20, 4000 / cap))

        granted = take_all(rate, arrivals)

        assert most_in_any_window(granted) <= rate.most_within(SECOND) <= cap


@pytest.mark.parametrize("cap", CAPS)
def test_reserved_slots_also_stay_within_the_cap(cap: int) -> None:
    rng = random.Random(-cap)
    rate = number_rate(cap)
    arrivals = random_arrivals(rng, per_second=3 * cap, seconds=min(20, 4000 / cap))

    granted = take_all(rate, arrivals, max_delay_us=2 * SECOND)

    assert most_in_any_window(granted) <= cap


def test_a_burst_reaches_the_bound_exactly() -> None:
    rate = number_rate(80)
    arrivals = [T0 + i * 1_000 for i in range(2_000)]  # a caller every millisecond

    assert most_in_any_window(take_all(rate, arrivals)) == rate.most_within(SECOND) == 78


@pytest.mark.parametrize("cap", CAPS)
def test_callers_that_wait_for_reserved_slots_get_nine_tenths_of_the_cap(cap: int) -> None:
    rng = random.Random(cap + 1)
    seconds = max(10, 200 // cap)
    arrivals = random_arrivals(rng, per_second=2 * cap, seconds=seconds)
    end = arrivals[0] + seconds * SECOND

    granted = take_all(number_rate(cap), arrivals, max_delay_us=2 * SECOND)

    assert sum(at < end for at in granted) >= 0.9 * cap * seconds


@pytest.mark.parametrize("cap", [80, 250, 1000])
def test_callers_that_never_wait_get_nine_tenths_of_a_large_cap_when_busy(cap: int) -> None:
    # The burst lets a caller that comes a little late use the slot it missed; with small caps
    # the burst must be 1 and missed slots are lost, hence acquire_send_slot's reservations.
    rng = random.Random(cap + 2)
    arrivals = random_arrivals(rng, per_second=2 * cap, seconds=10)

    granted = take_all(number_rate(cap), arrivals)

    assert len(granted) >= 0.9 * cap * 10


def test_metas_sliding_window_never_refuses_what_we_granted() -> None:
    rng = random.Random(80)
    meta = ThroughputWindow(80)
    granted = take_all(number_rate(80), random_arrivals(rng, per_second=400, seconds=30))

    assert all(meta.try_acquire((at - T0) / SECOND) for at in granted)


# ---- the pair rate ---------------------------------------------------------------------------


def test_the_pair_rate_is_one_per_six_seconds_with_bursts_of_45() -> None:
    rate = pair_rate()

    assert (rate.interval_us, rate.burst, rate.tolerance_us) == (6 * SECOND, 45, 264 * SECOND)


def test_a_pair_bursts_45_then_gets_one_message_every_six_seconds() -> None:
    rate = pair_rate()
    tat = None
    for _ in range(45):
        decision = decide(tat, T0, rate)
        assert decision.allowed
        tat = decision.new_tat

    assert decide(tat, T0, rate).retry_after_us == 6 * SECOND

    granted = take_all(rate, [*[T0] * 50, *range(T0, T0 + 60 * SECOND, SECOND // 2)])

    assert granted == [T0] * 45 + [T0 + i * 6 * SECOND for i in range(1, 10)]


def test_an_idle_pair_gets_its_whole_burst_back() -> None:
    rate = pair_rate()
    tat = None
    for _ in range(45):
        tat = decide(tat, T0, rate).new_tat

    not_yet = T0 + 44 * 6 * SECOND
    later = T0 + 45 * 6 * SECOND  # 4.5 minutes: the borrowed quota has been paid back

    assert len(take_all(rate, [not_yet] * 50, tat=tat)) == 44
    assert len(take_all(rate, [later] * 50, tat=tat)) == 45


def test_metas_pair_limit_never_refuses_what_we_granted() -> None:
    rng = random.Random(45)
    meta = PairRateLimiter()
    arrivals = sorted(T0 + rng.randint(0, 3600 * SECOND) for _ in range(3_000))
    arrivals[100:100] = [arrivals[100]] * 60  # a broadcast plus replies at one instant

    granted = take_all(pair_rate(), sorted(arrivals))

    assert len(granted) >= 3600 // 6
    assert all(meta.try_acquire("resident", (at - T0) / SECOND) for at in granted)


# ---- acquire_send_slot -----------------------------------------------------------------------


@dataclass
class FakeClock:
    now: int = T0

    def now_us(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += round(seconds * SECOND)


NUMBER = "106540352242922"
NUMBER_RATE = Rate(per_second=10, burst=1)


def slot(
    limiter: RateLimiter, clock: FakeClock, recipient: str, max_wait_s: float = 2.0
) -> PaceResult:
    return acquire_send_slot(
        limiter,
        phone_number_id=NUMBER,
        recipient=recipient,
        number_rate=NUMBER_RATE,
        pair_rate=pair_rate(),
        now_us=clock.now_us,
        sleep=clock.sleep,
        max_wait_s=max_wait_s,
    )


def test_a_free_slot_is_taken_without_sleeping() -> None:
    clock = FakeClock()

    assert slot(InMemoryRateLimiter(), clock, "34600000001") == PaceResult(ok=True)
    assert clock.now == T0


def test_a_busy_number_is_waited_for_until_the_reserved_slot() -> None:
    limiter, clock = InMemoryRateLimiter(), FakeClock()
    sent_at = []
    for i in range(5):
        assert slot(limiter, clock, f"3460000000{i}").ok
        sent_at.append(clock.now)

    assert sent_at == [T0 + i * 100_000 for i in range(5)]


def test_a_number_backed_up_beyond_max_wait_refuses_without_sleeping() -> None:
    limiter, clock = InMemoryRateLimiter(), FakeClock()
    for _ in range(25):  # 2.5 s of the number's slots reserved by other Lambdas
        limiter.acquire(number_key(NUMBER), NUMBER_RATE, T0, max_delay_us=10 * SECOND)

    result = slot(limiter, clock, "34600000001", max_wait_s=2.0)

    assert result == PaceResult(ok=False, retry_after_s=0.5, refused_by="number")
    assert clock.now == T0


def test_a_refused_pair_is_deferred_alone_and_costs_no_number_slot() -> None:
    limiter, clock = InMemoryRateLimiter(), FakeClock()
    for _ in range(45):
        limiter.acquire(pair_key(NUMBER, "34600000001"), pair_rate(), T0)

    refused = slot(limiter, clock, "34600000001")
    other = slot(limiter, clock, "34600000002")

    assert refused == PaceResult(ok=False, retry_after_s=6.0, refused_by="pair")
    assert other == PaceResult(ok=True)  # the number's first slot was still free
    assert clock.now == T0


class RacingLimiter:
    """Loses `races` races on the number key before granting."""

    def __init__(self, races: int) -> None:
        self.races = races
        self.inner = InMemoryRateLimiter()

    def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
        if key.startswith("number#") and self.races:
            self.races -= 1
            return Decision(allowed=False, new_tat=None, retry_after_us=0)
        return self.inner.acquire(key, rate, now_us, max_delay_us=max_delay_us)


def test_a_lost_race_is_asked_again_at_once() -> None:
    clock = FakeClock()

    assert slot(RacingLimiter(races=2), clock, "34600000001").ok
    assert slot(RacingLimiter(races=9), clock, "34600000001") == PaceResult(
        ok=False, retry_after_s=0.1, refused_by="number"
    )


class SlowLimiter:
    """Each request takes `latency_us` of the fake clock's time."""

    def __init__(self, clock: FakeClock, latency_us: int) -> None:
        self.clock, self.latency_us = clock, latency_us
        self.inner = InMemoryRateLimiter()

    def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
        self.clock.now += self.latency_us
        return self.inner.acquire(key, rate, now_us, max_delay_us=max_delay_us)


def test_the_time_a_request_takes_counts_towards_the_wait_for_the_slot() -> None:
    clock = FakeClock()
    limiter = SlowLimiter(clock, latency_us=30_000)
    limiter.inner.acquire(number_key(NUMBER), NUMBER_RATE, T0)  # the next slot is at T0 + 100 ms

    result = slot(limiter, clock, "34600000001")

    # Asked at T0 + 30 ms (after the pair's request) for the slot at T0 + 100 ms.
    assert result == PaceResult(ok=True, waited_s=0.07)
    assert clock.now == T0 + 100_000


def test_a_lost_race_for_the_pair_is_asked_again_too() -> None:
    class PairRacingLimiter(RacingLimiter):
        def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
            if key.startswith("pair#") and self.races:
                self.races -= 1
                return Decision(allowed=False, new_tat=None, retry_after_us=0)
            return self.inner.acquire(key, rate, now_us, max_delay_us=max_delay_us)

    assert slot(PairRacingLimiter(races=1), FakeClock(), "34600000001").ok
