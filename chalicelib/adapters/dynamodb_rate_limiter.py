"""RateLimiter on DynamoDB: GCRA state in the `pacing` table, taken with conditional UpdateItems.

A slot is one UpdateItem whose condition is the GCRA test itself, so there is never a read
followed by a write that another Lambda could slip between. DynamoDB has no `max()`, so which of
two writes to send depends on where the stored `tat` is:

- advance: `SET tat = if_not_exists(tat, now) + interval` if `tat` is missing or
  `now <= tat <= now + tolerance + max_delay` (a busy key, or a new one);
- restart: `SET tat = now + interval` if `tat` is missing or `tat < now` (an idle key).

A failed write returns the stored item (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), which
says exactly which write would succeed, or that none can and for how long: no GetItem, ever.
The limiter remembers, per key, the last `tat` it saw and whether the key was busy, to send the
right write first. Budget per `acquire`: 1 UpdateItem in the common case, 2 when the guess was
wrong (a busy key gone idle, an idle key another Lambda just used), and none for a refusal that
the remembered `tat` already proves: `tat` only ever grows, so a remembered value is a lower
bound of the stored one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamodb_models import (
    CONDITION_FAILED,
    StageTables,
    StageTableStore,
)
from chalicelib.domain.pacing import MICROS_PER_SECOND, Decision, Rate, decide

_MAX_WRITES = 2
_MAX_REMEMBERED_KEYS = 10_000  # forgetting is always safe: it costs one more write, once
_KEEP_AFTER_TAT_SECONDS = 24 * 3600

# Attribute names as the model defines them.
_KEY = "limit_key"
_TAT = "tat"
_EXPIRES_AT = "expires_at"


@dataclass(frozen=True, slots=True)
class _Seen:
    tat: int
    busy: bool  # the stored tat was not in the past when we last looked


class DynamoDBRateLimiter(StageTableStore):
    def __init__(self, tables: StageTables | None = None) -> None:
        super().__init__(tables)
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, rate: Rate, now_us: int, *, max_delay_us: int = 0) -> Decision:
        seen = self._recall(key)
        tat = seen.tat if seen else None  # a lower bound of the stored tat
        idle = seen is not None and seen.tat < now_us and not seen.busy
        for _ in range(_MAX_WRITES):
            decision = decide(tat, now_us, rate, max_delay_us=max_delay_us)
            if not decision.allowed:
                return decision
            if idle:
                granted, stored = self._restart(key, rate, now_us)
            else:
                granted, stored = self._advance(key, rate, now_us, max_delay_us)
            if stored is None:
                break  # only a misbehaving store fails a condition on a missing item
            if granted:
                # Either write leaves tat one interval past the slot it granted.
                before = stored - rate.interval_us
                self._remember(key, _Seen(stored, busy=before > now_us))
                return decide(before, now_us, rate, max_delay_us=max_delay_us)
            tat, idle = stored, stored < now_us
            self._remember(key, _Seen(stored, busy=not idle))
        if tat is not None:
            decision = decide(tat, now_us, rate, max_delay_us=max_delay_us)
            if not decision.allowed:
                return decision
        # Both writes lost a race with other Lambdas: the caller may ask again at once, which
        # is cheaper than a loop here that could spin under contention.
        return Decision(allowed=False, new_tat=None, retry_after_us=0)

    def _advance(
        self, key: str, rate: Rate, now_us: int, max_delay_us: int
    ) -> tuple[bool, int | None]:
        latest = now_us + rate.tolerance_us + max_delay_us
        return self._update(
            key,
            update="SET #tat = if_not_exists(#tat, :now) + :interval, #expires_at = :expires_at",
            condition="attribute_not_exists(#tat) OR #tat BETWEEN :now AND :latest",
            values={
                ":interval": rate.interval_us,
                ":now": now_us,
                ":latest": latest,
                ":expires_at": _expires_at(latest + rate.interval_us),
            },
        )

    def _restart(self, key: str, rate: Rate, now_us: int) -> tuple[bool, int | None]:
        new_tat = now_us + rate.interval_us
        return self._update(
            key,
            update="SET #tat = :new_tat, #expires_at = :expires_at",
            condition="attribute_not_exists(#tat) OR #tat < :now",
            values={
                ":new_tat": new_tat,
                ":now": now_us,
                ":expires_at": _expires_at(new_tat),
            },
        )

    def _update(
        self, key: str, *, update: str, condition: str, values: dict[str, int]
    ) -> tuple[bool, int | None]:
        """One conditional UpdateItem: (True, tat after it) or (False, the stored tat that
        failed the condition; None when there is no item)."""
        from botocore.exceptions import ClientError

        tables = self._tables
        try:
            response = tables.connection.client.update_item(
                TableName=tables.rate_limits.Meta.table_name,
                Key={_KEY: {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#tat": _TAT, "#expires_at": _EXPIRES_AT},
                ExpressionAttributeValues={
                    name: {"N": str(value)} for name, value in values.items()
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return False, _tat_of(error.response.get("Item"))
        return True, _tat_of(response.get("Attributes"))

    def _recall(self, key: str) -> _Seen | None:
        with self._lock:
            return self._seen.get(key)

    def _remember(self, key: str, seen: _Seen) -> None:
        with self._lock:
            if len(self._seen) >= _MAX_REMEMBERED_KEYS:
                self._seen.clear()
            self._seen[key] = seen


def _tat_of(item: dict[str, Any] | None) -> int | None:
    if not item or _TAT not in item:
        return None
    return int(item[_TAT]["N"])


def _expires_at(tat_us: int) -> int:
    """TTL in epoch seconds, as DynamoDB wants it."""
    return math.ceil(tat_us / MICROS_PER_SECOND) + _KEEP_AFTER_TAT_SECONDS
