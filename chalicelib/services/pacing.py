"""Take the slots one outbound message needs before calling the Graph API: one of its business
number's throughput (shared by every sender Lambda) and one of the (number, recipient) pair.

The number slot may be waited for, briefly: the limiter reserves the first free slot up to
`max_wait_s` ahead and we sleep until it, so concurrent Lambdas queue behind one another with one
write each instead of all retrying at the same instant. The pair slot is never waited for: a
recipient who is being sent too much is deferred alone (the caller puts that message back) while
the batch goes on to others. See docs/pacing.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from chalicelib.domain.pacing import MICROS_PER_SECOND, Decision, Rate
from chalicelib.services.pacing_ports import RateLimiter

# A refusal with retry_after 0 means the limiter lost races; asking again settles it quickly.
_MAX_ASKS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class PaceResult:
    """`ok`: send now. Otherwise don't send; try again in `retry_after_s`. `refused_by` says
    whose limit: "pair" (defer only this recipient) or "number" (the whole number is busy)."""

    ok: bool
    retry_after_s: float = 0.0
    refused_by: Literal["pair", "number"] | None = None
    waited_s: float = 0.0


def number_key(phone_number_id: str) -> str:
    return f"number#{phone_number_id}"


PAIR_KEY_PREFIX = "pair#"  # pair#<phone number id>#<recipient>


def pair_key(phone_number_id: str, recipient: str) -> str:
    return f"{PAIR_KEY_PREFIX}{phone_number_id}#{recipient}"


def acquire_send_slot(
    limiter: RateLimiter,
    *,
    phone_number_id: str,
    recipient: str,
    number_rate: Rate,
    pair_rate: Rate,
    now_us: Callable[[], int],
    sleep: Callable[[float], None],
    max_wait_s: float = 2.0,
) -> PaceResult:
    """Block (at most `max_wait_s`) until a message to `recipient` may go out now."""
    # The pair first. Its refusal is the common one (a resident getting many messages) and
    # costs nothing, whereas a number slot taken before it would be lost to every recipient:
    # the shared throughput would drop by one message for each refused pair. The other order's
    # waste — a pair slot taken when the number then refuses — only ever delays this recipient,
    # and only when the number is backed up by more than `max_wait_s`.
    pair, _ = _ask(limiter, pair_key(phone_number_id, recipient), pair_rate, now_us, 0)
    if not pair.allowed:
        return PaceResult(ok=False, retry_after_s=_seconds(pair.retry_after_us), refused_by="pair")

    max_delay_us = round(max_wait_s * MICROS_PER_SECOND)
    number, asked_at = _ask(limiter, number_key(phone_number_id), number_rate, now_us, max_delay_us)
    if not number.allowed:
        return PaceResult(
            ok=False,
            retry_after_s=_seconds(max(number.retry_after_us, number_rate.interval_us)),
            refused_by="number",
        )
    # The slot is a point in time: the request's own latency is part of the wait, not added to
    # it, or sends would drift late by varying amounts and bunch up.
    remaining = asked_at + number.send_after_us - now_us()
    if remaining > 0:
        sleep(_seconds(remaining))
    return PaceResult(ok=True, waited_s=_seconds(number.send_after_us))


def _ask(
    limiter: RateLimiter, key: str, rate: Rate, now_us: Callable[[], int], max_delay_us: int
) -> tuple[Decision, int]:
    """The limiter's answer and when it was asked, asking again while the answer is only "lost
    a race, ask again"."""
    for _ in range(_MAX_ASKS):
        asked_at = now_us()
        decision = limiter.acquire(key, rate, asked_at, max_delay_us=max_delay_us)
        if decision.allowed or decision.retry_after_us > 0:
            break
    return decision, asked_at


def _seconds(microseconds: int) -> float:
    return microseconds / MICROS_PER_SECOND
