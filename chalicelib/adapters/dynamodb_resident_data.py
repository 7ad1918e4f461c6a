"""ResidentDataStore on DynamoDB and S3: a resident's items in every table of the stage, found
by their key through the tables' indexes, and their files in the media bucket.

How each table is reached (never a Scan, but for the pacing fallback below):
- residents: GetItem by key; conversations, messages, tickets, obligations, notifications:
  their `by_resident` index (messages and notifications: keys only, then read by key);
- search: the `by_conversation` index, for each of the resident's conversations;
- reminders: by key, from each obligation's `reminder_ids` (an obligation that moved to another
  phone rewrote its reminders' copies: none names the old number);
- pacing: GetItem of `pair#<business phone number id>#<number>` (services.pacing.pair_key).
  Only when the id is unknown (`phone_number_id=None`: a stage whose SSM path lacks
  `whatsapp/phone-number-id`) a Scan for keys ending in the number: the table is small (one
  item per number messaged in the last day, TTL).
- media: the bucket's `residents/<resident key>/` prefix (S3ResidentMedia).

Erasure deletes with BatchWriteItem (25 keys a request); tickets are rewritten anonymised (one
GetItem + one conditional PutItem each: a ticket deleted meanwhile is not brought back);
conversations one by one on their version, one held by an agent in a TransactWriteItems that
also takes it off the agent's workload (`open_count`), as the console store counted it. The
other tables hold nothing about a resident — agents, API keys, broadcasts (which name no
resident: their messages carry the broadcast's id) — or name them by pseudonym only (audit):
they are not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_console_stores import DynamoDBConsoleConversationStore
from chalicelib.adapters.dynamodb_models import (
    CONDITION_FAILED,
    ITEM_CHECK_FAILED,
    TRANSACTION_CANCELLED,
    StageTables,
    StageTableStore,
    cancellation_codes,
)
from chalicelib.adapters.dynamodb_reminder_stores import (
    DynamoDBNotificationStore,
    DynamoDBObligationStore,
)
from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.tickets import Ticket
from chalicelib.services.pacing import PAIR_KEY_PREFIX, pair_key
from chalicelib.services.ports import ConcurrentUpdateError
from chalicelib.services.resident_data import ResidentRecords, SearchEntry

if TYPE_CHECKING:
    from pynamodb.models import Model

    from chalicelib.adapters.s3_resident_media import S3ResidentMedia

_ALL = 1_000_000  # "every item" for the stores' paged reads
_CONFLICT_RETRIES = 3  # a conversation changing under the erasure: read it again, this often


def _no_retention() -> None:  # the retention of the stores used here only to read
    return None


class DynamoDBResidentData(StageTableStore):
    """`media`: the bucket's resident files (None: a stage without a media bucket).
    `phone_number_id`: the business number's id, whose pacing items name the resident's
    number (None: unknown, and the pacing table is scanned instead)."""

    def __init__(
        self,
        tables: StageTables | None = None,
        *,
        media: S3ResidentMedia | None,
        phone_number_id: str | None,
    ) -> None:
        super().__init__(tables)
        self._media = media
        self._phone_number_id = phone_number_id

    # --- finding ------------------------------------------------------------------------------

    def collect(self, resident_key: str, *, recipient: str | None = None) -> ResidentRecords:
        tables = self._tables
        try:
            resident = tables.residents.get(resident_key, consistent_read=True).to_resident()
        except DoesNotExist:
            resident = None
        conversations = [
            item.to_conversation() for item in tables.conversations.by_resident.query(resident_key)
        ]
        message_ids = [item.message_id for item in tables.messages.by_resident.query(resident_key)]
        messages = DynamoDBMessageStore(tables, retention=_no_retention).get_many(message_ids)
        messages.sort(key=lambda message: (message.created_at, message.id))
        search = [
            SearchEntry(term=item.term, entry=item.entry, conversation_id=item.conversation_id)
            for conversation in conversations
            for item in tables.search.by_conversation.query(conversation.id)
        ]
        tickets = [item.to_ticket() for item in tables.tickets.by_resident.query(resident_key)]
        obligation_store = DynamoDBObligationStore(tables, retention=_no_retention)
        obligations = obligation_store.for_resident(resident_key, limit=_ALL)
        reminders = [
            reminder
            for obligation in obligations
            for reminder in obligation_store.reminders_of(obligation.external_id)
        ]
        notification_store = DynamoDBNotificationStore(tables, retention=_no_retention)
        notification_ids = [
            item.external_id for item in tables.notifications.by_resident.query(resident_key)
        ]
        notifications = [
            found
            for found in (notification_store.get(external_id) for external_id in notification_ids)
            if found is not None
        ]
        return ResidentRecords(
            resident_key=resident_key,
            resident=resident,
            conversations=tuple(conversations),
            messages=tuple(messages),
            search_terms=tuple(search),
            tickets=tuple(tickets),
            obligations=tuple(obligations),
            reminders=tuple(reminders),
            notifications=tuple(notifications),
            pacing=tuple(self._pacing_keys(recipient)) if recipient else (),
            media=tuple(self._media.list_for(resident_key)) if self._media else (),
        )

    def _pacing_keys(self, recipient: str) -> list[str]:
        model = self._tables.rate_limits
        if self._phone_number_id:
            key = pair_key(self._phone_number_id, recipient)
            try:
                model.get(key, consistent_read=True, attributes_to_get=["limit_key"])
            except DoesNotExist:
                return []
            return [key]
        suffix = f"#{recipient}"
        found = model.scan(
            model.limit_key.startswith(PAIR_KEY_PREFIX) & model.limit_key.contains(suffix),
            attributes_to_get=["limit_key"],
        )
        return sorted(item.limit_key for item in found if item.limit_key.endswith(suffix))

    # --- erasing ------------------------------------------------------------------------------

    def erase(self, records: ResidentRecords) -> None:
        tables = self._tables
        if self._media is not None and records.media:
            self._media.delete_many([media.key for media in records.media])
        _batch_delete(tables.search, [(entry.term, entry.entry) for entry in records.search_terms])
        _batch_delete(tables.messages, [message.id for message in records.messages])
        for ticket in records.tickets:
            self._replace_ticket(ticket)
        _batch_delete(tables.reminders, [reminder.id for reminder in records.reminders])
        _batch_delete(tables.obligations, [o.external_id for o in records.obligations])
        _batch_delete(tables.notifications, [n.external_id for n in records.notifications])
        _batch_delete(tables.rate_limits, list(records.pacing))
        for conversation in records.conversations:
            self._delete_conversation(conversation)

    def delete_resident(self, resident_key: str) -> None:
        self._tables.residents(resident_key).delete()  # DeleteItem: no error when gone

    def _delete_conversation(self, conversation: Conversation) -> None:
        """Delete the conversation as stored, on its version; one its agent holds leaves their
        workload (`open_count`) in the same transaction, as `DynamoDBConsoleConversationStore.
        apply` counted it in. Changed since it was read: read again and retry; gone: done."""
        tables = self._tables
        agents = tables.agents
        stored = DynamoDBConsoleConversationStore(tables, retention=_no_retention)
        current: Conversation | None = conversation
        for _attempt in range(_CONFLICT_RETRIES + 1):
            if current is None:
                return
            item = tables.conversations(current.id)
            item.version = current.version  # DeleteItem on `version == read version`
            holder = current.holder
            try:
                if holder is None:
                    item.delete()
                    return
                transaction = TransactWrite(connection=tables.connection)
                transaction.delete(item)
                transaction.update(
                    agents(holder),
                    actions=[agents.open_count.add(-1)],
                    condition=agents.role.exists() & (agents.open_count > 0),
                )
                with transaction:
                    pass  # the context manager commits on exit
                return
            except DeleteError as error:
                if error.cause_response_code != CONDITION_FAILED:
                    raise
            except TransactWriteError as error:
                if error.cause_response_code != TRANSACTION_CANCELLED:
                    raise
                codes = cancellation_codes(error)
                if codes[:1] != [ITEM_CHECK_FAILED] and ITEM_CHECK_FAILED in codes:
                    # The agent is gone (or counts nothing): the conversation goes alone.
                    item.delete()
                    return
            current = stored.get(current.id)  # consistent read
        raise ConcurrentUpdateError(
            f"conversation {conversation.id} kept changing during the erasure: run it again"
        )

    def _replace_ticket(self, anonymised: Ticket) -> None:
        """Put the anonymised ticket in place of the stored one, keeping its expiry; only
        while it exists."""
        model = self._tables.tickets
        try:
            stored = model.get(anonymised.reference, consistent_read=True)
        except DoesNotExist:
            return
        item = model.from_ticket(anonymised)
        item.expires_at = stored.expires_at
        try:
            item.save(condition=model.reference.exists())
        except PutError as error:
            if error.cause_response_code != CONDITION_FAILED:
                raise


def _batch_delete(model: type[Model], keys: Sequence[Any]) -> None:
    """BatchWriteItem deletes, 25 keys a request (PynamoDB retries unprocessed ones). A key may
    appear once per request: duplicates are dropped. Keys: hash, or (hash, range)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return
    with model.batch_write() as batch:
        for key in unique:
            if isinstance(key, tuple):
                batch.delete(model(*key))
            else:
                batch.delete(model(key))
