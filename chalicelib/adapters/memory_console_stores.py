"""In-memory twins of the console's DynamoDB stores (`dynamodb_console_stores`), on the shared
`InMemoryDatabase`: a conversation saved by the resident store is seen here, and the other way
round. They pass the same contract tests (tests/integration/test_console_store_contracts.py),
so they order, page and fail as the DynamoDB stores do:

- what each inbox holds and in which order come from the same domain functions the DynamoDB
  model derives its index keys from (domain.inbox.inbox_keys, inbox_sort_key, sla_check_key);
  a page that came back full carries a cursor even when nothing follows, as DynamoDB's may
  (the next page is then empty, with no cursor);
- a malformed cursor, a `limit` below 1 or a missing inbox key raise ValueError;
- an unknown agent in a change's `load`, or an unknown resident's tags, raise KeyError.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.adapters.memory_stores import InMemoryDatabase, check_version, copies_of
from chalicelib.adapters.store_rules import (
    FIND_READ_FACTOR,
    check_limit,
    check_page_request,
    decode_cursor,
    encode_cursor,
)
from chalicelib.domain.agents import Agent
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.inbox import in_inbox, inbox_sort_key, sla_check_key, sortable_time
from chalicelib.domain.messages import StoredMessage
from chalicelib.services.console_ports import (
    CapacityReachedError,
    ConversationChange,
    InboxView,
    Page,
)


def _page(
    items: Iterable[Any],
    position: Callable[[Any], list[str]],
    limit: int,
    cursor: str | None,
    *,
    scope: list[str],
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of `items` in `position` order, from just past the cursor's position. A cursor
    carries the `scope` of its list (view and key): another list's is refused, as DynamoDB
    refuses a start key of another partition."""
    ordered = sorted(items, key=position, reverse=descending)
    if cursor is not None:
        saved = decode_cursor(cursor)
        if (
            not isinstance(saved, list)
            or not all(isinstance(part, str) for part in saved)
            or saved[: len(scope)] != scope
        ):
            raise ValueError(f"not a cursor of this list: {cursor!r}")
        last = saved[len(scope) :]
        ordered = [
            item
            for item in ordered
            if (position(item) < last if descending else position(item) > last)
        ]
    page = ordered[:limit]
    next_cursor = encode_cursor(scope + position(page[-1])) if len(page) == limit else None
    return page, next_cursor


class InMemoryAgentStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, agent_id: str) -> Agent | None:
        with self.database.lock:
            return copy.deepcopy(self.database.agents.get(agent_id))

    def get_many(self, agent_ids: Sequence[str]) -> list[Agent]:
        return copies_of(self.database.agents, agent_ids, self.database.lock)

    def save_profile(self, agent: Agent) -> None:
        with self.database.lock:
            existing = self.database.agents.get(agent.id)
            if existing is not None:
                agent = replace(
                    existing,
                    name=agent.name,
                    role=agent.role,
                    teams=tuple(agent.teams),
                    capacity=agent.capacity,
                    disabled=agent.disabled,
                )
            self.database.agents[agent.id] = copy.deepcopy(agent)

    def team_members(self, team: str) -> list[Agent]:
        """By id, disabled ones included (they have no room)."""
        with self.database.lock:
            members = [a for a in self.database.agents.values() if team in a.teams]
            return copy.deepcopy(sorted(members, key=lambda agent: agent.id))

    def list_all(self) -> list[Agent]:
        with self.database.lock:
            return copy.deepcopy(sorted(self.database.agents.values(), key=lambda a: a.id))

    def set_online(self, agent_id: str, online: bool, now: datetime) -> Agent | None:
        with self.database.lock:
            agent = self.database.agents.get(agent_id)
            if agent is None:
                return None
            agent = replace(agent, online=online, last_seen_at=now)
            self.database.agents[agent_id] = agent
            return copy.deepcopy(agent)

    def touch(self, agent_id: str, now: datetime) -> None:
        with self.database.lock:
            agent = self.database.agents.get(agent_id)
            if agent is not None:
                self.database.agents[agent_id] = replace(agent, last_seen_at=now)

    def set_offline_if_unseen(self, agent_id: str, seen_before: datetime) -> bool:
        with self.database.lock:
            agent = self.database.agents.get(agent_id)
            if agent is None or not agent.online:
                return False
            if agent.last_seen_at is not None and agent.last_seen_at >= seen_before:
                return False
            self.database.agents[agent_id] = replace(agent, online=False)
            return True


class InMemoryConsoleConversationStore:
    def __init__(self, database: InMemoryDatabase | None = None) -> None:
        self.database = database or InMemoryDatabase()

    def get(self, conversation_id: str) -> Conversation | None:
        with self.database.lock:
            return copy.deepcopy(self.database.conversations.get(conversation_id))

    def get_many(self, conversation_ids: Sequence[str]) -> list[Conversation]:
        return copies_of(self.database.conversations, conversation_ids, self.database.lock)

    def apply(self, change: ConversationChange) -> None:
        db = self.database
        conversation = change.conversation
        with db.lock:
            check_version(db.conversations, conversation)
            loads = dict(change.load)
            if change.requires_room is not None:
                loads.setdefault(change.requires_room, 0)
                taker = db.agents.get(change.requires_room)
                if taker is None or not taker.has_room():
                    raise CapacityReachedError(
                        f"agent {change.requires_room} is offline, disabled or full"
                    )
            unknown = [agent_id for agent_id in loads if agent_id not in db.agents]
            if unknown:
                raise KeyError(f"no agents {unknown}")
            db.conversations[conversation.id] = copy.deepcopy(
                replace(conversation, version=conversation.version + 1)
            )
            for agent_id, delta in loads.items():
                agent = db.agents[agent_id]
                changes: dict[str, Any] = {"open_count": agent.open_count + delta}
                if change.assigned_at is not None and (
                    delta > 0 or agent_id == change.requires_room
                ):
                    changes["last_assigned_at"] = change.assigned_at
                db.agents[agent_id] = replace(agent, **changes)
            for event in change.events:
                db.messages[event.id] = copy.deepcopy(event)

    def inbox(
        self, view: InboxView, key: str | None, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Conversation]:
        check_page_request(view, key, limit)
        with self.database.lock:
            page, next_cursor = _page(
                (c for c in self.database.conversations.values() if in_inbox(c, view, key)),
                lambda c: [inbox_sort_key(c)],
                limit,
                cursor,
                scope=["inbox", view.value, key or ""],
            )
            return Page(items=tuple(copy.deepcopy(page)), cursor=next_cursor)

    def sla_checks_due(self, now: datetime, limit: int = 100) -> list[Conversation]:
        bound = f"{sortable_time(now)}$"  # "$" sorts after the "#" that ends the time
        with self.database.lock:
            due = sorted(
                (
                    (check_key, conversation)
                    for conversation in self.database.conversations.values()
                    if (check_key := sla_check_key(conversation)) is not None and check_key < bound
                ),
                key=lambda pair: pair[0],
            )
            return copy.deepcopy([conversation for _, conversation in due[: max(limit, 0)]])

    def opened_between(self, start: datetime, end: datetime) -> Iterator[Conversation]:
        with self.database.lock:
            opened = sorted(
                (c for c in self.database.conversations.values() if start <= c.opened_at < end),
                key=lambda c: (c.opened_at, c.id),
            )
            opened = copy.deepcopy(opened)
        yield from opened

    def for_resident(self, resident_key: str, limit: int = 20) -> list[Conversation]:
        with self.database.lock:
            theirs = sorted(
                (c for c in self.database.conversations.values() if c.resident_key == resident_key),
                key=lambda c: (c.opened_at, c.id),
                reverse=True,
            )
            return copy.deepcopy(theirs[: max(limit, 0)])

    def history(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        after: datetime | None = None,
    ) -> Page[StoredMessage]:
        check_limit(limit)
        with self.database.lock:
            page, next_cursor = _page(
                (
                    m
                    for m in self.database.messages.values()
                    if m.conversation_id == conversation_id
                    and (after is None or m.created_at > after)
                ),
                lambda m: [sortable_time(m.created_at), m.id],
                limit,
                cursor,
                scope=["history", conversation_id],
                descending=True,
            )
            return Page(items=tuple(copy.deepcopy(page)), cursor=next_cursor)

    def find(self, term: str, *, limit: int = 50) -> list[str]:
        if limit < 1:
            return []
        with self.database.lock:
            entries = self.database.search.get(term, {})
            newest = sorted(entries, reverse=True)[: limit * FIND_READ_FACTOR]
            ids = [entries[entry].conversation_id for entry in newest]
        return list(dict.fromkeys(ids))[:limit]

    def set_resident_tags(self, resident_key: str, tags: Sequence[str]) -> None:
        with self.database.lock:
            resident = self.database.residents.get(resident_key)
            if resident is None:
                raise KeyError(f"no resident {resident_key!r}")
            self.database.residents[resident_key] = replace(resident, tags=tuple(tags))
