"""Cloud API sending limits as pure logic: every decision takes `now` and reads no clock.

- per phone number: `max_mps` messages in any sliding 1-second window → 130429 (facts §5.1);
- per (number, recipient) pair: 1 message per 6 s with bursts up to 45, i.e. a token bucket of
  45 tokens refilling one token every 6 s → 131056 (facts §5.2);
- the 24 h customer service window, opened and reset by each inbound message (facts §5.5).

Only admitted messages count against a limit: a refused request costs nothing, so a sender that
backs off recovers as soon as it is back under the rate.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, replace
from enum import Enum

DEFAULT_MAX_MPS = 80
THROUGHPUT_WINDOW_SECONDS = 1.0
PAIR_BURST = 45
PAIR_REFILL_SECONDS = 6.0
SERVICE_WINDOW_SECONDS = 24 * 60 * 60

# Float refills accumulate rounding error; a token that is 1e-9 short is a whole token.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, *, capacity: float, refill_per_second: float, now: float) -> TokenBucket:
        return cls(capacity, refill_per_second, capacity, now)

    def at(self, now: float) -> TokenBucket:
        """The bucket as it stands at `now` (a clock that went backwards refills nothing)."""
        elapsed = max(0.0, now - self.updated_at)
        tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        return replace(self, tokens=tokens, updated_at=max(now, self.updated_at))

    @property
    def has_token(self) -> bool:
        return self.tokens + _EPSILON >= 1.0

    def taken(self) -> TokenBucket:
        return replace(self, tokens=max(0.0, self.tokens - 1.0))

    def seconds_until_token(self) -> float:
        if self.has_token:
            return 0.0
        return (1.0 - self.tokens) / self.refill_per_second


class PairRateLimiter:
    """One token bucket per recipient of one business number."""

    def __init__(
        self, *, burst: int = PAIR_BURST, refill_seconds: float = PAIR_REFILL_SECONDS
    ) -> None:
        self._burst = burst
        self._refill_per_second = 1.0 / refill_seconds
        self._buckets: dict[Hashable, TokenBucket] = {}

    def _bucket(self, recipient: Hashable, now: float) -> TokenBucket:
        bucket = self._buckets.get(recipient)
        if bucket is None:
            return TokenBucket.full(
                capacity=self._burst, refill_per_second=self._refill_per_second, now=now
            )
        return bucket.at(now)

    def allows(self, recipient: Hashable, now: float) -> bool:
        return self._bucket(recipient, now).has_token

    def record(self, recipient: Hashable, now: float) -> None:
        self._buckets[recipient] = self._bucket(recipient, now).taken()

    def try_acquire(self, recipient: Hashable, now: float) -> bool:
        if not self.allows(recipient, now):
            return False
        self.record(recipient, now)
        return True

    def seconds_until_allowed(self, recipient: Hashable, now: float) -> float:
        return self._bucket(recipient, now).seconds_until_token()


class ThroughputWindow:
    """At most `max_per_second` messages in any sliding window of one second."""

    def __init__(self, max_per_second: int = DEFAULT_MAX_MPS) -> None:
        if max_per_second < 1:
            raise ValueError("max_per_second must be at least 1")
        self._max = max_per_second
        self._admitted_at: deque[float] = deque()

    def _prune(self, now: float) -> None:
        horizon = now - THROUGHPUT_WINDOW_SECONDS
        while self._admitted_at and self._admitted_at[0] <= horizon:
            self._admitted_at.popleft()

    def allows(self, now: float) -> bool:
        self._prune(now)
        return len(self._admitted_at) < self._max

    def record(self, now: float) -> None:
        self._prune(now)
        self._admitted_at.append(now)

    def try_acquire(self, now: float) -> bool:
        if not self.allows(now):
            return False
        self.record(now)
        return True


class ServiceWindows:
    """When each recipient last wrote to the business, hence whether free-form is allowed."""

    def __init__(self, length_seconds: float = SERVICE_WINDOW_SECONDS) -> None:
        self._length = length_seconds
        self._last_inbound: dict[Hashable, float] = {}

    def record_inbound(self, recipient: Hashable, at: float) -> None:
        previous = self._last_inbound.get(recipient)
        self._last_inbound[recipient] = at if previous is None else max(previous, at)

    def last_inbound(self, recipient: Hashable) -> float | None:
        return self._last_inbound.get(recipient)

    def closes_at(self, recipient: Hashable) -> float | None:
        last = self._last_inbound.get(recipient)
        return None if last is None else last + self._length

    def is_open(self, recipient: Hashable, now: float) -> bool:
        closes_at = self.closes_at(recipient)
        return closes_at is not None and now < closes_at


class LimitVerdict(Enum):
    ADMITTED = "admitted"
    THROUGHPUT_EXCEEDED = "throughput_exceeded"  # 130429
    PAIR_RATE_EXCEEDED = "pair_rate_exceeded"  # 131056


class OutboundLimits:
    """Both rate limits of one business number, checked together and charged together."""

    def __init__(
        self,
        *,
        max_mps: int = DEFAULT_MAX_MPS,
        pair_burst: int = PAIR_BURST,
        pair_refill_seconds: float = PAIR_REFILL_SECONDS,
    ) -> None:
        self._throughput = ThroughputWindow(max_mps)
        self._pairs = PairRateLimiter(burst=pair_burst, refill_seconds=pair_refill_seconds)

    def check(self, recipient: Hashable, now: float) -> LimitVerdict:
        """Which limit, if any, a message to `recipient` at `now` would break; charges nothing."""
        if not self._throughput.allows(now):
            return LimitVerdict.THROUGHPUT_EXCEEDED
        if not self._pairs.allows(recipient, now):
            return LimitVerdict.PAIR_RATE_EXCEEDED
        return LimitVerdict.ADMITTED

    def record(self, recipient: Hashable, now: float) -> None:
        """Charge an admitted message to both limits."""
        self._throughput.record(now)
        self._pairs.record(recipient, now)

    def admit(self, recipient: Hashable, now: float) -> LimitVerdict:
        verdict = self.check(recipient, now)
        if verdict is LimitVerdict.ADMITTED:
            self.record(recipient, now)
        return verdict


MESSAGING_LIMIT_ERROR_CODE = 131048


class MessagingLimit:
    """The portfolio's messaging limit (facts §5.4): at most `limit` unique recipients reached
    by business-initiated messages — sent outside their service window — in a moving 24 h.
    None: unlimited. A recipient already reached in the window costs nothing more, and leaves
    the count `window_seconds` after they were last reached."""

    def __init__(self, limit: int | None, window_seconds: float = SERVICE_WINDOW_SECONDS) -> None:
        if limit is not None and limit < 1:
            raise ValueError("the messaging limit must be at least 1 (or None: unlimited)")
        self.limit = limit
        self._window = window_seconds
        # recipient → when last reached, least recently reached first: pruning stops at the
        # first recipient still inside the window.
        self._reached: OrderedDict[Hashable, float] = OrderedDict()

    def _prune(self, now: float) -> None:
        horizon = now - self._window
        while self._reached:
            recipient, at = next(iter(self._reached.items()))
            if at > horizon:
                break
            del self._reached[recipient]

    def allows(self, recipient: Hashable, now: float) -> bool:
        if self.limit is None:
            return True
        self._prune(now)
        return recipient in self._reached or len(self._reached) < self.limit

    def record(self, recipient: Hashable, now: float) -> None:
        self._reached[recipient] = max(now, self._reached.get(recipient, now))
        self._reached.move_to_end(recipient)

    def used(self, now: float) -> int:
        self._prune(now)
        return len(self._reached)
