"""The console's AgentStore and ConsoleConversationStore on DynamoDB, through the PynamoDB models
of one stage. The in-memory twins (`memory_console_stores`) pass the same contract tests.

Request budgets (every request goes through botocore, so tests count them with event hooks):
- `AgentStore.get`, `ConsoleConversationStore.get`: 1 GetItem; `get_many`: 1 BatchGetItem per
  100 ids.
- `save_profile`: 1 GetItem + 1 TransactWriteItems (the agent and the membership items).
- `team_members`, `list_all`: 1 GetItem (the membership item) + BatchGetItem.
- `set_online`, `touch`, `set_offline_if_unseen`, `set_resident_tags`: 1 UpdateItem.
- `apply`: 1 TransactWriteItems (retried up to 3 times when DynamoDB reports a conflict with
  another transaction in flight).
- `inbox`, `history`, `for_resident`, `find`, `sla_checks_due`: 1 Query (another only past
  DynamoDB's 1 MB page); `opened_between`: 1 Query per UTC day (more past 1 MB).
Never a Scan.

Cursors are DynamoDB's LastEvaluatedKey as base64url JSON; one that does not belong to the
list asked for raises ValueError (as a `limit` below 1 or a missing inbox key do). A page that
came back full may carry a cursor even when nothing follows (DynamoDB returns a LastEvaluatedKey
whenever the Limit was reached): the page it leads to is then empty, with no cursor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamodb_models import (
    ALL_AGENTS_KEY,
    ITEM_CHECK_FAILED,
    OPEN_MARKER,
    SLA_MARKER,
    TEAM_MEMBERS_PREFIX,
    TRANSACTION_CANCELLED,
    StageTableStore,
    cancellation_codes,
    conditional_update,
    team_members_key,
)
from chalicelib.adapters.store_rules import (
    FIND_READ_FACTOR,
    check_limit,
    check_page_request,
    conversation_expiry,
    decode_cursor,
    encode_cursor,
    with_expiry,
)
from chalicelib.domain.agents import Agent
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.inbox import sortable_time
from chalicelib.domain.messages import StoredMessage
from chalicelib.services.console_ports import (
    CapacityReachedError,
    ConversationChange,
    InboxView,
    Page,
)
from chalicelib.services.ports import ConcurrentUpdateError

if TYPE_CHECKING:
    from chalicelib.adapters.dynamodb_models import StageTables
    from chalicelib.adapters.store_rules import RetentionSource

_CONFLICT = "TransactionConflict"
_CONFLICT_RETRIES = 3


def _is_agent_id(agent_id: str) -> bool:
    return bool(agent_id) and not agent_id.startswith(TEAM_MEMBERS_PREFIX[0])


# --- agents -----------------------------------------------------------------------------------


class DynamoDBAgentStore(StageTableStore):
    def get(self, agent_id: str) -> Agent | None:
        if not _is_agent_id(agent_id):
            return None
        try:
            return self._tables.agents.get(agent_id, consistent_read=True).to_agent()
        except DoesNotExist:
            return None

    def get_many(self, agent_ids: Sequence[str]) -> list[Agent]:
        """Found agents in the order asked (each id once)."""
        wanted = [agent_id for agent_id in dict.fromkeys(agent_ids) if _is_agent_id(agent_id)]
        if not wanted:
            return []
        found = {
            item.agent_id: item.to_agent()
            for item in self._tables.agents.batch_get(wanted, consistent_read=True)
        }
        return [found[agent_id] for agent_id in wanted if agent_id in found]

    def save_profile(self, agent: Agent) -> None:
        """The membership items change in the same transaction as the agent's teams, on the
        condition that the teams are still those read (else read again and retry)."""
        if not _is_agent_id(agent.id):
            raise ValueError(f"not an agent id: {agent.id!r}")
        model = self._tables.agents
        for attempt in range(_CONFLICT_RETRIES + 1):
            existing = self.get(agent.id)
            old_teams = set(existing.teams) if existing else set()
            new_teams = set(agent.teams)
            transaction = TransactWrite(connection=self._tables.connection)
            if existing is None:
                transaction.save(model.from_agent(agent), condition=model.agent_id.does_not_exist())
                transaction.update(model(ALL_AGENTS_KEY), actions=[model.members.add({agent.id})])
            else:
                transaction.update(
                    model(agent.id),
                    actions=[
                        model.name.set(agent.name),
                        model.role.set(agent.role.value),
                        model.teams.set(list(agent.teams)),
                        model.capacity.set(agent.capacity),
                        model.disabled.set(agent.disabled),
                    ],
                    condition=model.teams == list(existing.teams),
                )
            for team in sorted(new_teams - old_teams):
                transaction.update(
                    model(team_members_key(team)), actions=[model.members.add({agent.id})]
                )
            for team in sorted(old_teams - new_teams):
                transaction.update(
                    model(team_members_key(team)), actions=[model.members.delete({agent.id})]
                )
            try:
                with transaction:
                    pass  # the context manager commits on exit
                return
            except TransactWriteError as error:
                codes = cancellation_codes(error)
                lost_race = ITEM_CHECK_FAILED in codes or _CONFLICT in codes
                if error.cause_response_code != TRANSACTION_CANCELLED or not lost_race:
                    raise
                if attempt == _CONFLICT_RETRIES:
                    raise ConcurrentUpdateError(
                        f"agent {agent.id} kept changing while being saved"
                    ) from error

    def team_members(self, team: str) -> list[Agent]:
        """By id, disabled ones included (they have no room)."""
        return self._members(team_members_key(team))

    def list_all(self) -> list[Agent]:
        return self._members(ALL_AGENTS_KEY)

    # Agent updates are conditional on `role` existing: an agent, never a membership item.

    def set_online(self, agent_id: str, online: bool, now: datetime) -> Agent | None:
        model = self._tables.agents
        item = model(agent_id)
        if not _is_agent_id(agent_id) or not conditional_update(
            item, [model.online.set(online), model.last_seen_at.set(now)], model.role.exists()
        ):
            return None
        return item.to_agent()

    def touch(self, agent_id: str, now: datetime) -> None:
        model = self._tables.agents
        if _is_agent_id(agent_id):
            conditional_update(model(agent_id), [model.last_seen_at.set(now)], model.role.exists())

    def set_offline_if_unseen(self, agent_id: str, seen_before: datetime) -> bool:
        """One UpdateItem, on the condition that the agent is online and unseen since
        `seen_before`: a touch that lands first wins."""
        model = self._tables.agents
        unseen = model.last_seen_at.does_not_exist() | (model.last_seen_at < seen_before)
        return _is_agent_id(agent_id) and conditional_update(
            model(agent_id),
            [model.online.set(False)],
            model.role.exists() & (model.online == True) & unseen,  # noqa: E712
        )

    def _members(self, membership_key: str) -> list[Agent]:
        try:
            item = self._tables.agents.get(
                membership_key, consistent_read=True, attributes_to_get=["members"]
            )
        except DoesNotExist:
            return []
        return sorted(self.get_many(sorted(item.members or ())), key=lambda agent: agent.id)


# --- conversations ----------------------------------------------------------------------------


class DynamoDBConsoleConversationStore(StageTableStore):
    """`retention` (the config's, asked for on the first `apply`) stamps the conversation and
    its new timeline entries with their expiry."""

    def __init__(self, tables: StageTables | None = None, *, retention: RetentionSource) -> None:
        super().__init__(tables)
        self._retention = retention

    def get(self, conversation_id: str) -> Conversation | None:
        try:
            item = self._tables.conversations.get(conversation_id, consistent_read=True)
        except DoesNotExist:
            return None
        return item.to_conversation()

    def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        """Found conversations in the order asked (each id once)."""
        wanted = list(dict.fromkeys(conversation_ids))
        if not wanted:
            return []
        found = {
            item.conversation_id: item.to_conversation()
            for item in self._tables.conversations.batch_get(wanted, consistent_read=True)
        }
        return [found[conversation_id] for conversation_id in wanted if conversation_id in found]

    def apply(self, change: ConversationChange) -> None:
        """One TransactWriteItems: the conversation (on its version), the events, and one
        UpdateItem per agent whose load moves (on the agent existing; for `requires_room`, on
        their being online, enabled and under capacity)."""
        tables = self._tables
        agents = tables.agents
        retention = self._retention()
        loads = dict(change.load)
        if change.requires_room is not None:
            loads.setdefault(change.requires_room, 0)
        agent_ids = list(loads)
        for attempt in range(_CONFLICT_RETRIES + 1):
            transaction = TransactWrite(connection=tables.connection)
            # PynamoDB sends puts before updates, each in the order given: the cancellation
            # reasons (one per item) are read in that order below.
            conversation = tables.conversations.from_conversation(change.conversation)
            conversation.expires_at = conversation_expiry(change.conversation, retention)
            transaction.save(conversation)
            for event in change.events:
                transaction.save(tables.messages.from_message(with_expiry(event, retention)))
            for agent_id in agent_ids:
                delta = loads[agent_id]
                actions: list[Action] = [agents.open_count.add(delta)]
                taker = delta > 0 or agent_id == change.requires_room
                if change.assigned_at is not None and taker:
                    actions.append(agents.last_assigned_at.set(change.assigned_at))
                condition: Condition = agents.role.exists()
                if agent_id == change.requires_room:
                    condition &= (
                        (agents.online == True)  # noqa: E712 (a condition, not a comparison)
                        & (agents.disabled.does_not_exist() | (agents.disabled == False))  # noqa: E712
                        & (agents.open_count < agents.capacity)
                    )
                transaction.update(agents(agent_id), actions=actions, condition=condition)
            try:
                with transaction:
                    pass  # the context manager commits on exit
                return
            except TransactWriteError as error:
                if error.cause_response_code != TRANSACTION_CANCELLED:
                    raise
                codes = cancellation_codes(error)
                if codes and codes[0] == ITEM_CHECK_FAILED:
                    raise ConcurrentUpdateError(
                        f"conversation {change.conversation.id} (read at version "
                        f"{change.conversation.version}) was saved by someone else"
                    ) from error
                load_codes = codes[1 + len(change.events) :]
                refused = [
                    agent_id
                    for agent_id, code in zip(agent_ids, load_codes, strict=False)
                    if code == ITEM_CHECK_FAILED
                ]
                if change.requires_room in refused:
                    raise CapacityReachedError(
                        f"agent {change.requires_room} is offline, disabled or full"
                    ) from error
                if refused:
                    raise KeyError(f"no agents {refused}") from error
                if _CONFLICT in codes and attempt < _CONFLICT_RETRIES:
                    continue
                if _CONFLICT in codes:
                    raise ConcurrentUpdateError(
                        f"conversation {change.conversation.id}: transactions kept conflicting"
                    ) from error
                raise

    def inbox(
        self, view: InboxView, key: str | None, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Conversation]:
        check_page_request(view, key, limit)
        model = self._tables.conversations
        index: GlobalSecondaryIndex[Any]
        if view is InboxView.ALL:
            index, hash_key = model.all_open, OPEN_MARKER
        elif view is InboxView.MINE:
            index, hash_key = model.agent_inbox, key
        elif view is InboxView.UNASSIGNED:
            index, hash_key = model.team_queue, key
        else:
            index, hash_key = model.team_inbox, key
        start = _start_key(cursor, index, hash_key)
        items = index.query(hash_key, limit=limit, last_evaluated_key=start)
        return _page(items, lambda item: item.to_conversation())

    def sla_checks_due(self, now: datetime, limit: int = 100) -> list[Conversation]:
        if limit < 1:
            return []
        model = self._tables.conversations
        # Range keys are "<time>#<id>"; "$" sorts right after "#": everything up to `now`.
        bound = f"{sortable_time(now)}$"
        items = model.sla_checks.query(SLA_MARKER, model.sla_check_key < bound, limit=limit)
        return [item.to_conversation() for item in items]

    def opened_between(self, start: datetime, end: datetime) -> Iterator[Conversation]:
        if end <= start:
            return
        model = self._tables.conversations
        day = start.astimezone(UTC).date()
        last_day = (end - timedelta(microseconds=1)).astimezone(UTC).date()
        while day <= last_day:
            # BETWEEN is inclusive: the end is excluded here.
            for item in model.by_opened_day.query(
                day.isoformat(), model.opened_at.between(start, end)
            ):
                if item.opened_at < end:
                    yield item.to_conversation()
            day += timedelta(days=1)

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Conversation]:
        if limit < 1:
            return []
        items = self._tables.conversations.by_resident.query(
            resident_key, scan_index_forward=False, limit=limit
        )
        return [item.to_conversation() for item in items]

    def history(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        after: datetime | None = None,
    ) -> Page[StoredMessage]:
        check_limit(limit)
        model = self._tables.messages
        index = model.by_conversation
        start = _start_key(cursor, index, conversation_id)
        items = index.query(
            conversation_id,
            None if after is None else model.created_at > after,
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=start,
        )
        return _page(items, lambda item: item.to_message())

    def find(self, term: str, *, limit: int = 50) -> list[str]:
        if limit < 1:
            return []
        items = self._tables.search.query(
            term, scan_index_forward=False, limit=limit * FIND_READ_FACTOR
        )
        return list(dict.fromkeys(item.conversation_id for item in items))[:limit]

    def set_resident_tags(self, resident_key: str, tags: Sequence[str]) -> None:
        model = self._tables.residents
        if not conditional_update(
            model(resident_key), [model.tags.set(list(tags))], model.resident_key.exists()
        ):
            raise KeyError(f"no resident {resident_key!r}")


# --- pages and cursors ------------------------------------------------------------------------


def _page(items: ResultIterator[Any], convert: Any) -> Page[Any]:
    converted = tuple(convert(item) for item in items)
    last_key = items.last_evaluated_key
    return Page(items=converted, cursor=None if last_key is None else encode_cursor(last_key))


def _start_key(
    cursor: str | None, index: GlobalSecondaryIndex[Any], hash_key: str
) -> dict[str, Any] | None:
    """The ExclusiveStartKey a cursor stands for, checked to belong to this index and hash
    key: DynamoDB would refuse a foreign one with a ValidationException."""
    if cursor is None:
        return None
    key = decode_cursor(cursor)
    # The table's key and the index's: what a LastEvaluatedKey of the index holds.
    hash_name = index._hash_key_attribute().attr_name
    names = {index._model._hash_key_attribute().attr_name, hash_name} | {
        attribute.attr_name
        for attribute in index.Meta.attributes.values()
        if attribute.is_range_key
    }
    if (
        not isinstance(key, dict)
        or set(key) != names
        or not all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)
            for value in key.values()
        )
        or key[hash_name]["S"] != hash_key
    ):
        raise ValueError(f"not a cursor of this list: {cursor!r}")
    return key
