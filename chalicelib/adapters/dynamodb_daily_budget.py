"""The daily messaging limit as hourly counters in the `pacing` table.

Meta's messaging limit counts the unique residents a portfolio reaches with business-initiated
messages in a moving 24 h. Each broadcast message reaches one resident once, so the budget
counts messages: one item per UTC hour, `msglimit#<phone number id>#<hour>`, whose `used` is
raised by a conditional ADD — conditional on the value this reserve read, so two reserves that
race never both take the last of the limit (the loser reads again). Items expire two days
after their hour (TTL), long after they stop counting.

A reserve costs one BatchGetItem of 25 keys (this hour and the 24 before it) and one
UpdateItem; the job reserves once per scan segment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamodb_models import (
    CONDITION_FAILED,
    RateLimitModel,
    StageTables,
    StageTableStore,
)
from chalicelib.domain.broadcasts import budget_hours, grant

KEY_PREFIX = "msglimit#"
_KEEP = timedelta(days=2)
_ATTEMPTS = 5


class DynamoDBDailyBudget(StageTableStore):
    def __init__(self, scope: str, tables: StageTables | None = None) -> None:
        """`scope`: whose limit (the business phone number id)."""
        super().__init__(tables)
        self._scope = scope

    @property
    def _model(self) -> type[RateLimitModel]:
        return self._tables.rate_limits

    def _key(self, hour: str) -> str:
        return f"{KEY_PREFIX}{self._scope}#{hour}"

    def _counts(self, now: datetime) -> tuple[int, int]:
        """(used in the window, used in this hour)."""
        hours = budget_hours(now)
        keys = [self._key(hour) for hour in hours]
        found = {
            item.limit_key: int(item.used or 0)
            for item in self._model.batch_get(keys, consistent_read=True)
        }
        return sum(found.values()), found.get(keys[0], 0)

    def used(self, now: datetime) -> int:
        return self._counts(now)[0]

    def reserve(self, wanted: int, limit: int, now: datetime) -> int:
        if wanted <= 0:
            return 0
        model = self._model
        hour = budget_hours(now)[0]
        expires = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC) + _KEEP
        for _ in range(_ATTEMPTS):
            used, this_hour = self._counts(now)
            granted = grant(wanted, limit, used)
            if granted == 0:
                return 0
            seen = model.used.does_not_exist() if this_hour == 0 else model.used == this_hour
            try:
                model(self._key(hour)).update(
                    actions=[model.used.add(granted), model.expires_at.set(expires)],
                    condition=seen,
                )
            except UpdateError as error:
                if error.cause_response_code == CONDITION_FAILED:
                    continue  # another reserve took some meanwhile: read again
                raise
            return granted
        return 0
