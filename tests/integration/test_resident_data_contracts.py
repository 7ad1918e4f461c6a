"""Contract tests for the ResidentDataStore port (services.resident_data): the same class runs
against the in-memory twin and against DynamoDB on the moto server. Each test makes residents of
its own (unique numbers), so the DynamoDB stage is shared by the module.

What every implementation must do: find a resident's items and nobody else's; erase them, the
resident item last; take an erased conversation off its agent's workload (`open_count`), also
when the conversation changed after it was found; and run again harmlessly."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from chalicelib.adapters.dynamodb_console_stores import (
    DynamoDBAgentStore,
    DynamoDBConsoleConversationStore,
)
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.dynamodb_reminder_stores import (
    DynamoDBNotificationStore,
    DynamoDBObligationStore,
)
from chalicelib.adapters.dynamodb_resident_data import DynamoDBResidentData
from chalicelib.adapters.dynamodb_stores import DynamoDBResidentStore
from chalicelib.adapters.memory_console_stores import (
    InMemoryAgentStore,
    InMemoryConsoleConversationStore,
)
from chalicelib.adapters.memory_reminder_stores import (
    InMemoryNotificationStore,
    InMemoryObligationStore,
)
from chalicelib.adapters.memory_resident_data import InMemoryResidentData
from chalicelib.adapters.memory_stores import InMemoryDatabase, InMemoryResidentStore
from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.resource_names import ResourceNames
from chalicelib.services.console_ports import (
    AgentStore,
    ConsoleConversationStore,
    ConversationChange,
)
from chalicelib.services.pacing import pair_key
from chalicelib.services.ports import InboundTurn, ObligationStore, ResidentStore, SearchTerm
from chalicelib.services.resident_data import ResidentDataStore
from infra.local_emulator import provision
from tests.resident_data_support import register_for

REGION = "eu-west-1"
AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
PHONE_NUMBER_ID = "109876543210"


@dataclass
class World:
    data: ResidentDataStore
    residents: ResidentStore
    agents: AgentStore
    conversations: ConsoleConversationStore
    obligations: ObligationStore
    notifications: InMemoryNotificationStore | DynamoDBNotificationStore


def a_number() -> str:
    return f"3519{uuid.uuid4().int % 10**8:08d}"


def give_history(world: World, digits: str) -> Conversation:
    """A resident's first turn (message in, reply out, search terms), an obligation with its
    reminders and a notification; their conversation as stored."""
    key = f"wa:{digits}"
    conversation = Conversation(
        id=f"conv-{uuid.uuid4().hex[:10]}",
        resident_key=key,
        status=ConversationStatus.QUEUED,
        team="front_desk",
        opened_at=AT,
        updated_at=AT,
    )

    def message(direction: Direction) -> StoredMessage:
        return StoredMessage(
            id=f"m-{uuid.uuid4().hex[:12]}",
            direction=direction,
            resident_key=key,
            conversation_id=conversation.id,
            message_type="text",
            body="the streetlight on my corner is out",
            created_at=AT,
            status=DeliveryStatus.RECEIVED,
            status_at=AT,
            recipient=digits if direction is Direction.OUTBOUND else None,
        )

    assert world.residents.save_turn(
        InboundTurn(
            inbound=message(Direction.INBOUND),
            resident=Resident(
                key=key,
                wa_id=digits,
                profile_name="Resident",
                consent=ConsentState.GIVEN,
                current_conversation_id=conversation.id,
                created_at=AT,
            ),
            resident_is_new=True,
            conversation=conversation,
            replies=(message(Direction.OUTBOUND),),
            search_terms=tuple(
                SearchTerm(term=term, conversation_id=conversation.id, at=AT)
                for term in ("streetlight", "corner")
            ),
        )
    )
    register_for(digits, AT, obligations=world.obligations, notifications=world.notifications)
    stored = world.conversations.get(conversation.id)
    assert stored is not None
    return stored


def an_agent(world: World) -> Agent:
    agent = Agent(
        id=f"agent-{uuid.uuid4().hex[:8]}@town.example",
        name="Agent",
        role=Role.AGENT,
        teams=("front_desk",),
        online=True,
        created_at=AT,
    )
    world.agents.save_profile(agent)
    return agent


def take(world: World, conversation: Conversation, agent: Agent) -> Conversation:
    """The agent takes the conversation: it counts in their workload."""
    taken = replace(conversation, status=ConversationStatus.ASSIGNED, assignee=agent.id)
    world.conversations.apply(ConversationChange(conversation=taken, load={agent.id: 1}))
    stored = world.conversations.get(conversation.id)
    assert stored is not None and stored.holder == agent.id
    return stored


def open_count(world: World, agent: Agent) -> int:
    found = world.agents.get(agent.id)
    assert found is not None
    return found.open_count


class ResidentDataContract:
    @pytest.fixture
    def world(self) -> World:
        raise NotImplementedError

    def test_collect_finds_the_residents_items_and_nobody_elses(self, world: World) -> None:
        ann, bob = a_number(), a_number()
        conversation = give_history(world, ann)
        give_history(world, bob)

        records = world.data.collect(f"wa:{ann}")

        assert records.resident is not None and records.resident.wa_id == ann
        assert [c.id for c in records.conversations] == [conversation.id]
        assert {m.resident_key for m in records.messages} == {f"wa:{ann}"}
        assert len(records.messages) == 2
        assert {e.term for e in records.search_terms} == {"streetlight", "corner"}
        assert [o.external_id for o in records.obligations] == [f"TAX-{ann}"]
        assert records.reminders and {r.external_id for r in records.reminders} == {f"TAX-{ann}"}
        assert [n.external_id for n in records.notifications] == [f"DOC-{ann}"]
        assert bob not in repr(records)

    def test_nobody_known_is_empty(self, world: World) -> None:
        assert world.data.collect(f"wa:{a_number()}").empty

    def test_erasing_leaves_nothing_and_is_harmless_twice(self, world: World) -> None:
        ann, bob = a_number(), a_number()
        give_history(world, ann)
        give_history(world, bob)
        bob_before = world.data.collect(f"wa:{bob}").counts()
        records = world.data.collect(f"wa:{ann}")

        world.data.erase(records)
        assert world.data.collect(f"wa:{ann}").counts() == {"residents": 1}  # it goes last
        world.data.delete_resident(f"wa:{ann}")
        world.data.erase(records)  # again: what is gone already is no error
        world.data.delete_resident(f"wa:{ann}")

        assert world.data.collect(f"wa:{ann}").empty
        assert world.data.collect(f"wa:{bob}").counts() == bob_before

    def test_a_held_conversation_leaves_its_agents_workload(self, world: World) -> None:
        ann = a_number()
        agent = an_agent(world)
        take(world, give_history(world, ann), agent)
        assert open_count(world, agent) == 1

        world.data.erase(world.data.collect(f"wa:{ann}"))

        assert open_count(world, agent) == 0
        world.data.erase(world.data.collect(f"wa:{ann}"))  # nothing left: nothing counted twice
        assert open_count(world, agent) == 0

    def test_a_conversation_taken_after_it_was_found_is_still_counted_off(
        self, world: World
    ) -> None:
        ann = a_number()
        agent = an_agent(world)
        conversation = give_history(world, ann)
        records = world.data.collect(f"wa:{ann}")  # found while nobody held it
        take(world, conversation, agent)

        world.data.erase(records)

        assert world.conversations.get(conversation.id) is None
        assert open_count(world, agent) == 0


class TestInMemoryResidentData(ResidentDataContract):
    @pytest.fixture
    def world(self) -> World:
        database = InMemoryDatabase()
        return World(
            data=InMemoryResidentData(database),
            residents=InMemoryResidentStore(database),
            agents=InMemoryAgentStore(database),
            conversations=InMemoryConsoleConversationStore(database),
            obligations=InMemoryObligationStore(database),
            notifications=InMemoryNotificationStore(database),
        )


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    names = ResourceNames(f"rd{uuid.uuid4().hex[:7]}")
    provision(moto_endpoint, names, REGION)
    return names


class TestDynamoDBResidentData(ResidentDataContract):
    @pytest.fixture
    def world(self, moto_stage: ResourceNames, aws_env: str) -> World:
        tables = stage_tables(moto_stage, REGION)
        return World(
            data=DynamoDBResidentData(tables, media=None, phone_number_id=PHONE_NUMBER_ID),
            residents=DynamoDBResidentStore(tables, retention=lambda: None),
            agents=DynamoDBAgentStore(tables),
            conversations=DynamoDBConsoleConversationStore(tables, retention=lambda: None),
            obligations=DynamoDBObligationStore(tables, retention=lambda: None),
            notifications=DynamoDBNotificationStore(tables, retention=lambda: None),
        )

    def test_the_pacing_state_of_the_number_by_its_key(
        self, world: World, moto_stage: ResourceNames, aws_env: str
    ) -> None:
        tables = stage_tables(moto_stage, REGION)
        ann, bob = a_number(), a_number()
        give_history(world, ann)
        for digits in (ann, bob):
            tables.rate_limits(pair_key(PHONE_NUMBER_ID, digits), tat=1).save()
        tables.rate_limits(pair_key("another-business-number", ann), tat=1).save()

        records = world.data.collect(f"wa:{ann}", recipient=ann)
        assert records.pacing == (pair_key(PHONE_NUMBER_ID, ann),)
        # Without the business number's id (the documented fallback), a Scan finds every pair.
        unknown = DynamoDBResidentData(tables, media=None, phone_number_id=None)
        assert set(unknown.collect(f"wa:{ann}", recipient=ann).pacing) == {
            pair_key(PHONE_NUMBER_ID, ann),
            pair_key("another-business-number", ann),
        }

        world.data.erase(records)
        left = {item.limit_key for item in tables.rate_limits.scan()}
        assert pair_key(PHONE_NUMBER_ID, ann) not in left
        assert pair_key(PHONE_NUMBER_ID, bob) in left
