"""The inboxes at a town hall's scale: 10,000 conversations over three teams, every status and
24 agents, loaded into DynamoDB on moto (a stage of its own) and into the memory store.

For every inbox view, a page costs exactly one Query on the view's index (never a Scan) that
reads at most `limit` items, and following the cursors walks the whole view in urgency order
(domain.inbox.urgency_key, ties by id) — the same order, page by page, as the memory store.
Requests are counted with botocore event hooks on the client the stores use. Run with `-s` to
see the measured figures."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.adapters.dynamodb_console_stores import DynamoDBConsoleConversationStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.memory_console_stores import InMemoryConsoleConversationStore
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.inbox import urgency_key
from chalicelib.resource_names import ResourceNames
from chalicelib.services.console_ports import ConversationChange, InboxView, Page
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
CONVERSATIONS = 10_000
TEAMS = {"front_desk": 0.5, "public_works": 0.3, "finance": 0.2}
AGENTS_PER_TEAM = 8
STATUSES = {  # most of a town hall's conversations are history
    ConversationStatus.RESOLVED: 0.60,
    ConversationStatus.BOT: 0.10,
    ConversationStatus.QUEUED: 0.08,
    ConversationStatus.ASSIGNED: 0.15,
    ConversationStatus.SNOOZED: 0.07,
}
PAGE = 50  # the console's page
# Walking whole views on moto costs ~3 ms per item returned (its response serializer) and
# ~0.4 s per Query (it reads the whole table): big pages, and one key per view.
WALK_PAGE = 500
BATCH = 25  # BatchWriteItem's most


# --- the data ---------------------------------------------------------------------------------


def agents_of(team: str) -> list[str]:
    return [f"{team}.{n}@town.example" for n in range(AGENTS_PER_TEAM)]


def town(seed: int = 6) -> list[Conversation]:
    """10,000 conversations as stored (version 1): handed off over the last three days (some at
    the very same moment, so ties need the id), some answered, some without an SLA."""
    rng = random.Random(seed)
    teams, team_weights = list(TEAMS), list(TEAMS.values())
    statuses, status_weights = list(STATUSES), list(STATUSES.values())
    shared_moments = [NOW - timedelta(hours=h) for h in range(1, 6)]
    conversations = []
    for n in range(CONVERSATIONS):
        team = rng.choices(teams, team_weights)[0]
        status = rng.choices(statuses, status_weights)[0]
        if rng.random() < 0.05:
            handed_off = rng.choice(shared_moments)
        else:
            handed_off = NOW - timedelta(seconds=rng.randrange(3 * 24 * 3600))
        with_sla = rng.random() < 0.9
        with_agent = status in (ConversationStatus.ASSIGNED, ConversationStatus.SNOOZED)
        conversations.append(
            Conversation(
                id=f"conv-{uuid.UUID(int=rng.getrandbits(128)).hex}",
                resident_key=f"wa:34600{n:06d}",
                status=status,
                bot_state={"mode": "with_person" if status.value != "bot" else "menu"},
                team=None if status is ConversationStatus.BOT else team,
                assignee=rng.choice(agents_of(team)) if with_agent else None,
                opened_at=handed_off - timedelta(minutes=rng.randrange(1, 30)),
                updated_at=handed_off,
                handed_off_at=None if status is ConversationStatus.BOT else handed_off,
                first_response_due=handed_off + timedelta(minutes=15) if with_sla else None,
                resolution_due=handed_off + timedelta(days=2) if with_sla else None,
                first_response_at=handed_off + timedelta(minutes=9)
                if with_agent and rng.random() < 0.6
                else None,
                snoozed_until=NOW + timedelta(minutes=rng.randrange(1, 2880))
                if status is ConversationStatus.SNOOZED
                else None,
                resident_name=f"Residente {n}",
                preview="Hay un bache enorme en la calle…",
                last_message_at=handed_off,
                version=1,
            )
        )
    return conversations


def in_view(conversation: Conversation, view: InboxView, key: str | None) -> bool:
    status = conversation.status
    with_agent = status in (ConversationStatus.ASSIGNED, ConversationStatus.SNOOZED)
    if view is InboxView.MINE:
        return with_agent and conversation.assignee == key
    if view is InboxView.UNASSIGNED:
        return status is ConversationStatus.QUEUED and conversation.team == key
    if view is InboxView.TEAM:
        return (status is ConversationStatus.QUEUED or with_agent) and conversation.team == key
    return status is ConversationStatus.QUEUED or with_agent


def expected(conversations: list[Conversation], view: InboxView, key: str | None) -> list[str]:
    chosen = [c for c in conversations if in_view(c, view, key)]
    return [c.id for c in sorted(chosen, key=lambda c: (urgency_key(c), c.id))]


VIEWS: list[tuple[InboxView, str | None]] = [
    *((InboxView.MINE, agents_of(team)[0]) for team in TEAMS),
    *((InboxView.UNASSIGNED, team) for team in TEAMS),
    *((InboxView.TEAM, team) for team in TEAMS),
    (InboxView.ALL, None),
]
VIEW_IDS = [f"{view.value}-{key}" for view, key in VIEWS]
WALKS = [
    (InboxView.MINE, agents_of("front_desk")[0]),
    (InboxView.UNASSIGNED, "public_works"),
    (InboxView.TEAM, "finance"),
    (InboxView.ALL, None),
]


# --- the stores -------------------------------------------------------------------------------


@dataclass
class Counted:
    """What one call cost: the DynamoDB operations, and per Query what it read."""

    operations: list[str] = field(default_factory=list)
    scanned: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)

    def clear(self) -> None:
        for values in (self.operations, self.scanned, self.returned, self.capacity):
            values.clear()


@dataclass
class Loaded:
    conversations: list[Conversation]
    dynamodb: DynamoDBConsoleConversationStore
    memory: InMemoryConsoleConversationStore
    counted: Counted
    figures: dict[str, Any]

    def cost(self, action: Callable[[], Any]) -> tuple[Any, Counted]:
        self.counted.clear()
        result = action()
        return result, replace(
            self.counted,
            operations=list(self.counted.operations),
            scanned=list(self.counted.scanned),
            returned=list(self.counted.returned),
            capacity=list(self.counted.capacity),
        )


def counting_client(endpoint: str, counted: Counted) -> Any:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)

    def ask_for_capacity(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def record_query(parsed: dict[str, Any], **_: Any) -> None:
        counted.scanned.append(parsed.get("ScannedCount", 0))
        counted.returned.append(len(parsed.get("Items", [])))
        counted.capacity.append(parsed.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))

    events = client.meta.events
    events.register(
        "before-call.dynamodb.*", lambda model, **_: counted.operations.append(model.name)
    )
    events.register("provide-client-params.dynamodb.Query", ask_for_capacity)
    events.register("after-call.dynamodb.Query", record_query)
    return client


def load(endpoint: str, names: ResourceNames, conversations: list[Conversation]) -> float:
    """BatchWriteItem, 25 items a request, the items the model makes; returns the seconds."""
    tables = stage_tables(names, REGION)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    table = names.table("conversations")
    started = time.perf_counter()
    for start in range(0, len(conversations), BATCH):
        requests = [
            {"PutRequest": {"Item": tables.conversations.from_conversation(c).serialize()}}
            for c in conversations[start : start + BATCH]
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def loaded(moto_endpoint: str) -> Iterator[Loaded]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_endpoint,
        }.items():
            env.setenv(name, value)
        names = ResourceNames(f"s{uuid.uuid4().hex[:8]}")
        provision(moto_endpoint, names, REGION)
        conversations = town()
        seconds = load(moto_endpoint, names, conversations)
        memory = InMemoryConsoleConversationStore()
        for conversation in conversations:
            memory.apply(ConversationChange(conversation=replace(conversation, version=0)))
        counted = Counted()
        client = counting_client(moto_endpoint, counted)
        dynamodb = DynamoDBConsoleConversationStore(
            stage_tables(names, REGION, dynamodb_client=client), retention=lambda: None
        )
        figures: dict[str, Any] = {"load_seconds": round(seconds, 1), "pages": [], "walks": []}
        yield Loaded(conversations, dynamodb, memory, counted, figures)
        pages = figures["pages"]
        if pages:
            print(  # the measured figures, shown with -s
                f"\n10k inbox figures: loaded {len(conversations)} conversations in "
                f"{figures['load_seconds']} s with {len(conversations) // BATCH} BatchWriteItem; "
                f"{len(pages)} pages of {PAGE}: requests per page "
                f"{sorted({p['requests'] for p in pages})}, items read per page max "
                f"{max(p['scanned'] for p in pages)}, capacity units per page max "
                f"{max(p['capacity'] for p in pages)}, moto seconds per page max "
                f"{max(p['seconds'] for p in pages):.2f}; walks of {WALK_PAGE}: "
                + ", ".join(figures["walks"])
            )


def walk(
    read: Callable[[str | None], Page[Conversation]],
) -> tuple[list[Conversation], list[Page[Conversation]]]:
    pages: list[Page[Conversation]] = []
    cursor: str | None = None
    while True:
        page = read(cursor)
        pages.append(page)
        cursor = page.cursor
        if cursor is None:
            return [c for p in pages for c in p.items], pages


# --- the tests --------------------------------------------------------------------------------


def test_the_town_spreads_over_teams_statuses_and_agents(loaded: Loaded) -> None:
    conversations = loaded.conversations
    assert len({c.id for c in conversations}) == CONVERSATIONS
    assert {c.status for c in conversations} == set(STATUSES)
    assert {c.team for c in conversations} == {*TEAMS, None}
    assert {c.assignee for c in conversations if c.assignee} == {
        agent for team in TEAMS for agent in agents_of(team)
    }
    assert sum(1 for c in conversations if in_view(c, InboxView.ALL, None)) > 2_500
    ties = len(conversations) - len({urgency_key(c) for c in conversations})
    assert ties > 100  # equally urgent conversations: their order is the id's


@pytest.mark.parametrize(("view", "key"), VIEWS, ids=VIEW_IDS)
def test_a_page_is_one_query_reading_at_most_the_page(
    loaded: Loaded, view: InboxView, key: str | None
) -> None:
    want = expected(loaded.conversations, view, key)
    by_id = {c.id: c for c in loaded.conversations}
    cursor: str | None = None
    memory_cursor: str | None = None
    assert len(want) > PAGE
    for offset in (0, PAGE):  # the first page, and the one its cursor leads to
        started = time.perf_counter()
        page, cost = loaded.cost(
            lambda cursor=cursor: loaded.dynamodb.inbox(view, key, limit=PAGE, cursor=cursor)
        )
        seconds = time.perf_counter() - started
        memory_page = loaded.memory.inbox(view, key, limit=PAGE, cursor=memory_cursor)

        assert cost.operations == ["Query"]
        assert cost.scanned[0] <= PAGE
        assert cost.returned[0] == len(page.items) == len(want[offset : offset + PAGE])
        assert [c.id for c in page.items] == want[offset : offset + PAGE]
        assert list(page.items) == [by_id[c.id] for c in page.items]  # every field, as loaded
        assert memory_page.items == page.items
        cursor, memory_cursor = page.cursor, memory_page.cursor
        assert cursor is not None or offset + PAGE >= len(want)
        loaded.figures["pages"].append(
            {
                "view": f"{view.value}:{key}",
                "requests": len(cost.operations),
                "scanned": cost.scanned[0],
                "capacity": cost.capacity[0],
                "seconds": seconds,
            }
        )


@pytest.mark.parametrize(("view", "key"), WALKS, ids=[f"{v.value}-{k}" for v, k in WALKS])
def test_cursors_walk_the_whole_view_in_urgency_order(
    loaded: Loaded, view: InboxView, key: str | None
) -> None:
    want = expected(loaded.conversations, view, key)

    (items, pages), cost = loaded.cost(
        lambda: walk(
            lambda cursor: loaded.dynamodb.inbox(view, key, limit=WALK_PAGE, cursor=cursor)
        )
    )
    memory_items, _ = walk(
        lambda cursor: loaded.memory.inbox(view, key, limit=WALK_PAGE, cursor=cursor)
    )

    assert [c.id for c in items] == want
    assert cost.operations == ["Query"] * len(pages)
    assert max(cost.scanned) <= WALK_PAGE
    assert sum(cost.scanned) == len(want)  # each item read once
    assert [c.id for c in memory_items] == want
    loaded.figures["walks"].append(f"{view.value}: {len(want)} in {len(cost.operations)} Query")
