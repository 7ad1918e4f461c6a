"""What happened to `POST /{v}/{phone_number_id}/messages` since the last reset, for tests and
benchmarks of the outbound pipeline (`GET /_sim/stats`).

Times are the simulator's clock, the same one the rate limits read, so
`max_accepted_in_any_1s_window` can be held against `max_mps` directly.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.simulator.faults import Fault, FaultKind
from chalicelib.simulator.limits import THROUGHPUT_WINDOW_SECONDS

# Refusals the simulator decides on its own for this endpoint, listed even at zero so a
# benchmark can read `rejected_by_code["130429"]` without guarding against a missing key.
GENUINE_REFUSAL_CODES = (100, 190, 130429, 131008, 131009, 131047, 131056, 132001)
ASYNC_FAILURE_CODES = (131047,)
MAX_DUPLICATES_LISTED = 100


def max_in_any_window(times: Iterable[float], seconds: float = THROUGHPUT_WINDOW_SECONDS) -> int:
    """The most events in any sliding window of `seconds`, a window being `(t - seconds, t]` as
    in `limits.ThroughputWindow`: two events are in one window when less than `seconds` apart."""
    ordered = sorted(times)
    best = 0
    for end, at in enumerate(ordered):
        start = bisect.bisect_right(ordered, at - seconds, 0, end + 1)
        best = max(best, end + 1 - start)
    return best


class SendStats:
    """Counters for one stats period. Not thread-safe on its own: the engine serialises access.

    - accepted: sends answered 200 with a wamid (async window failures included: Meta accepts
      those too, then posts `failed`, counted under `failed_by_code`);
    - rejected_by_code: the simulator's own synchronous refusals — validation, auth, rate limits,
      the window in sync mode. Injected faults are not in it, so a well-paced sender sees
      `rejected_by_code["130429"] == 0` whatever faults were injected;
    - faults_injected: by kind, by HTTP status and, for Meta-shaped bodies, by code.
    """

    def __init__(self, since: float) -> None:
        self._since = since
        self._accepted_at: list[float] = []
        self._marked_read = 0
        self._rejected: Counter[int] = Counter()
        self._failed: Counter[int] = Counter()
        self._faults: Counter[FaultKind] = Counter()
        self._fault_statuses: Counter[int] = Counter()
        self._fault_codes: Counter[int] = Counter()
        self._callback_data: Counter[str] = Counter()

    def record_accepted(self, at: float, callback_data: str | None) -> None:
        self._accepted_at.append(at)
        if callback_data is not None:
            self._callback_data[callback_data] += 1

    def record_marked_read(self) -> None:
        self._marked_read += 1

    def record_rejected(self, code: int) -> None:
        self._rejected[code] += 1

    def record_failed(self, code: int) -> None:
        self._failed[code] += 1

    def record_fault(self, fault: Fault) -> None:
        self._faults[fault.kind] += 1
        self._fault_statuses[fault.http_status] += 1
        if fault.code is not None:
            self._fault_codes[fault.code] += 1

    def as_json(self) -> dict[str, Any]:
        accepted_at = self._accepted_at
        per_second = Counter(int(at) for at in accepted_at)
        duplicates = {value: n for value, n in self._callback_data.items() if n > 1}
        faults_total = sum(self._faults.values())
        rejected_total = sum(self._rejected.values())
        return {
            "since": self._since,
            "requests": len(accepted_at) + self._marked_read + rejected_total + faults_total,
            "accepted": len(accepted_at),
            "marked_read": self._marked_read,
            "first_accepted_at": min(accepted_at, default=None),
            "last_accepted_at": max(accepted_at, default=None),
            "max_accepted_in_any_1s_window": max_in_any_window(accepted_at),
            "accepted_per_second": _by_key(per_second),
            "rejected": rejected_total,
            "rejected_by_code": _by_key(self._rejected, always=GENUINE_REFUSAL_CODES),
            "failed_by_code": _by_key(self._failed, always=ASYNC_FAILURE_CODES),
            "faults_injected": {
                "total": faults_total,
                **{kind.value: self._faults[kind] for kind in FaultKind},
            },
            "faults_injected_by_http_status": _by_key(self._fault_statuses),
            "faults_injected_by_code": _by_key(self._fault_codes),
            "duplicates_by_callback_data": len(duplicates),
            "duplicate_callback_data": dict(sorted(duplicates.items())[:MAX_DUPLICATES_LISTED]),
        }


def _by_key(counts: Mapping[int, int], always: Iterable[int] = ()) -> dict[str, int]:
    keys = sorted(set(counts) | set(always))
    return {str(key): counts.get(key, 0) for key in keys}
