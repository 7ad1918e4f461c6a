"""When to try a refused or failed send again, and when to give up."""

from __future__ import annotations

PAIR_RATE_LIMIT_CODE = 131056
MAX_SEND_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
SQS_MAX_DELAY_SECONDS = 12 * 3600  # the longest visibility timeout SQS accepts


def retry_delay_seconds(code: int | None, attempt: int, jitter: float) -> int:
    """Seconds to wait before attempt number `attempt` + 1 (attempt counts from 1).

    Meta's own recipe for the pair rate is 4^X seconds (X = 0, 1, 2, …); everything else backs
    off exponentially with full jitter (`jitter` in [0, 1)), so many senders refused together do
    not come back together."""
    if code == PAIR_RATE_LIMIT_CODE:
        return min(SQS_MAX_DELAY_SECONDS, 4 ** (attempt - 1))
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return max(1, round(ceiling * jitter))


def exhausted(attempt: int) -> bool:
    return attempt >= MAX_SEND_ATTEMPTS
