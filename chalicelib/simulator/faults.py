"""Fault injection for `POST /{v}/{phone_number_id}/messages`, so that retries, backoff, pacing and
the dead-letter queue can be tested and benchmarked against the simulator.

Where a fault strikes: after authentication and after validation, before the rate limits and
before anything is created. So a malformed request always gets its deterministic validation
error (a fault never hides a client bug), and a faulted request is never accepted, creates no
message and consumes no rate-limit capacity. Sends and mark-as-read requests alike draw faults:
both are POSTs to the same endpoint.

Kinds, in the order they are decided:
- `throttle_burst`: the next `count` requests answer `code` (130429 by default), whatever the
  rates say;
- `timeout_rate`: the request is held `timeout_seconds`, then answered 504 with an HTML page
  (or dropped unanswered if the simulator stops meanwhile). A client with a shorter read
  timeout sees a timeout. The simulator never accepts a timed-out
  request; what Meta does is unknown (it may well have accepted the message before the
  connection dropped), which is why a sender must be idempotent and put its own id in
  `biz_opaque_callback_data`;
- `server_error_rate`: HTTP 500, 502 or 503, picked at random — a Meta-shaped code 2 body with
  the 500, a proxy's HTML page with the 502, an empty body with the 503 — so clients meet both
  kinds of error body;
- `error_codes`: per-code shares of Meta-shaped errors with that code's title and HTTP status
  (`errors.ERROR_KINDS`).

The rates are shares of one draw, so they must add up to at most 1. With `seed` the n-th request
after `set_faults` always gets the same answer: the random generator belongs to the injector and
is used only under the engine's lock (concurrent requests are numbered in the order they take
the lock).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from chalicelib.simulator.errors import ERROR_KINDS

DEFAULT_TIMEOUT_SECONDS = 15.0
MAX_TIMEOUT_SECONDS = 600.0
DEFAULT_THROTTLE_CODE = 130429
SERVER_ERROR_STATUSES = (500, 502, 503)
SERVER_ERROR_BODY_CODE = 2  # the Meta-shaped body that comes with an injected 500
TIMEOUT_STATUS = 504
_RATE_SLACK = 1e-9  # 0.1 + 0.2 + 0.7 must still count as at most 1

_SETTINGS_KEYS = frozenset(
    (
        "server_error_rate",
        "timeout_rate",
        "timeout_seconds",
        "error_codes",
        "throttle_burst",
        "seed",
    )
)
_BURST_KEYS = frozenset(("code", "count"))


class FaultSettingsError(ValueError):
    """Fault settings that cannot be applied; the message names the offending field."""


class FaultKind(Enum):
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    ERROR_CODE = "error_code"
    THROTTLE_BURST = "throttle_burst"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleBurst:
    """The next `count` requests answer `code`."""

    count: int
    code: int = DEFAULT_THROTTLE_CODE

    def __post_init__(self) -> None:
        if not _is_int(self.count) or self.count < 0:
            raise FaultSettingsError("throttle_burst.count must be a non-negative integer")
        _check_code(self.code, "throttle_burst.code")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSettings:
    """What to inject; the defaults inject nothing. `error_codes` maps a Meta code (an int, or
    its digits as a string) to its share of requests."""

    server_error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    error_codes: Mapping[int, float] = field(default_factory=dict)
    throttle_burst: ThrottleBurst | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_rate(self.server_error_rate, "server_error_rate")
        _check_rate(self.timeout_rate, "timeout_rate")
        if (
            not _is_number(self.timeout_seconds)
            or not 0 < self.timeout_seconds <= MAX_TIMEOUT_SECONDS
        ):
            raise FaultSettingsError(
                f"timeout_seconds must be a number above 0 and at most {MAX_TIMEOUT_SECONDS:g}"
            )
        if not isinstance(self.error_codes, Mapping):
            raise FaultSettingsError("error_codes must map error codes to rates")
        codes: dict[int, float] = {}
        for raw_code, rate in self.error_codes.items():
            code = _code_from(raw_code)
            _check_rate(rate, f"error_codes[{raw_code!r}]")
            codes[code] = float(rate)
        # Sorted, so the same settings draw the same faults whatever order they were given in.
        object.__setattr__(self, "error_codes", MappingProxyType(dict(sorted(codes.items()))))
        if self.throttle_burst is not None and not isinstance(self.throttle_burst, ThrottleBurst):
            raise FaultSettingsError("throttle_burst must be a ThrottleBurst or None")
        if self.seed is not None and not _is_int(self.seed):
            raise FaultSettingsError("seed must be an integer or null")
        if self.total_rate > 1.0 + _RATE_SLACK:
            raise FaultSettingsError(
                f"the rates add up to {self.total_rate:g}; they are shares of one draw and must "
                "add up to at most 1"
            )

    @property
    def total_rate(self) -> float:
        return self.timeout_rate + self.server_error_rate + sum(self.error_codes.values())

    @property
    def injects_anything(self) -> bool:
        burst = self.throttle_burst is not None and self.throttle_burst.count > 0
        return burst or self.total_rate > 0

    @classmethod
    def from_json(cls, data: Any) -> FaultSettings:
        """Settings from the body of `POST /_sim/faults`; absent keys take their defaults, so a
        POST replaces the settings whole. Unknown keys are refused: a typo must not silently
        inject nothing."""
        if not isinstance(data, dict):
            raise FaultSettingsError("the fault settings must be a JSON object")
        unknown = sorted(set(data) - _SETTINGS_KEYS)
        if unknown:
            raise FaultSettingsError(
                f"unknown fault settings {unknown}; known: {sorted(_SETTINGS_KEYS)}"
            )
        fields: dict[str, Any] = {
            key: data[key]
            for key in ("server_error_rate", "timeout_rate", "timeout_seconds", "seed")
            if key in data
        }
        if data.get("error_codes") is not None:
            if not isinstance(data["error_codes"], dict):
                raise FaultSettingsError('error_codes must be an object like {"131000": 0.05}')
            fields["error_codes"] = data["error_codes"]
        burst = data.get("throttle_burst")
        if burst is not None:
            if not isinstance(burst, dict) or "count" not in burst or set(burst) - _BURST_KEYS:
                raise FaultSettingsError(
                    'throttle_burst must be an object like {"code": 130429, "count": 50}'
                )
            fields["throttle_burst"] = ThrottleBurst(
                count=burst["count"], code=burst.get("code", DEFAULT_THROTTLE_CODE)
            )
        return cls(**fields)

    def as_json(self) -> dict[str, Any]:
        burst = self.throttle_burst
        return {
            "server_error_rate": self.server_error_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_seconds": self.timeout_seconds,
            "error_codes": {str(code): rate for code, rate in self.error_codes.items()},
            "throttle_burst": None if burst is None else {"code": burst.code, "count": burst.count},
            "seed": self.seed,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected answer. `code` is the Meta error code of a Meta-shaped body (None for the
    HTML and empty bodies); `hold_seconds` is how long to wait before answering."""

    kind: FaultKind
    http_status: int
    code: int | None = None
    hold_seconds: float = 0.0


class FaultInjectedError(Exception):
    """Raised by the engine instead of answering; the HTTP layer turns `fault` into a response."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(f"injected {fault.kind.value} (HTTP {fault.http_status})")
        self.fault = fault


class FaultInjector:
    """Decides, request by request, whether to inject a fault. Not thread-safe on its own: the
    engine calls it under its lock, which also makes the seeded sequence deterministic."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._settings = settings or FaultSettings()
        # Not for security: a seeded, reproducible sequence of faults is the point.
        self._random = random.Random(self._settings.seed)  # noqa: S311
        burst = self._settings.throttle_burst
        self._burst_left = burst.count if burst is not None else 0

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    @property
    def throttle_burst_remaining(self) -> int:
        return self._burst_left

    def as_json(self) -> dict[str, Any]:
        return {
            "active": self._burst_left > 0 or self._settings.total_rate > 0,
            "settings": self._settings.as_json(),
            "throttle_burst_remaining": self._burst_left,
        }

    def decide(self) -> Fault | None:
        """The fault for the next request, or None to let it through."""
        settings = self._settings
        burst = settings.throttle_burst
        if burst is not None and self._burst_left > 0:
            self._burst_left -= 1
            return Fault(FaultKind.THROTTLE_BURST, ERROR_KINDS[burst.code].http_status, burst.code)
        if settings.total_rate <= 0:
            return None
        draw = self._random.random()
        edge = settings.timeout_rate
        if draw < edge:
            return Fault(
                FaultKind.TIMEOUT, TIMEOUT_STATUS, hold_seconds=float(settings.timeout_seconds)
            )
        start, edge = edge, edge + settings.server_error_rate
        if draw < edge:
            # Where the draw falls inside the band picks the status: one draw per request.
            share = (draw - start) / settings.server_error_rate
            last = len(SERVER_ERROR_STATUSES) - 1
            status = SERVER_ERROR_STATUSES[min(int(share * (last + 1)), last)]
            code = SERVER_ERROR_BODY_CODE if status == 500 else None
            return Fault(FaultKind.SERVER_ERROR, status, code)
        for code, rate in settings.error_codes.items():
            edge += rate
            if draw < edge:
                return Fault(FaultKind.ERROR_CODE, ERROR_KINDS[code].http_status, code)
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_rate(value: Any, name: str) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise FaultSettingsError(f"{name} must be a number from 0 to 1")


def _check_code(code: Any, name: str) -> None:
    if not _is_int(code) or code not in ERROR_KINDS:
        raise FaultSettingsError(f"{name} must be one of {sorted(ERROR_KINDS)}, not {code!r}")


def _code_from(raw: Any) -> int:
    code = int(raw) if isinstance(raw, str) and raw.strip().isdigit() else raw
    _check_code(code, "error_codes key")
    return code
