"""TicketStore on DynamoDB: the `tickets` table of one stage.

Tickets are written by `DynamoDBResidentStore.save_turn`, in the turn's transaction; this store
reads them and hands out reference numbers. Budgets: `get` 1 GetItem, `next_number` 1 UpdateItem,
`list_for_resident` 1 Query on the `by_resident` index (eventually consistent: a ticket saved a
moment ago may be missing for a second or so).
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib.adapters.dynamodb_models import (
    SEQUENCE_KEY_PREFIX,
    StageTableStore,
    TicketModel,
    sequence_key,
)
from chalicelib.domain.tickets import Ticket


class DynamoDBTicketStore(StageTableStore):
    @property
    def _model(self) -> type[TicketModel]:
        return self._tables.tickets

    def get(self, reference: str) -> Ticket | None:
        if reference.startswith(SEQUENCE_KEY_PREFIX):
            return None  # a counter, not a ticket
        try:
            return self._model.get(reference, consistent_read=True).to_ticket()
        except DoesNotExist:
            return None

    def next_number(self, prefix: str, year: int) -> int:
        # ADD on a missing item starts from 0; the update returns the new value.
        model = self._model
        counter = model(sequence_key(prefix, year))
        counter.update(actions=[model.counter.add(1)])
        return int(counter.counter)

    def list_for_resident(self, resident_key: str, limit: int = 20) -> list[Ticket]:
        if limit <= 0:
            return []
        return [
            item.to_ticket()
            for item in self._model.by_resident.query(
                resident_key, scan_index_forward=False, limit=limit
            )
        ]
