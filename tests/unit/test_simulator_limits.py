"""The simulator's sending limits as pure logic: a fake `now`, no sleeps."""

from __future__ import annotations

import pytest

from chalicelib.simulator.limits import (
    PAIR_BURST,
    PAIR_REFILL_SECONDS,
    SERVICE_WINDOW_SECONDS,
    LimitVerdict,
    OutboundLimits,
    PairRateLimiter,
    ServiceWindows,
    ThroughputWindow,
    TokenBucket,
)

T0 = 1_750_000_000.0
RESIDENT = "351912345678"
OTHER_RESIDENT = "351934567890"


# ---- pair rate: a bucket of 45 refilling one token every 6 s ---------------------------------


def test_pair_rate_allows_a_burst_of_45_then_refuses() -> None:
    limiter = PairRateLimiter()

    admitted = [limiter.try_acquire(RESIDENT, T0) for _ in range(PAIR_BURST)]

    assert PAIR_BURST == 45
    assert all(admitted)
    assert not limiter.try_acquire(RESIDENT, T0)


def test_pair_rate_refills_one_message_every_six_seconds_after_a_burst() -> None:
    limiter = PairRateLimiter()
    for _ in range(PAIR_BURST):
        limiter.record(RESIDENT, T0)

    assert not limiter.allows(RESIDENT, T0 + PAIR_REFILL_SECONDS - 0.01)
    assert limiter.try_acquire(RESIDENT, T0 + PAIR_REFILL_SECONDS)
    assert not limiter.try_acquire(RESIDENT, T0 + PAIR_REFILL_SECONDS)
    assert limiter.try_acquire(RESIDENT, T0 + 2 * PAIR_REFILL_SECONDS)


def test_pair_rate_burst_borrows_from_the_future() -> None:
    """A burst of 20 must be paid back at the normal rate: 20 × 6 s = 2 minutes (facts §5.2)."""
    limiter = PairRateLimiter()
    for _ in range(20):
        limiter.record(RESIDENT, T0)

    # After the burst, 25 remain; two minutes later the bucket is full again, not fuller.
    later = T0 + 20 * PAIR_REFILL_SECONDS
    assert sum(limiter.try_acquire(RESIDENT, later) for _ in range(50)) == PAIR_BURST


def test_pair_rate_steady_one_every_six_seconds_is_never_refused() -> None:
    limiter = PairRateLimiter()
    for _ in range(PAIR_BURST):
        limiter.record(RESIDENT, T0)

    for step in range(1, 200):
        assert limiter.try_acquire(RESIDENT, T0 + step * PAIR_REFILL_SECONDS)


def test_pair_rate_recipients_do_not_share_a_bucket() -> None:
    limiter = PairRateLimiter()
    for _ in range(PAIR_BURST):
        limiter.record(RESIDENT, T0)

    assert not limiter.allows(RESIDENT, T0)
    assert limiter.allows(OTHER_RESIDENT, T0)


def test_pair_rate_refusals_cost_nothing() -> None:
    limiter = PairRateLimiter()
    for _ in range(PAIR_BURST):
        limiter.record(RESIDENT, T0)
    for _ in range(100):
        assert not limiter.try_acquire(RESIDENT, T0 + 1)

    assert limiter.try_acquire(RESIDENT, T0 + PAIR_REFILL_SECONDS)


def test_pair_rate_reports_the_wait_until_the_next_token() -> None:
    limiter = PairRateLimiter()
    for _ in range(PAIR_BURST):
        limiter.record(RESIDENT, T0)

    assert limiter.seconds_until_allowed(RESIDENT, T0 + 2) == pytest.approx(4.0)
    assert limiter.seconds_until_allowed(OTHER_RESIDENT, T0) == 0.0


def test_token_bucket_ignores_a_clock_that_goes_backwards() -> None:
    bucket = TokenBucket(capacity=2, refill_per_second=1, tokens=0, updated_at=T0)

    assert not bucket.at(T0 - 100).has_token
    assert bucket.at(T0 + 1).has_token
    assert bucket.at(T0 + 100).tokens == 2


# ---- throughput: max_mps in any sliding second ----------------------------------------------


def test_throughput_admits_80_per_second_by_default() -> None:
    window = ThroughputWindow()

    assert sum(window.try_acquire(T0 + i / 1000) for i in range(100)) == 80


def test_throughput_window_slides_rather_than_resetting_on_the_second() -> None:
    window = ThroughputWindow(max_per_second=4)
    for at in (T0, T0 + 0.1, T0 + 0.5, T0 + 0.6):
        assert window.try_acquire(at)

    assert not window.try_acquire(T0 + 0.99)
    # At T0 + 1.0 the first message has left the window; the one at +0.1 has not.
    assert window.try_acquire(T0 + 1.0)
    assert not window.try_acquire(T0 + 1.05)
    assert window.try_acquire(T0 + 1.1)
    assert not window.try_acquire(T0 + 1.2)


def test_throughput_refusals_do_not_fill_the_window() -> None:
    window = ThroughputWindow(max_per_second=2)
    window.record(T0)
    window.record(T0)
    for step in range(50):
        assert not window.try_acquire(T0 + step / 100)

    assert window.try_acquire(T0 + 1.0)


def test_throughput_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="max_per_second"):
        ThroughputWindow(max_per_second=0)


# ---- the 24 h customer service window -------------------------------------------------------


def test_service_window_is_closed_for_someone_who_never_wrote() -> None:
    windows = ServiceWindows()

    assert not windows.is_open(RESIDENT, T0)
    assert windows.closes_at(RESIDENT) is None
    assert windows.last_inbound(RESIDENT) is None


def test_service_window_stays_open_for_24_hours_after_the_last_message() -> None:
    windows = ServiceWindows()
    windows.record_inbound(RESIDENT, T0)

    assert SERVICE_WINDOW_SECONDS == 24 * 3600
    assert windows.is_open(RESIDENT, T0)
    assert windows.is_open(RESIDENT, T0 + SERVICE_WINDOW_SECONDS - 1)
    assert not windows.is_open(RESIDENT, T0 + SERVICE_WINDOW_SECONDS)
    assert not windows.is_open(OTHER_RESIDENT, T0)


def test_each_new_message_resets_the_window_to_24_hours() -> None:
    windows = ServiceWindows()
    windows.record_inbound(RESIDENT, T0)
    windows.record_inbound(RESIDENT, T0 + 20 * 3600)

    assert windows.is_open(RESIDENT, T0 + 30 * 3600)
    assert windows.closes_at(RESIDENT) == T0 + 44 * 3600


def test_a_late_arriving_older_message_does_not_shorten_the_window() -> None:
    windows = ServiceWindows()
    windows.record_inbound(RESIDENT, T0 + 100)
    windows.record_inbound(RESIDENT, T0)

    assert windows.last_inbound(RESIDENT) == T0 + 100


# ---- both rate limits together --------------------------------------------------------------


def test_outbound_limits_report_throughput_before_pair_rate() -> None:
    limits = OutboundLimits(max_mps=3)
    for resident in ("1", "2", "3"):
        assert limits.admit(resident, T0) is LimitVerdict.ADMITTED

    assert limits.admit("4", T0) is LimitVerdict.THROUGHPUT_EXCEEDED
    assert limits.admit("4", T0 + 1.0) is LimitVerdict.ADMITTED


def test_outbound_limits_pair_rate_refusal_does_not_use_throughput() -> None:
    limits = OutboundLimits(max_mps=PAIR_BURST + 2)
    for _ in range(PAIR_BURST):
        assert limits.admit(RESIDENT, T0) is LimitVerdict.ADMITTED

    for _ in range(10):
        assert limits.admit(RESIDENT, T0) is LimitVerdict.PAIR_RATE_EXCEEDED
    # Two throughput slots are still free in this second, because refusals were not charged.
    assert limits.admit(OTHER_RESIDENT, T0) is LimitVerdict.ADMITTED
    assert limits.admit("351900000000", T0) is LimitVerdict.ADMITTED
    assert limits.admit("351900000001", T0) is LimitVerdict.THROUGHPUT_EXCEEDED


def test_outbound_limits_check_charges_nothing() -> None:
    limits = OutboundLimits(max_mps=1)
    for _ in range(5):
        assert limits.check(RESIDENT, T0) is LimitVerdict.ADMITTED

    limits.record(RESIDENT, T0)
    assert limits.check(OTHER_RESIDENT, T0) is LimitVerdict.THROUGHPUT_EXCEEDED
