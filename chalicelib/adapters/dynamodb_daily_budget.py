"""The daily messaging limit as one item in the `pacing` table.

Meta's messaging limit counts the unique residents a portfolio reaches with business-initiated
messages in a moving 24 h. Each broadcast message reaches one resident once, so the budget
counts messages, by UTC hour, in one item per business number: `msglimit#<phone number id>`,
whose `hours` is `{"2026-12-01T09": used, ...}` (the hours still counting: this one and the 24
before it, and the next one). Every change is an UpdateItem conditional on the `hours` read, so reserves and
releases are serialised on that one item: two reserves that race — in the same hour or on
either side of an hour's turn — never both take the last of the limit (the loser reads again).
The item expires two days after its last change (TTL), long after it stops counting.

A reserve costs one GetItem and one UpdateItem; the job reserves once per scan segment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.adapters.dynamodb_models import (
    RateLimitModel,
    StageTables,
    StageTableStore,
    conditional_update,
)
from chalicelib.domain.broadcasts import budget_hours, budget_used, grant, stale_budget_hour

KEY_PREFIX = "msglimit#"
_KEEP = timedelta(days=2)
_ATTEMPTS = 8


class BudgetContendedError(RuntimeError):
    """The budget item kept changing under every attempt: the job tries again next run."""


class DynamoDBDailyBudget(StageTableStore):
    def __init__(self, scope: str, tables: StageTables | None = None) -> None:
        """`scope`: whose limit (the business phone number id)."""
        super().__init__(tables)
        self._scope = scope

    @property
    def _model(self) -> type[RateLimitModel]:
        return self._tables.rate_limits

    @property
    def _key(self) -> str:
        return f"{KEY_PREFIX}{self._scope}"

    def _read(self) -> dict[str, int] | None:
        """The hours as stored (None: no item, or no hours yet)."""
        try:
            item = self._model.get(self._key, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return None if item.hours is None else dict(item.hours)

    def used(self, now: datetime) -> int:
        return budget_used(self._read() or {}, now)

    def reserve(self, wanted: int, limit: int, now: datetime) -> int:
        if wanted <= 0:
            return 0
        taken = 0

        def change(hours: dict[str, int]) -> dict[str, int] | None:
            nonlocal taken
            taken = grant(wanted, limit, budget_used(hours, now))
            if taken == 0:
                return None
            hour = budget_hours(now)[0]
            return {**hours, hour: int(hours.get(hour, 0)) + taken}

        self._change(change, now)
        return taken

    def release(self, unused: int, now: datetime) -> None:
        if unused <= 0:
            return

        def change(hours: dict[str, int]) -> dict[str, int] | None:
            hour = budget_hours(now)[0]
            left = max(0, int(hours.get(hour, 0)) - unused)
            return {**hours, hour: left}

        self._change(change, now)

    def _change(
        self, change: Callable[[dict[str, int]], dict[str, int] | None], now: datetime
    ) -> None:
        """Apply `change` (hours read → hours to write, or None: nothing) conditionally on
        what was read; read again when another change came first."""
        model = self._model
        for _ in range(_ATTEMPTS):
            read = self._read()
            hours = {h: n for h, n in (read or {}).items() if not stale_budget_hour(h, now)}
            wanted = change(hours)
            if wanted is None:
                return
            seen = model.hours.does_not_exist() if read is None else model.hours == read
            actions = [model.hours.set(wanted), model.expires_at.set(now + _KEEP)]
            if conditional_update(model(self._key), actions, seen):
                return
            # another reserve or release came first: read again
        raise BudgetContendedError(f"the messaging budget of {self._scope} keeps changing")
