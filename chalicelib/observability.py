"""The one Powertools Logger and Metrics for every function.

Residents' phone numbers never reach the logs in clear: call sites pass `mask_phone(...)`, and
the formatter masks any phone-like digit run that slips through anyway.
"""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.settings import current_stage

SERVICE = "civicchat"
METRICS_NAMESPACE = "civicchat"
# Every metric also carries the stage, so the alarms of two stages in one account
# (infra/alarms.py) each watch their own. Powertools adds `service` by itself.
STAGE_DIMENSION = "stage"

# 8–15 digits, optionally after "+", not glued to letters (so ids like wamid.HBgL… survive).
_PHONE_LIKE = re.compile(r"(?<![A-Za-z0-9])(\+?)(\d{2})\d{4,10}(\d{2})(?![A-Za-z0-9])")


def mask_phone(value: str | None) -> str:
    """'+351912345678' → '+35********78'. Short or empty values are masked whole."""
    if not value:
        return ""
    plus = "+" if value.startswith("+") else ""
    digits = value.lstrip("+")
    if len(digits) < 6:
        return plus + "*" * len(digits)
    return f"{plus}{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def mask_resident_key(key: str | None) -> str:
    """Resident keys embed the phone number ('wa:351912345678'); BSUIDs are not phone numbers."""
    if not key:
        return ""
    kind, _, ident = key.partition(":")
    return f"{kind}:{mask_phone(ident)}" if kind == "wa" else key


def _mask_digits(text: str) -> str:
    return _PHONE_LIKE.sub(lambda m: f"{m[1]}{m[2]}{'*' * (len(m[0]) - len(m[1]) - 4)}{m[3]}", text)


class PhoneMaskingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: dict) -> str:  # type: ignore[override]
        return _mask_digits(super().serialize(log))


logger = Logger(service=SERVICE, logger_formatter=PhoneMaskingFormatter())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
# A default dimension: kept by `clear_metrics`, so it survives every invocation's flush.
metrics.set_default_dimensions(**{STAGE_DIMENSION: current_stage()})


def publish_metrics() -> None:
    """Flush this invocation's metrics. Quiet when there are none, and cleared even when metrics
    are disabled (Powertools keeps a disabled set growing, then prints it at 100 values)."""
    if metrics.metric_set:
        metrics.flush_metrics()
    metrics.clear_metrics()


__all__ = ["MetricUnit", "logger", "mask_phone", "mask_resident_key", "metrics", "publish_metrics"]
