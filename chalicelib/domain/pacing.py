"""Pacing by GCRA, the generic cell rate algorithm: pure arithmetic on one integer per key.

A key's whole state is its theoretical arrival time `tat` (microseconds since the epoch): when the
next slot would be due if every slot so far had been taken exactly at the rate. A slot asked for
at `now` is granted iff `max(tat, now) - now <= tolerance`, where tolerance = (burst - 1) ×
interval; granting moves `tat` to `max(tat, now) + interval`. That is a token bucket of `burst`
tokens refilled one per interval, kept in one number that only ever grows — which is what lets
DynamoDB hold it with one conditional write and no read (`adapters/dynamodb_rate_limiter.py`).

Times are integers: float seconds would drift over the years that epoch microseconds count.
See docs/pacing.md for the choices behind the rates below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MICROS_PER_SECOND = 1_000_000

DEFAULT_MAX_MPS = 80  # Meta's default throughput per business number (facts §5.1)
DEFAULT_HEADROOM = 0.95
PAIR_INTERVAL_SECONDS = 6.0  # one message per 6 s to one recipient (facts §5.2)
PAIR_BURST = 45


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_second` slots per second on average, at most `burst` of them at once."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise ValueError(f"per_second must be positive, got {self.per_second}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")

    @property
    def interval_us(self) -> int:
        # Rounded up, so the integer interval never paces faster than the rate. The tiny
        # subtraction keeps float noise (1 / (1/6) = 6000000.000000001) from adding a microsecond.
        return max(1, math.ceil(MICROS_PER_SECOND / self.per_second - 1e-6))

    @property
    def tolerance_us(self) -> int:
        return (self.burst - 1) * self.interval_us

    def most_within(self, window_us: int) -> int:
        """The most slots granted within any half-open window [t, t + window_us).

        Granted slots n apart are at least (n - burst) intervals apart, so n slots fit in the
        window only while (n - burst) × interval < window."""
        return self.burst + math.ceil(window_us / self.interval_us) - 1


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request for a slot.

    Allowed: store `new_tat`; the slot is `send_after_us` from now (0 unless the request accepted
    a delay). Refused: nothing changes; the same request is allowed `retry_after_us` from now. A
    refusal with `retry_after_us == 0` means the store lost a race and the caller may ask again
    at once."""

    allowed: bool
    new_tat: int | None
    retry_after_us: int
    send_after_us: int = 0


def decide(tat: int | None, now_us: int, rate: Rate, *, max_delay_us: int = 0) -> Decision:
    """Whether a slot is free at `now_us` for a key whose state is `tat` (None: never used).

    `max_delay_us` > 0 reserves a slot up to that far in the future instead of refusing, so
    concurrent callers queue behind one another instead of all asking again at the same instant.
    """
    start = now_us if tat is None else max(tat, now_us)
    wait = start - rate.tolerance_us - now_us  # until this slot conforms
    if wait > max_delay_us:
        return Decision(allowed=False, new_tat=None, retry_after_us=wait - max_delay_us)
    return Decision(
        allowed=True,
        new_tat=start + rate.interval_us,
        retry_after_us=0,
        send_after_us=max(0, wait),
    )


def number_rate(max_mps: int = DEFAULT_MAX_MPS, headroom: float = DEFAULT_HEADROOM) -> Rate:
    """The pace for one business number whose throughput cap is `max_mps` messages per second.

    Paces at `headroom` × the cap and splits the spare capacity: half of it may go in bursts
    (so a caller that arrives a little late catches up its lost slot), the other half is never
    granted and absorbs timing differences between us and Meta: no 1-second window holds more
    than 78 of 80 slots by default (`Rate.most_within`), and never more than `max_mps`."""
    if max_mps < 1:
        raise ValueError(f"max_mps must be at least 1, got {max_mps}")
    if not 0 < headroom <= 1:
        raise ValueError(f"headroom must be in (0, 1], got {headroom}")
    per_second = max_mps * headroom
    spare = max_mps - per_second
    return Rate(per_second=per_second, burst=1 + math.floor(spare / 2))


def pair_rate(every_seconds: float = PAIR_INTERVAL_SECONDS, burst: int = PAIR_BURST) -> Rate:
    """One message to the same recipient every `every_seconds`, with up to `burst` at once."""
    return Rate(per_second=1 / every_seconds, burst=burst)
