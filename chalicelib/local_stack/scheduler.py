"""Local stand-in for EventBridge schedules: fire each scheduled handler at its rate."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.observability import logger

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        raise ValueError(
            f"the local scheduler understands rate(...) expressions, not {expression!r}"
        )
    return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]


def scheduled_event(rule_arn: str, now: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"local-{int(now.timestamp())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-1",
        "resources": [rule_arn],
        "detail": {},
    }


class Scheduler(threading.Thread):
    def __init__(
        self,
        jobs: list[tuple[str, str, Callable[[dict[str, Any], Any], Any]]],
        stop_event: threading.Event,
    ) -> None:
        """`jobs`: (rule name, schedule expression, Lambda handler)."""
        super().__init__(name="scheduler", daemon=True)
        self._jobs = [(name, rate_seconds(expr), handler) for name, expr, handler in jobs]
        self._stop_event = stop_event

    def run(self) -> None:
        clock = 0
        while not self._stop_event.wait(1):
            clock += 1
            for name, every, handler in self._jobs:
                if clock % every == 0:
                    self._fire(name, handler)

    @staticmethod
    def _fire(name: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        try:
            handler(scheduled_event(f"arn:aws:events:local:rule/{name}", datetime.now(UTC)), None)
        except Exception:
            logger.exception("scheduled handler failed", extra={"rule": name})
