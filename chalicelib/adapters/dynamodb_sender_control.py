"""SenderControl on DynamoDB: the pause switch is one item in the `pacing` table, next to the
rate limits it belongs with (`pause#<phone number id>`, with the reason and since when).

Every sender reads it before each record. "Not paused" is remembered for a few seconds per
Lambda, so a busy sender costs one GetItem every few seconds, not one per message; "paused" is
never remembered, so a resume takes effect with the next record (paused records are deferred for
minutes, so asking each time costs little).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamodb_models import StageTables, StageTableStore

REMEMBER_SECONDS = 5.0
_KEY = "limit_key"


class DynamoDBSenderControl(StageTableStore):
    def __init__(self, tables: StageTables | None = None, *, clock: Any = time.monotonic) -> None:
        super().__init__(tables)
        self._clock = clock
        self._lock = threading.Lock()
        self._running_since: dict[str, float] = {}  # when each number was last seen running

    def paused_reason(self, phone_number_id: str) -> str | None:
        with self._lock:
            seen_running = self._running_since.get(phone_number_id)
        if seen_running is not None and self._clock() - seen_running < REMEMBER_SECONDS:
            return None
        tables = self._tables
        item = tables.connection.client.get_item(
            TableName=tables.rate_limits.Meta.table_name,
            Key={_KEY: {"S": _pause_key(phone_number_id)}},
            ConsistentRead=True,
        ).get("Item")
        reason = item["reason"]["S"] if item else None
        with self._lock:
            if reason is None:
                self._running_since[phone_number_id] = self._clock()
            else:
                self._running_since.pop(phone_number_id, None)
        return reason

    def pause(self, phone_number_id: str, reason: str, now: datetime) -> None:
        tables = self._tables
        tables.connection.client.put_item(
            TableName=tables.rate_limits.Meta.table_name,
            Item={
                _KEY: {"S": _pause_key(phone_number_id)},
                "reason": {"S": reason},
                "since": {"S": now.isoformat()},
            },
        )
        with self._lock:
            self._running_since.pop(phone_number_id, None)

    def resume(self, phone_number_id: str) -> None:
        tables = self._tables
        tables.connection.client.delete_item(
            TableName=tables.rate_limits.Meta.table_name,
            Key={_KEY: {"S": _pause_key(phone_number_id)}},
        )


def _pause_key(phone_number_id: str) -> str:
    return f"pause#{phone_number_id}"
