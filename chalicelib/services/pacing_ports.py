"""The port the pacing use case needs: a rate limiter shared by every Lambda that sends.

Kept apart from `ports.py` so pacing can change without touching the stores' contracts."""

from __future__ import annotations

from typing import Protocol

from chalicelib.domain.pacing import Decision, Rate


class RateLimiter(Protocol):
    def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
        """Take one slot of `key` at `now_us` (microseconds since the epoch) if `rate` allows,
        as `chalicelib.domain.pacing.decide` would with the key's shared state; with
        `max_delay_us`, reserve the first slot no further away than that instead of refusing.
        Atomic across processes: concurrent callers never share a slot."""
        ...
