"""The in-memory twin of `DynamoDBRateLimiter`, for service tests: the same decisions (it passes
tests/integration/test_rate_limiter_contract.py), one process only."""

from __future__ import annotations

import threading

from chalicelib.domain.pacing import Decision, Rate, decide


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
        with self._lock:
            decision = decide(self._tats.get(key), now_us, rate, max_delay_us=max_delay_us)
            if decision.new_tat is not None:
                self._tats[key] = decision.new_tat
            return decision
