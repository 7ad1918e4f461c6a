"""ResidentStore and MessageStore on DynamoDB, through the PynamoDB models of one stage.

Every request goes through botocore (PynamoDB's client, or the one injected into
`stage_tables`), so a benchmark can count them with a botocore event hook. Budgets:

- `load`: 1 GetItem for the resident, plus 1 for their current conversation; `get`: 1 GetItem.
- `save_turn`: exactly 1 TransactWriteItems (the turn's tickets and search terms ride in it).
- `set_opted_out`: 1 GetItem (the consent history it appends to), then 1 UpdateItem.
- `save_conversation`: 1 write.
- `claim_for_sending`, `mark_sent`, `mark_failed`, `mark_skipped`, `record_media`: 1 UpdateItem.
- `apply_status`: 1 Query on `by_wamid`, then 1 UpdateItem.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_models import (
    ITEM_CHECK_FAILED,
    QUEUED_MARKER,
    TRANSACTION_CANCELLED,
    MessageModel,
    StageTableStore,
    conditional_save,
    conditional_update,
    consent_event_json,
)
from chalicelib.adapters.store_rules import (
    conversation_expiry,
    search_terms_that_fit,
    ticket_expiry,
    with_expiry,
)
from chalicelib.domain.consent_history import appended, opt_out_event
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage, statuses_before
from chalicelib.domain.residents import Resident
from chalicelib.services.ports import ConcurrentUpdateError, InboundTurn

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb_models import StageTables
    from chalicelib.adapters.store_rules import RetentionSource

# Cancellation reason codes (one per transaction item) that mean "someone else got there first".
_LOST_RACE_REASONS = frozenset({ITEM_CHECK_FAILED, "TransactionConflict"})
_INBOUND_ITEM = 0  # save_turn puts the inbound message first


class DynamoDBResidentStore(StageTableStore):
    """Residents, their conversations and whole inbound turns. `retention` (the config's, asked
    for on the first write) stamps each message, conversation and ticket with its expiry."""

    def __init__(self, tables: StageTables | None = None, *, retention: RetentionSource) -> None:
        super().__init__(tables)
        self._retention = retention

    def load(self, resident_key: str) -> tuple[Resident | None, Conversation | None]:
        # Consistent reads: the previous turn of this resident may have been saved a moment ago,
        # and a stale version would only buy a ConcurrentUpdateError and a retry.
        resident = self.get(resident_key)
        if resident is None or not resident.current_conversation_id:
            return resident, None
        try:
            conversation = self._tables.conversations.get(
                resident.current_conversation_id, consistent_read=True
            )
        except DoesNotExist:
            return resident, None
        return resident, conversation.to_conversation()

    def save_turn(self, turn: InboundTurn) -> bool:
        """One TransactWriteItems: inbound message (must be new), resident (must be new when
        `resident_is_new`), conversation (version must be the one read), the queued replies,
        the new tickets and the search terms. The search index is derived data: terms that do
        not fit in the transaction's 100 items are left out rather than fail the turn."""
        messages = self._tables.messages
        residents = self._tables.residents
        retention = self._retention()
        inbound = messages.from_message(with_expiry(turn.inbound, retention))
        transaction = TransactWrite(connection=self._tables.connection)
        transaction.save(inbound, condition=messages.message_id.does_not_exist())
        transaction.save(
            residents.from_resident(turn.resident),
            condition=residents.resident_key.does_not_exist() if turn.resident_is_new else None,
        )
        # The conversation's VersionAttribute adds `version = <read>` (or "does not exist" for a
        # new one) and stores version + 1.
        conversation = self._tables.conversations.from_conversation(turn.conversation)
        conversation.expires_at = conversation_expiry(turn.conversation, retention)
        transaction.save(conversation)
        for reply in turn.replies:
            transaction.save(messages.from_message(with_expiry(reply, retention)))
        tickets = self._tables.tickets
        for ticket in turn.tickets:
            # A reference is handed out once (next_number); a clash means a bug or a race, and
            # retrying the turn takes a new number.
            item = tickets.from_ticket(ticket)
            item.expires_at = ticket_expiry(ticket, retention)
            transaction.save(item, condition=tickets.reference.does_not_exist())
        search = self._tables.search
        for term, entry, found in search_terms_that_fit(turn):
            transaction.save(
                search(
                    term, entry, conversation_id=found.conversation_id, expires_at=found.expires_at
                )
            )
        try:
            with transaction:
                pass  # the context manager commits on exit
        except TransactWriteError as error:
            if error.cause_response_code != TRANSACTION_CANCELLED:
                raise
            duplicate = self._inbound_was_duplicate(error, inbound.message_id)
            if duplicate is None:
                raise  # cancelled for another reason (throttling, validation, ...)
            if duplicate:
                return False
            raise ConcurrentUpdateError(
                f"turn of {turn.resident.key} for conversation {turn.conversation.id} "
                f"(read at version {turn.conversation.version}) lost a race"
            ) from error
        return True

    def get(self, resident_key: str) -> Resident | None:
        try:
            return self._tables.residents.get(resident_key, consistent_read=True).to_resident()
        except DoesNotExist:
            return None

    def set_opted_out(
        self,
        resident_key: str,
        opted_out: bool,
        at: datetime,
        *,
        wa_id: str | None = None,
        user_id: str | None = None,
    ) -> bool:
        """A read, then one conditional UpdateItem, which also creates a minimal resident when
        unknown.

        It changes only the opt-out attributes and the consent history (read first, to append
        to), while save_turn puts the whole resident: both run in the inbound worker for one
        resident at a time (one FIFO group per resident), so neither can overwrite the other
        with a stale copy."""
        model = self._tables.residents
        stored = self.get(resident_key)
        history = appended(stored.consent_history if stored else (), opt_out_event(opted_out, at))
        actions: list[Action] = [
            model.opted_out.set(opted_out),
            model.opted_out_at.set(at),
            model.created_at.set(model.created_at | at),
            model.consent_history.set([consent_event_json(e) for e in history]),
        ]
        if wa_id:
            actions.append(model.wa_id.set(model.wa_id | wa_id))
        if user_id:
            actions.append(model.user_id.set(model.user_id | user_id))
        # Stored as fixed-width UTC text, so comparing strings compares instants.
        newer = model.opted_out_at.does_not_exist() | (model.opted_out_at < at)
        return conditional_update(model(resident_key), actions, newer)

    def save_conversation(self, conversation: Conversation) -> None:
        # The VersionAttribute makes the put conditional on the version read, as in save_turn.
        item = self._tables.conversations.from_conversation(conversation)
        item.expires_at = conversation_expiry(conversation, self._retention())
        if not conditional_save(item):
            raise ConcurrentUpdateError(
                f"conversation {conversation.id} (read at version {conversation.version}) "
                "was saved by someone else"
            )

    def _inbound_was_duplicate(self, error: TransactWriteError, message_id: str) -> bool | None:
        """True: the inbound message was stored already. False: another writer won the race for
        the resident or conversation. None: cancelled for some other reason."""
        codes = [reason.code if reason else None for reason in error.cancellation_reasons]
        if len(codes) > _INBOUND_ITEM:
            if codes[_INBOUND_ITEM] == ITEM_CHECK_FAILED:
                return True
            if any(code in _LOST_RACE_REASONS for code in codes):
                return False
            return None
        # No reasons in the response (DynamoDB always sends them; this guards odd emulators):
        # ask the table instead. One extra GetItem, on the failure path only.
        try:
            self._tables.messages.get(message_id, consistent_read=True)
        except DoesNotExist:
            return False
        return True


class DynamoDBMessageStore(StageTableStore):
    """Stored messages in both directions and their delivery statuses. `retention` (the
    config's, asked for on the first add) stamps each added message with its expiry."""

    def __init__(self, tables: StageTables | None = None, *, retention: RetentionSource) -> None:
        super().__init__(tables)
        self._retention = retention

    @property
    def _model(self) -> type[MessageModel]:
        return self._tables.messages

    def get(self, message_id: str) -> StoredMessage | None:
        try:
            return self._model.get(message_id, consistent_read=True).to_message()
        except DoesNotExist:
            return None

    def get_many(self, message_ids: Sequence[str]) -> list[StoredMessage]:
        """Found messages in the order asked (each id once); BatchGetItem per 100 ids."""
        wanted = list(dict.fromkeys(message_ids))
        if not wanted:
            return []
        found = {
            item.message_id: item.to_message()
            for item in self._model.batch_get(wanted, consistent_read=True)
        }
        return [found[message_id] for message_id in wanted if message_id in found]

    def add_outbound(self, messages: Sequence[StoredMessage]) -> list[str]:
        # BatchWriteItem cannot carry conditions: one conditional PutItem per message.
        retention = self._retention() if messages else None
        created: list[str] = []
        for message in messages:
            item = self._model.from_message(with_expiry(message, retention))
            if conditional_save(item, self._model.message_id.does_not_exist()):
                created.append(message.id)
        return created

    def claim_for_sending(self, message_id: str, now: datetime) -> StoredMessage | None:
        model = self._model
        updated = self._update(
            message_id,
            [
                model.status.set(DeliveryStatus.SENDING.value),
                model.status_at.set(now),
                model.queued_marker.remove(),
            ],
            condition=model.status == DeliveryStatus.QUEUED.value,
        )
        return None if updated is None else updated.to_message()

    def release_claim(
        self,
        message_id: str,
        now: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> int:
        model = self._model
        actions: list[Action] = [
            model.status.set(DeliveryStatus.QUEUED.value),
            model.status_at.set(now),
        ]
        if error_code is not None or error_title is not None:
            actions += [
                model.attempts.add(1),
                model.error_code.remove()
                if error_code is None
                else model.error_code.set(error_code),
                model.error_title.set(error_title or ""),
            ]
        # No queued_marker: the record is still on SQS (deferred), the sweeper need not find it.
        updated = self._update(
            message_id, actions, condition=model.status == DeliveryStatus.SENDING.value
        )
        if updated is None:
            current = self.get(message_id)
            if current is None:
                raise KeyError(f"no message {message_id!r}")
            return current.attempts
        return updated.attempts or 0

    def mark_sent(
        self,
        message_id: str,
        wamid: str,
        now: datetime,
        *,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        model = self._model
        actions: list[Action] = [
            model.status.set(DeliveryStatus.SENT.value),
            model.wamid.set(wamid),
            model.status_at.set(now),
            model.queued_marker.remove(),
        ]
        if note is not None:
            actions.append(model.note.set(note))
        if payload is not None:
            actions.append(model.payload.set(payload))
        self._update_existing(message_id, actions)

    def requeue(self, message_id: str, now: datetime) -> StoredMessage | None:
        model = self._model
        updated = self._update(
            message_id,
            [
                model.status.set(DeliveryStatus.QUEUED.value),
                model.status_at.set(now),
                model.attempts.set(0),
                model.error_code.remove(),
                model.error_title.remove(),
            ],
            condition=model.direction == Direction.OUTBOUND.value,
        )
        return None if updated is None else updated.to_message()

    def mark_failed(
        self, message_id: str, *, error_code: int | None, error_title: str, now: datetime
    ) -> None:
        model = self._model
        self._update_existing(
            message_id,
            [
                model.status.set(DeliveryStatus.FAILED.value),
                model.status_at.set(now),
                model.error_title.set(error_title),
                model.error_code.remove()
                if error_code is None
                else model.error_code.set(error_code),
                model.queued_marker.remove(),
            ],
        )

    def apply_status(
        self,
        wamid: str,
        status: DeliveryStatus,
        at: datetime,
        *,
        error_code: int | None = None,
        error_title: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        allowed = statuses_before(status)
        if not allowed:
            return False
        model = self._model
        if message_id is None:
            # The wamid index is eventually consistent: a status racing mark_sent may miss.
            # Senders pass our id as callback data, so Meta's statuses normally carry it.
            keys = list(model.by_wamid.query(wamid, limit=1))
            if not keys:
                return False
            message_id = keys[0].message_id
        actions: list[Action] = [
            model.status.set(status.value),
            model.status_at.set(at),
            model.queued_marker.remove(),
        ]
        if status is DeliveryStatus.FAILED:
            if error_code is not None:
                actions.append(model.error_code.set(error_code))
            if error_title is not None:
                actions.append(model.error_title.set(error_title))
        condition = model.status.is_in(*(allowed_status.value for allowed_status in allowed)) & (
            model.wamid == wamid
        )
        return self._update(message_id, actions, condition=condition) is not None

    def mark_skipped(self, message_id: str, reason: str, now: datetime) -> bool:
        model = self._model
        updated = self._update(
            message_id,
            [
                model.status.set(DeliveryStatus.SKIPPED.value),
                model.status_at.set(now),
                # In both: `note` says why it differs from what was asked, and views listing
                # why messages did not go out read error_title.
                model.note.set(reason),
                model.error_title.set(reason),
                model.queued_marker.remove(),
            ],
            condition=model.status.is_in(DeliveryStatus.QUEUED.value, DeliveryStatus.SENDING.value),
        )
        return updated is not None

    def record_media(self, message_id: str, media_key: str, mime_type: str, size: int) -> None:
        model = self._model
        self._update_existing(
            message_id,
            [
                model.media_key.set(media_key),
                model.media_mime_type.set(mime_type)
                if mime_type
                else model.media_mime_type.remove(),
                model.media_size.set(size),
            ],
        )

    def list_queued_before(self, before: datetime, limit: int = 100) -> list[StoredMessage]:
        model = self._model
        # Ascending by created_at: the oldest lost sends come back first.
        return [
            item.to_message()
            for item in model.queued_since.query(
                QUEUED_MARKER, model.created_at < before, limit=limit
            )
        ]

    def _update(
        self, message_id: str, actions: list[Action], *, condition: Condition
    ) -> MessageModel | None:
        """One conditional UpdateItem returning the new item, or None when the condition failed."""
        item = self._model(message_id)
        return item if conditional_update(item, actions, condition) else None

    def _update_existing(self, message_id: str, actions: list[Action]) -> None:
        if self._update(message_id, actions, condition=self._model.message_id.exists()) is None:
            raise KeyError(f"no message {message_id!r}")
