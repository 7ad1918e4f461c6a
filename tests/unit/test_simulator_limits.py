"""The simulator's sending limits, fault injection and send statistics as pure logic: a fake
`now`, no sleeps."""

from __future__ import annotations

import random

import pytest

from chalicelib.simulator.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    FaultSettings,
    FaultSettingsError,
    ThrottleBurst,
)
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
from chalicelib.simulator.stats import SendStats, max_in_any_window

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


# ---- the busiest second, as the stats see it ------------------------------------------------


def test_max_in_any_window_uses_the_same_window_as_the_limit() -> None:
    assert max_in_any_window([]) == 0
    assert max_in_any_window([T0]) == 1
    assert max_in_any_window([T0, T0 + 0.5, T0 + 0.999]) == 3
    assert max_in_any_window([T0, T0 + 1.0]) == 1  # the limit admits both in a full window
    assert max_in_any_window([T0 + 1.1, T0, T0 + 0.2, T0 + 0.5]) == 3  # order does not matter


def test_whatever_the_limit_admits_never_exceeds_it_in_any_window() -> None:
    window = ThroughputWindow(max_per_second=10)
    rng = random.Random(3)
    at = T0
    admitted = []
    for _ in range(2000):
        at += rng.expovariate(30.0)  # ~30 attempts a second against a limit of 10
        if window.try_acquire(at):
            admitted.append(at)

    assert max_in_any_window(admitted) == 10


def test_send_stats_count_duplicates_and_faults() -> None:
    stats = SendStats(since=T0)
    for data in ("a", "b", "a", None, "a"):
        stats.record_accepted(T0, data)
    stats.record_rejected(131056)
    stats.record_rejected(999)
    stats.record_failed(131047)
    stats.record_fault(Fault(FaultKind.SERVER_ERROR, 500, 2))
    stats.record_fault(Fault(FaultKind.TIMEOUT, 504, hold_seconds=1.0))

    counts = stats.as_json()

    assert counts["accepted"] == 5
    assert counts["requests"] == 9
    assert counts["duplicates_by_callback_data"] == 1
    assert counts["duplicate_callback_data"] == {"a": 3}
    assert counts["rejected_by_code"]["131056"] == 1
    assert counts["rejected_by_code"]["999"] == 1
    assert counts["rejected_by_code"]["130429"] == 0  # listed even when zero
    assert counts["failed_by_code"] == {"131047": 1}
    assert counts["faults_injected"] == {
        "total": 2,
        "timeout": 1,
        "server_error": 1,
        "error_code": 0,
        "throttle_burst": 0,
    }
    assert counts["faults_injected_by_http_status"] == {"500": 1, "504": 1}
    assert counts["faults_injected_by_code"] == {"2": 1}


# ---- fault injection ------------------------------------------------------------------------


def _kinds(injector: FaultInjector, count: int) -> list[tuple[str, int] | None]:
    faults = [injector.decide() for _ in range(count)]
    return [None if f is None else (f.kind.value, f.http_status) for f in faults]


def test_no_settings_inject_nothing() -> None:
    assert _kinds(FaultInjector(), 100) == [None] * 100
    assert not FaultSettings().injects_anything


def test_a_seed_fixes_the_sequence_of_faults() -> None:
    settings = FaultSettings(
        server_error_rate=0.2, timeout_rate=0.1, error_codes={"131000": 0.1}, seed=7
    )
    # Key order must not matter either.
    same = FaultSettings(error_codes={131000: 0.1}, timeout_rate=0.1, server_error_rate=0.2, seed=7)

    first = _kinds(FaultInjector(settings), 200)

    assert first == _kinds(FaultInjector(same), 200)
    assert first != _kinds(FaultInjector(FaultSettings(server_error_rate=0.2, seed=8)), 200)


def test_rates_are_shares_of_requests() -> None:
    settings = FaultSettings(
        server_error_rate=0.2, timeout_rate=0.05, error_codes={130429: 0.1}, seed=1
    )
    kinds = _kinds(FaultInjector(settings), 20_000)

    def share(kind: str) -> float:
        return sum(1 for k in kinds if k is not None and k[0] == kind) / len(kinds)

    assert share("server_error") == pytest.approx(0.2, abs=0.01)
    assert share("timeout") == pytest.approx(0.05, abs=0.01)
    assert share("error_code") == pytest.approx(0.1, abs=0.01)
    statuses = {k[1] for k in kinds if k is not None and k[0] == "server_error"}
    assert statuses == {500, 502, 503}


def test_every_answer_comes_with_the_right_code_and_hold() -> None:
    injector = FaultInjector(FaultSettings(timeout_rate=1.0, timeout_seconds=2.5))
    timeout = injector.decide()
    assert timeout == Fault(FaultKind.TIMEOUT, 504, None, 2.5)

    injector = FaultInjector(FaultSettings(server_error_rate=1.0, seed=2))
    for fault in (injector.decide() for _ in range(50)):
        assert fault is not None
        assert fault.code == (2 if fault.http_status == 500 else None)

    injector = FaultInjector(FaultSettings(error_codes={"131016": 1.0}))
    assert injector.decide() == Fault(FaultKind.ERROR_CODE, 503, 131016)


def test_a_throttle_burst_comes_first_then_the_rates_apply() -> None:
    settings = FaultSettings(
        throttle_burst=ThrottleBurst(count=3, code=131056), error_codes={131000: 1.0}
    )
    injector = FaultInjector(settings)

    faults = [injector.decide() for _ in range(5)]

    assert [f.code for f in faults if f is not None] == [131056] * 3 + [131000] * 2
    assert [f.kind for f in faults[2:4] if f is not None] == [
        FaultKind.THROTTLE_BURST,
        FaultKind.ERROR_CODE,
    ]
    assert injector.throttle_burst_remaining == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"server_error_rate": 1.01},
        {"timeout_rate": float("nan")},
        {"server_error_rate": True},
        {"server_error_rate": 0.5, "timeout_rate": 0.5, "error_codes": {131000: 0.01}},
        {"error_codes": {131999: 0.1}},
        {"timeout_seconds": -1},
        {"seed": 1.5},
    ],
)
def test_fault_settings_refuse_what_cannot_apply(fields: dict) -> None:
    with pytest.raises(FaultSettingsError):
        FaultSettings(**fields)


def test_rates_adding_up_to_exactly_one_are_fine() -> None:
    settings = FaultSettings(server_error_rate=0.1, timeout_rate=0.2, error_codes={2: 0.7})

    assert settings.total_rate == pytest.approx(1.0)
    assert FaultSettings.from_json(settings.as_json()) == settings
    with pytest.raises(FaultSettingsError):
        ThrottleBurst(count=-1)
