"""Contract tests for the console's stores (AgentStore, ConsoleConversationStore), the search
terms a turn writes, obligations by resident and media links: the same test classes run against
the in-memory twins and against DynamoDB/S3 on the moto server (a fresh stage per module,
provisioned through moto's CloudFormation from the real template).

The DynamoDB tables are shared by the module's tests, so each test works in teams, agents,
residents and search terms of its own, and in an era of its own where a query spans every
partition (all open conversations, SLA checks, reports)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests

from chalicelib.adapters.dynamodb_console_stores import (
    DynamoDBAgentStore,
    DynamoDBConsoleConversationStore,
)
from chalicelib.adapters.dynamodb_models import StageTables, stage_tables
from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBObligationStore
from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore, DynamoDBResidentStore
from chalicelib.adapters.memory_console_stores import (
    InMemoryAgentStore,
    InMemoryConsoleConversationStore,
)
from chalicelib.adapters.memory_media import InMemoryMediaArchive
from chalicelib.adapters.memory_reminder_stores import InMemoryObligationStore
from chalicelib.adapters.memory_stores import (
    InMemoryDatabase,
    InMemoryMessageStore,
    InMemoryResidentStore,
)
from chalicelib.adapters.s3_media_archive import S3MediaArchive
from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget
from chalicelib.domain.inbox import urgency_key
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.resource_names import ResourceNames
from chalicelib.services.console_ports import (
    AgentStore,
    CapacityReachedError,
    ConsoleConversationStore,
    ConversationChange,
    InboxView,
    Page,
)
from chalicelib.services.ports import (
    ConcurrentUpdateError,
    InboundTurn,
    MediaArchive,
    MessageStore,
    ObligationStore,
    ResidentStore,
    SearchTerm,
)
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2026, 11, 23, 10, 30, 15, 250000, tzinfo=UTC)
Q, A, S = ConversationStatus.QUEUED, ConversationStatus.ASSIGNED, ConversationStatus.SNOOZED


# --- builders ---------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def an_agent(*teams: str, **changes: Any) -> Agent:
    agent = Agent(
        id=f"{unique('agent.')}@town.example",
        name="Ana Pérez",
        role=Role.AGENT,
        teams=teams,
        capacity=2,
        online=True,
        last_seen_at=NOW - timedelta(minutes=1),
        created_at=NOW - timedelta(days=30),
    )
    return replace(agent, **changes)


def a_conversation(team: str | None = None, status: ConversationStatus = Q, **changes: Any):
    """Handed off at `handed_off_at` (NOW by default), with a 15-minute first-response SLA."""
    handed_off_at = changes.get("handed_off_at", NOW) or NOW
    conversation = Conversation(
        id=unique("conv-"),
        resident_key=unique("wa:34600"),
        status=status,
        bot_state={"mode": "with_person", "answers": {"age": 71, "ratio": 0.5}},
        team=team,
        opened_at=handed_off_at - timedelta(minutes=2),
        updated_at=handed_off_at,
        last_inbound_at=handed_off_at - timedelta(minutes=2),
        handed_off_at=handed_off_at,
        first_response_due=handed_off_at + timedelta(minutes=15),
        resolution_due=handed_off_at + timedelta(days=2),
    )
    return replace(conversation, **changes)


def every_field(conversation: Conversation) -> Conversation:
    """Every console field set (and both SLA sets non-empty)."""
    return replace(
        conversation,
        status=S,
        assignee="ana@town.example",
        assigned_at=NOW + timedelta(minutes=3),
        last_agent="ana@town.example",
        first_response_at=NOW + timedelta(minutes=4),
        resolution_started_at=NOW + timedelta(days=1, hours=2),
        sla_warned=frozenset({SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION}),
        sla_breached=frozenset({SlaTarget.FIRST_RESPONSE}),
        sla_next_check=NOW + timedelta(hours=1),
        snoozed_until=NOW + timedelta(hours=1),
        resident_name="Ana Pérez — ñ, ç, عربي",
        preview="Há um buraco na rua…",
        last_message_at=NOW + timedelta(minutes=4),
        resolved_at=NOW + timedelta(days=1),
        csat_score=4,
        csat_at=NOW + timedelta(days=1, minutes=1),
    )


def a_note(conversation: Conversation, at: datetime, text: str = "llamar mañana") -> StoredMessage:
    return StoredMessage(
        id=unique("note-"),
        direction=Direction.NOTE,
        resident_key=conversation.resident_key,
        conversation_id=conversation.id,
        message_type="note",
        body=text,
        created_at=at,
        status=DeliveryStatus.RECEIVED,
        status_at=at,
        sent_by="ana@town.example",
    )


def an_event(conversation: Conversation, at: datetime, name: str = "assigned") -> StoredMessage:
    return replace(
        a_note(conversation, at, f"{name} by Ana"),
        message_type="event",
        payload={"event": name, "to": "ana@town.example"},
    )


def a_turn(
    conversation: Conversation,
    *,
    at: datetime = NOW,
    terms: tuple[SearchTerm, ...] = (),
    resident_is_new: bool = True,
) -> InboundTurn:
    """An inbound turn saving `conversation` (at the version it was read)."""
    wamid = unique("wamid.IN")
    inbound = StoredMessage(
        id=wamid,
        wamid=wamid,
        direction=Direction.INBOUND,
        resident_key=conversation.resident_key,
        conversation_id=conversation.id,
        message_type="text",
        body="hay un bache en la calle mayor",
        created_at=at,
        status=DeliveryStatus.RECEIVED,
        status_at=at,
    )
    resident = Resident(
        key=conversation.resident_key,
        wa_id=conversation.resident_key.removeprefix("wa:"),
        profile_name="Ana",
        language="es",
        consent=ConsentState.GIVEN,
        tags=("barrio-norte",),
        last_inbound_at=at,
        current_conversation_id=conversation.id,
        created_at=NOW - timedelta(days=3),
    )
    return InboundTurn(
        inbound=inbound,
        resident=resident,
        resident_is_new=resident_is_new,
        conversation=conversation,
        replies=(),
        search_terms=terms,
    )


def an_obligation(resident_key: str, due: date, **changes: Any) -> Obligation:
    obligation = Obligation(
        external_id=unique("LIC-"),
        kind="driving_licence",
        phone="+34600111222",
        resident_key=resident_key,
        language="es",
        due_date=due,
        params={"name": "Ana"},
        created_at=NOW,
        updated_at=NOW,
        registered_by="imt",
    )
    return replace(obligation, **changes)


def ids(items: Any) -> list[str]:
    return [item.id for item in items]


def by_urgency(*conversations: Conversation) -> list[str]:
    """The inboxes' order: urgency, then id."""
    return ids(sorted(conversations, key=lambda c: (urgency_key(c), c.id)))


def walk(read: Callable[[str | None], Page[Any]]) -> tuple[list[Any], int]:
    """Every item of a paged list, and how many pages it took."""
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = read(cursor)
        pages += 1
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items, pages


@dataclass
class Stores:
    residents: ResidentStore
    messages: MessageStore
    agents: AgentStore
    conversations: ConsoleConversationStore
    obligations: ObligationStore
    # When each of a term's search index entries expires (what no port reads: the item itself).
    search_expiries: Callable[[str], list[datetime | None]]

    def create(self, *conversations: Conversation) -> list[Conversation]:
        """Store new conversations as a console action would; returns them as now stored."""
        for conversation in conversations:
            self.conversations.apply(ConversationChange(conversation=conversation))
        return [replace(conversation, version=1) for conversation in conversations]

    def hire(self, *agents: Agent) -> list[Agent]:
        for agent in agents:
            self.agents.save_profile(agent)
        return list(agents)


# --- the contract -----------------------------------------------------------------------------


class ConsoleStoreContract:
    @pytest.fixture
    def stores(self) -> Stores:
        raise NotImplementedError

    # agents

    def test_a_new_agent_is_stored_whole(self, stores: Stores) -> None:
        (agent,) = stores.hire(an_agent("finance", "front_desk", open_count=1))

        assert stores.agents.get(agent.id) == agent
        assert stores.agents.get(unique("nobody@")) is None

    def test_membership_items_are_not_agents(self, stores: Stores) -> None:
        team = unique("team-")
        stores.hire(an_agent(team))

        assert stores.agents.get(f"#team#{team}") is None
        assert stores.agents.get("#all") is None
        assert stores.agents.get_many([f"#team#{team}", "#all"]) == []
        assert stores.agents.set_online("#all", True, NOW) is None

    def test_saving_a_profile_keeps_presence_load_and_creation(self, stores: Stores) -> None:
        team, other = unique("team-"), unique("team-")
        (agent,) = stores.hire(an_agent(team, online=False, last_seen_at=None))
        stores.agents.set_online(agent.id, True, NOW)
        stored = stores.agents.get(agent.id)
        assert stored is not None
        conversation = stores.create(a_conversation(team))[0]
        stores.conversations.apply(
            ConversationChange(
                conversation=replace(conversation, status=A, assignee=agent.id),
                load={agent.id: 1},
                requires_room=agent.id,
                assigned_at=NOW,
            )
        )

        stores.agents.save_profile(
            replace(
                agent,
                name="Ana P. Gómez",
                role=Role.SUPERVISOR,
                teams=(other,),
                capacity=9,
                disabled=True,
                online=False,
                open_count=0,
                last_seen_at=None,
                last_assigned_at=None,
                created_at=NOW,
            )
        )

        assert stores.agents.get(agent.id) == replace(
            agent,
            name="Ana P. Gómez",
            role=Role.SUPERVISOR,
            teams=(other,),
            capacity=9,
            disabled=True,
            online=True,
            last_seen_at=NOW,
            open_count=1,
            last_assigned_at=NOW,
        )

    def test_team_members_follow_the_profiles(self, stores: Stores) -> None:
        team, other = unique("team-"), unique("team-")
        ana, bea, cai = stores.hire(
            an_agent(team), an_agent(team, other), an_agent(other, disabled=True)
        )

        assert ids(stores.agents.team_members(team)) == sorted([ana.id, bea.id])
        assert ids(stores.agents.team_members(other)) == sorted([bea.id, cai.id])

        stores.agents.save_profile(replace(bea, teams=(other,)))
        stores.agents.save_profile(replace(ana, teams=(other, team)))

        assert ids(stores.agents.team_members(team)) == [ana.id]
        assert ids(stores.agents.team_members(other)) == sorted([ana.id, bea.id, cai.id])
        assert stores.agents.team_members(unique("team-")) == []

    def test_list_all_lists_every_agent_once_by_id(self, stores: Stores) -> None:
        ours = stores.hire(an_agent(unique("team-")), an_agent(), an_agent(unique("team-")))
        stores.agents.save_profile(replace(ours[0], name="again"))

        listed = stores.agents.list_all()

        assert ids(listed) == sorted(set(ids(listed)))
        assert set(ids(ours)) <= set(ids(listed))
        assert next(a for a in listed if a.id == ours[0].id).name == "again"

    def test_get_many_keeps_the_order_asked(self, stores: Stores) -> None:
        ana, bea = stores.hire(an_agent("finance"), an_agent("finance"))

        got = stores.agents.get_many([bea.id, "nobody@town.example", ana.id, bea.id])

        assert got == [bea, ana]
        assert stores.agents.get_many([]) == []

    def test_presence_and_being_seen(self, stores: Stores) -> None:
        (agent,) = stores.hire(an_agent("finance", online=False))
        later = NOW + timedelta(minutes=5)

        online = stores.agents.set_online(agent.id, True, NOW)
        stores.agents.touch(agent.id, later)

        assert online == replace(agent, online=True, last_seen_at=NOW)
        assert stores.agents.get(agent.id) == replace(agent, online=True, last_seen_at=later)
        assert stores.agents.set_online(agent.id, False, later) == replace(
            agent, online=False, last_seen_at=later
        )

    def test_unknown_agents_are_not_created_by_presence(self, stores: Stores) -> None:
        stranger = unique("nobody@")

        assert stores.agents.set_online(stranger, True, NOW) is None
        stores.agents.touch(stranger, NOW)
        assert not stores.agents.set_offline_if_unseen(stranger, NOW)

        assert stores.agents.get(stranger) is None

    def test_going_offline_unseen_loses_to_a_fresh_touch(self, stores: Stores) -> None:
        (agent,) = stores.hire(an_agent("finance", last_seen_at=NOW - timedelta(minutes=20)))
        cutoff = NOW - timedelta(minutes=10)
        stores.agents.touch(agent.id, NOW)  # the console's heartbeat landed first

        assert not stores.agents.set_offline_if_unseen(agent.id, cutoff)
        assert stores.agents.get(agent.id) == replace(agent, last_seen_at=NOW)
        assert not stores.agents.set_offline_if_unseen(agent.id, NOW)  # seen at, not before
        assert stores.agents.set_offline_if_unseen(agent.id, NOW + timedelta(microseconds=1))
        assert stores.agents.get(agent.id) == replace(agent, online=False, last_seen_at=NOW)
        assert not stores.agents.set_offline_if_unseen(agent.id, NOW + timedelta(hours=1))

    def test_an_agent_never_seen_goes_offline_unseen(self, stores: Stores) -> None:
        never, away = stores.hire(
            an_agent("finance", last_seen_at=None), an_agent("finance", online=False)
        )

        assert stores.agents.set_offline_if_unseen(never.id, NOW)
        assert not stores.agents.set_offline_if_unseen(away.id, NOW + timedelta(hours=1))

        assert stores.agents.get(never.id) == replace(never, online=False)
        assert stores.agents.get(away.id) == away

    # conversations: storage

    def test_every_console_field_round_trips_through_a_turn(self, stores: Stores) -> None:
        conversation = every_field(a_conversation("finance"))

        stores.residents.save_turn(a_turn(conversation))

        stored = replace(conversation, version=1)
        assert stores.conversations.get(conversation.id) == stored
        assert stores.residents.load(conversation.resident_key)[1] == stored
        assert stores.conversations.get_many([unique("c"), conversation.id]) == [stored]

    def test_every_console_field_round_trips_through_apply(self, stores: Stores) -> None:
        (stored,) = stores.create(a_conversation("finance"))
        changed = replace(every_field(stored), bot_state={"mode": "with_person", "n": [1, 2.5]})

        stores.conversations.apply(ConversationChange(conversation=changed))

        assert stores.conversations.get(stored.id) == replace(changed, version=2)
        assert stores.conversations.get(unique("conv-")) is None

    def test_a_console_change_is_seen_by_the_resident_store(self, stores: Stores) -> None:
        conversation = a_conversation("finance")
        stores.residents.save_turn(a_turn(conversation))
        read = stores.conversations.get(conversation.id)
        assert read is not None

        stores.conversations.apply(
            ConversationChange(conversation=replace(read, preview="resolved", status=A))
        )
        _, loaded = stores.residents.load(conversation.resident_key)

        assert loaded is not None and (loaded.preview, loaded.version) == ("resolved", 2)
        stores.residents.save_turn(
            a_turn(replace(loaded, preview="next turn"), resident_is_new=False)
        )
        assert stores.conversations.get(conversation.id) == replace(
            loaded, preview="next turn", version=3
        )

    # conversations: apply

    def test_a_change_moves_loads_stamps_the_taker_and_stores_its_events(
        self, stores: Stores
    ) -> None:
        team = unique("team-")
        ana, bea = stores.hire(an_agent(team, open_count=1), an_agent(team, open_count=2))
        (conversation,) = stores.create(a_conversation(team, A, assignee=bea.id))
        events = (an_event(conversation, NOW, "transferred"), a_note(conversation, NOW))

        stores.conversations.apply(
            ConversationChange(
                conversation=replace(conversation, assignee=ana.id, assigned_at=NOW),
                load={ana.id: 1, bea.id: -1},
                requires_room=ana.id,
                events=events,
                assigned_at=NOW,
            )
        )

        assert stores.agents.get(ana.id) == replace(ana, open_count=2, last_assigned_at=NOW)
        assert stores.agents.get(bea.id) == replace(bea, open_count=1)
        stored = stores.conversations.get(conversation.id)
        assert stored is not None and (stored.assignee, stored.version) == (ana.id, 2)
        assert stores.messages.get_many([e.id for e in events]) == list(events)

    def test_a_stale_version_writes_nothing(self, stores: Stores) -> None:
        (agent,) = stores.hire(an_agent("finance", open_count=0))
        (conversation,) = stores.create(a_conversation("finance"))
        stores.conversations.apply(ConversationChange(conversation=conversation))
        note = a_note(conversation, NOW)

        with pytest.raises(ConcurrentUpdateError):
            stores.conversations.apply(
                ConversationChange(
                    conversation=replace(conversation, status=A, assignee=agent.id),
                    load={agent.id: 1},
                    requires_room=agent.id,
                    events=(note,),
                    assigned_at=NOW,
                )
            )

        assert stores.agents.get(agent.id) == agent
        assert stores.messages.get(note.id) is None
        assert stores.conversations.get(conversation.id) == replace(conversation, version=2)

    def test_a_new_conversation_must_be_new(self, stores: Stores) -> None:
        (conversation,) = stores.create(a_conversation("finance"))

        with pytest.raises(ConcurrentUpdateError):
            stores.conversations.apply(
                ConversationChange(conversation=replace(conversation, version=0))
            )

    @pytest.mark.parametrize(
        "unfit",
        [
            {"online": False},
            {"disabled": True},
            {"open_count": 2},  # capacity 2
            {"open_count": 3},
        ],
        ids=["offline", "disabled", "full", "over"],
    )
    def test_a_taker_without_room_writes_nothing(
        self, stores: Stores, unfit: dict[str, Any]
    ) -> None:
        team = unique("team-")
        taker, giver = stores.hire(an_agent(team, **unfit), an_agent(team, open_count=1))
        (conversation,) = stores.create(a_conversation(team, A, assignee=giver.id))
        note = a_note(conversation, NOW)

        with pytest.raises(CapacityReachedError):
            stores.conversations.apply(
                ConversationChange(
                    conversation=replace(conversation, assignee=taker.id),
                    load={taker.id: 1, giver.id: -1},
                    requires_room=taker.id,
                    events=(note,),
                    assigned_at=NOW,
                )
            )

        assert stores.agents.get_many([taker.id, giver.id]) == [taker, giver]
        assert stores.conversations.get(conversation.id) == conversation
        assert stores.messages.get(note.id) is None

    def test_an_unknown_taker_has_no_room(self, stores: Stores) -> None:
        (conversation,) = stores.create(a_conversation("finance"))
        stranger = unique("nobody@")

        with pytest.raises(CapacityReachedError):
            stores.conversations.apply(
                ConversationChange(
                    conversation=replace(conversation, status=A, assignee=stranger),
                    load={stranger: 1},
                    requires_room=stranger,
                )
            )

        assert stores.agents.get(stranger) is None

    def test_an_unknown_agent_in_the_load_is_an_error(self, stores: Stores) -> None:
        (agent,) = stores.hire(an_agent("finance"))
        (conversation,) = stores.create(a_conversation("finance", A, assignee=agent.id))
        stranger = unique("nobody@")

        with pytest.raises(KeyError):
            stores.conversations.apply(
                ConversationChange(
                    conversation=replace(conversation, status=Q, assignee=None),
                    load={agent.id: -1, stranger: -1},
                )
            )

        assert stores.agents.get(stranger) is None
        assert stores.agents.get(agent.id) == agent
        assert stores.conversations.get(conversation.id) == conversation

    def test_the_last_room_goes_to_one_change_only(self, stores: Stores) -> None:
        team = unique("team-")
        (agent,) = stores.hire(an_agent(team, open_count=1))
        first, second = stores.create(a_conversation(team), a_conversation(team))

        def take(conversation: Conversation) -> None:
            stores.conversations.apply(
                ConversationChange(
                    conversation=replace(conversation, status=A, assignee=agent.id),
                    load={agent.id: 1},
                    requires_room=agent.id,
                    assigned_at=NOW,
                )
            )

        take(first)
        with pytest.raises(CapacityReachedError):
            take(second)

        assert stores.agents.get(agent.id) == replace(agent, open_count=2, last_assigned_at=NOW)
        assert ids(stores.conversations.inbox(InboxView.UNASSIGNED, team).items) == [second.id]

    # conversations: inboxes

    def test_each_inbox_holds_its_conversations_most_urgent_first(self, stores: Stores) -> None:
        team, other = unique("team-"), unique("team-")
        ana, bea = f"{unique('ana')}@x", f"{unique('bea')}@x"
        minute = timedelta(minutes=1)
        queued_late = a_conversation(team, Q, handed_off_at=NOW + 9 * minute)
        queued_early = a_conversation(team, Q, handed_off_at=NOW - 9 * minute)
        answered = a_conversation(  # urgency: its resolution, two days on
            team, A, assignee=ana, first_response_at=NOW, handed_off_at=NOW - 20 * minute
        )
        mine_soon = a_conversation(team, A, assignee=ana, handed_off_at=NOW + minute)
        snoozed = a_conversation(
            team, S, assignee=ana, snoozed_until=NOW + 3 * minute, handed_off_at=NOW - minute
        )
        elsewhere = a_conversation(other, A, assignee=ana, handed_off_at=NOW + 2 * minute)
        beas = a_conversation(team, A, assignee=bea)
        no_sla = a_conversation(
            team, Q, handed_off_at=NOW, first_response_due=None, resolution_due=None
        )
        with_the_bot = a_conversation(
            team,
            ConversationStatus.BOT,
            handed_off_at=None,
            first_response_due=None,
            resolution_due=None,
            opened_at=NOW,
            updated_at=NOW,
        )
        resolved = a_conversation(team, ConversationStatus.RESOLVED, assignee=ana)
        everything = [
            queued_late,
            queued_early,
            answered,
            mine_soon,
            snoozed,
            elsewhere,
            beas,
            no_sla,
            with_the_bot,
            resolved,
        ]
        stores.create(*everything)

        def view(view: InboxView, key: str | None) -> list[str]:
            return ids(stores.conversations.inbox(view, key, limit=100).items)

        assert view(InboxView.UNASSIGNED, team) == by_urgency(queued_late, queued_early, no_sla)
        assert view(InboxView.MINE, ana) == by_urgency(answered, mine_soon, snoozed, elsewhere)
        assert view(InboxView.MINE, bea) == [beas.id]
        assert view(InboxView.TEAM, team) == by_urgency(
            queued_late, queued_early, answered, mine_soon, snoozed, beas, no_sla
        )
        assert view(InboxView.TEAM, other) == [elsewhere.id]
        assert view(InboxView.TEAM, unique("team-")) == []
        everyone_open = ids(
            walk(lambda cursor: stores.conversations.inbox(InboxView.ALL, None, cursor=cursor))[0]
        )
        open_here = [i for i in everyone_open if i in {c.id for c in everything}]
        assert open_here == by_urgency(
            queued_late, queued_early, answered, mine_soon, snoozed, elsewhere, beas, no_sla
        )

    def test_a_change_moves_the_conversation_between_inboxes(self, stores: Stores) -> None:
        team, other = unique("team-"), unique("team-")
        (agent,) = stores.hire(an_agent(team, other))
        (conversation,) = stores.create(a_conversation(team))

        def where() -> dict[str, bool]:
            found = {
                "unassigned": stores.conversations.inbox(InboxView.UNASSIGNED, team).items,
                "team": stores.conversations.inbox(InboxView.TEAM, team).items,
                "other": stores.conversations.inbox(InboxView.TEAM, other).items,
                "mine": stores.conversations.inbox(InboxView.MINE, agent.id).items,
            }
            return {name: conversation.id in ids(items) for name, items in found.items()}

        def change(**fields: Any) -> None:
            nonlocal conversation
            conversation = replace(conversation, **fields)
            stores.conversations.apply(ConversationChange(conversation=conversation))
            conversation = replace(conversation, version=conversation.version + 1)

        assert where() == {"unassigned": True, "team": True, "other": False, "mine": False}
        change(status=A, assignee=agent.id)
        assert where() == {"unassigned": False, "team": True, "other": False, "mine": True}
        change(status=S, snoozed_until=NOW + timedelta(hours=2))
        assert where() == {"unassigned": False, "team": True, "other": False, "mine": True}
        change(status=Q, assignee=None, team=other)
        assert where() == {"unassigned": False, "team": False, "other": True, "mine": False}
        change(status=ConversationStatus.RESOLVED)
        assert where() == {"unassigned": False, "team": False, "other": False, "mine": False}

    def test_pages_follow_one_another_and_ties_go_by_id(self, stores: Stores) -> None:
        team = unique("team-")
        same_moment = [a_conversation(team) for _ in range(4)]  # equally urgent
        later = a_conversation(team, handed_off_at=NOW + timedelta(seconds=1))
        stores.create(later, *same_moment)

        pages = [stores.conversations.inbox(InboxView.TEAM, team, limit=2)]
        while pages[-1].cursor is not None:
            pages.append(
                stores.conversations.inbox(InboxView.TEAM, team, limit=2, cursor=pages[-1].cursor)
            )

        assert [len(page.items) for page in pages] == [2, 2, 1]
        assert [i for page in pages for i in ids(page.items)] == [
            *sorted(ids(same_moment)),
            later.id,
        ]

    def test_a_full_last_page_may_carry_a_cursor_to_nothing(self, stores: Stores) -> None:
        """DynamoDB returns a LastEvaluatedKey whenever the Limit was reached (moto only when
        more follow; the memory store, like DynamoDB, always): callers must take an empty
        page with no cursor as the end."""
        team = unique("team-")
        stores.create(a_conversation(team), a_conversation(team))

        first = stores.conversations.inbox(InboxView.UNASSIGNED, team, limit=2)

        assert len(first.items) == 2
        if first.cursor is not None:
            last = stores.conversations.inbox(
                InboxView.UNASSIGNED, team, limit=2, cursor=first.cursor
            )
            assert last == Page(items=(), cursor=None)

    def test_inbox_arguments_are_checked(self, stores: Stores) -> None:
        team = unique("team-")
        stores.create(a_conversation(team), a_conversation(team))
        cursor = stores.conversations.inbox(InboxView.TEAM, team, limit=1).cursor
        assert cursor is not None
        inbox = stores.conversations.inbox

        with pytest.raises(ValueError):
            inbox(InboxView.TEAM, team, cursor="not a cursor!")
        with pytest.raises(ValueError):
            inbox(InboxView.TEAM, team, cursor="eyJ4IjoxfQ")  # {"x":1}
        with pytest.raises(ValueError):
            inbox(InboxView.TEAM, unique("team-"), cursor=cursor)  # another team's
        with pytest.raises(ValueError):
            inbox(InboxView.UNASSIGNED, team, cursor=cursor)  # another view's
        with pytest.raises(ValueError):
            inbox(InboxView.TEAM, team, limit=0)
        for view in (InboxView.MINE, InboxView.UNASSIGNED, InboxView.TEAM):
            with pytest.raises(ValueError):
                inbox(view, None)
        assert len(inbox(InboxView.TEAM, team, cursor=cursor).items) == 1

    # conversations: SLA checks, reports, residents

    def test_sla_checks_due_are_the_earliest_first(self, stores: Stores) -> None:
        era = datetime(1981, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)  # this test's alone
        minute = timedelta(minutes=1)
        due = [
            a_conversation("finance", sla_next_check=era + offset)
            for offset in (3 * minute, -minute, 0 * minute, minute)
        ]
        tie = a_conversation("finance", sla_next_check=era + minute)
        not_yet = a_conversation("finance", sla_next_check=era + minute + timedelta(microseconds=1))
        never = a_conversation("finance")
        stored = stores.create(*due, tie, not_yet, never)

        assert ids(stores.conversations.sla_checks_due(era + minute)) == [
            due[1].id,
            due[2].id,
            *sorted([due[3].id, tie.id]),
        ]
        assert ids(stores.conversations.sla_checks_due(era + minute, limit=2)) == [
            due[1].id,
            due[2].id,
        ]
        stores.conversations.apply(
            ConversationChange(conversation=replace(stored[1], sla_next_check=None))
        )
        assert ids(stores.conversations.sla_checks_due(era)) == [due[2].id]

    def test_opened_between_spans_days_and_excludes_the_end(self, stores: Stores) -> None:
        start = datetime(1983, 5, 30, 22, 0, tzinfo=UTC)  # this test's alone
        end = start + timedelta(days=2)

        def opened(at: datetime) -> Conversation:
            return a_conversation("finance", opened_at=at)

        inside = [
            opened(start),
            opened(start + timedelta(hours=3)),  # the next UTC day
            opened(end - timedelta(microseconds=1)),
            opened(start + timedelta(days=1)),
        ]
        outside = [opened(start - timedelta(microseconds=1)), opened(end)]
        stores.create(*inside, *outside)

        found = list(stores.conversations.opened_between(start, end))

        assert sorted(ids(found)) == sorted(ids(inside))
        assert [c.opened_at for c in found] == sorted(c.opened_at for c in found)
        assert list(stores.conversations.opened_between(end, start)) == []
        assert ids(stores.conversations.opened_between(start, start + timedelta(hours=1))) == [
            inside[0].id
        ]

    def test_a_residents_conversations_newest_first(self, stores: Stores) -> None:
        resident_key = unique("wa:34")
        theirs = [
            a_conversation(
                "finance", ConversationStatus.RESOLVED, resident_key=resident_key, opened_at=at
            )
            for at in (NOW - timedelta(days=9), NOW, NOW - timedelta(days=1))
        ]
        stores.create(*theirs, a_conversation("finance"))

        assert ids(stores.conversations.for_resident(resident_key)) == ids(
            [theirs[1], theirs[2], theirs[0]]
        )
        assert ids(stores.conversations.for_resident(resident_key, limit=1)) == [theirs[1].id]
        assert stores.conversations.for_resident(unique("wa:34")) == []

    def test_setting_a_residents_tags(self, stores: Stores) -> None:
        conversation = a_conversation("finance")
        stores.residents.save_turn(a_turn(conversation))

        stores.conversations.set_resident_tags(conversation.resident_key, ["vip", "mayores"])

        resident = stores.residents.get(conversation.resident_key)
        assert resident is not None and resident.tags == ("vip", "mayores")
        stores.conversations.set_resident_tags(conversation.resident_key, [])
        resident = stores.residents.get(conversation.resident_key)
        assert resident is not None and resident.tags == ()
        with pytest.raises(KeyError):
            stores.conversations.set_resident_tags(unique("wa:34"), ["vip"])
        assert stores.residents.get(unique("wa:34")) is None

    # history

    def test_history_is_newest_first_notes_included_and_pages(self, stores: Stores) -> None:
        conversation = a_conversation("finance")
        stores.residents.save_turn(a_turn(conversation, at=NOW))
        read = stores.conversations.get(conversation.id)
        assert read is not None
        second = timedelta(seconds=1)
        notes = tuple(a_note(read, NOW + i * second, f"note {i}") for i in (1, 2, 3))
        stores.conversations.apply(ConversationChange(conversation=read, events=notes))
        elsewhere = a_conversation("finance")
        stores.create(elsewhere)
        stores.conversations.apply(
            ConversationChange(
                conversation=replace(elsewhere, version=1), events=(a_note(elsewhere, NOW),)
            )
        )

        everything, pages = walk(
            lambda cursor: stores.conversations.history(conversation.id, limit=2, cursor=cursor)
        )

        assert [m.body for m in everything] == [
            "note 3",
            "note 2",
            "note 1",
            "hay un bache en la calle mayor",
        ]
        assert everything[0] == notes[2]
        assert pages in (2, 3)  # a third, empty one when the full second page had a cursor
        newer = stores.conversations.history(conversation.id, after=NOW + second)
        assert [m.body for m in newer.items] == ["note 3", "note 2"]
        assert newer.cursor is None
        assert stores.conversations.history(unique("conv-")) == Page(items=())

    def test_history_arguments_are_checked(self, stores: Stores) -> None:
        conversation = a_conversation("finance")
        stores.residents.save_turn(a_turn(conversation))
        stores.conversations.apply(
            ConversationChange(
                conversation=replace(conversation, version=1),
                events=(a_note(conversation, NOW + timedelta(seconds=1)),),
            )
        )
        cursor = stores.conversations.history(conversation.id, limit=1).cursor
        assert cursor is not None

        with pytest.raises(ValueError):
            stores.conversations.history(conversation.id, cursor="%%%")
        with pytest.raises(ValueError):
            stores.conversations.history(unique("conv-"), cursor=cursor)
        with pytest.raises(ValueError):
            stores.conversations.history(conversation.id, limit=0)
        assert len(stores.conversations.history(conversation.id, cursor=cursor).items) == 1

    # search

    def test_a_turns_search_terms_find_its_conversation_newest_first(self, stores: Stores) -> None:
        word, name = f"w:{unique('bache')}", f"n:{unique('ana')}"
        older, newer = a_conversation("finance"), a_conversation("public_works")
        for conversation, at in ((older, NOW - timedelta(days=3)), (newer, NOW)):
            terms = (
                SearchTerm(term=word, conversation_id=conversation.id, at=at),
                SearchTerm(term=name, conversation_id=conversation.id, at=at),
                SearchTerm(term=word, conversation_id=conversation.id, at=at),  # repeated
            )
            stores.residents.save_turn(a_turn(conversation, at=at, terms=terms))
        again = stores.conversations.get(older.id)
        assert again is not None
        later = NOW + timedelta(hours=1)
        stores.residents.save_turn(
            a_turn(
                again,
                at=later,
                terms=(SearchTerm(term=word, conversation_id=older.id, at=later),),
                resident_is_new=False,
            )
        )

        assert stores.conversations.find(word) == [older.id, newer.id]
        assert stores.conversations.find(name) == [newer.id, older.id]
        assert stores.conversations.find(word, limit=1) == [older.id]
        assert stores.conversations.find(f"w:{unique('nada')}") == []
        assert stores.conversations.find(word, limit=0) == []

    def test_search_entries_carry_their_expiry(self, stores: Stores) -> None:
        word = f"w:{unique('bache')}"
        conversation = a_conversation("finance")
        expires_at = datetime(2028, 11, 23, 10, 30, 15, tzinfo=UTC)
        terms = (
            SearchTerm(term=word, conversation_id=conversation.id, at=NOW, expires_at=expires_at),
        )

        stores.residents.save_turn(a_turn(conversation, terms=terms))

        assert stores.conversations.find(word) == [conversation.id]
        assert stores.search_expiries(word) == [expires_at]

    def test_find_reads_a_bounded_number_of_entries(self, stores: Stores) -> None:
        """One conversation saying a word often can crowd a small `find` out: it reads at
        most four entries per id asked for."""
        word = f"w:{unique('farola')}"
        chatty, quiet = a_conversation("finance"), a_conversation("finance")
        stores.residents.save_turn(
            a_turn(quiet, terms=(SearchTerm(term=word, conversation_id=quiet.id, at=NOW),))
        )
        moments = [NOW + timedelta(seconds=i) for i in range(1, 10)]
        stores.residents.save_turn(
            a_turn(
                chatty,
                at=NOW,
                terms=tuple(
                    SearchTerm(term=word, conversation_id=chatty.id, at=t) for t in moments
                ),
            )
        )

        assert stores.conversations.find(word, limit=2) == [chatty.id]
        assert stores.conversations.find(word, limit=3) == [chatty.id, quiet.id]

    # obligations by resident

    def test_a_residents_obligations_latest_due_first(self, stores: Stores) -> None:
        resident_key = unique("wa:34")
        dues = (date(2027, 1, 5), date(2028, 3, 1), date(2026, 12, 24))
        theirs = [an_obligation(resident_key, due) for due in dues]
        for obligation in [*theirs, an_obligation(unique("wa:34"), date(2029, 1, 1))]:
            stores.obligations.save(obligation, [])

        assert stores.obligations.for_resident(resident_key) == [theirs[1], theirs[0], theirs[2]]
        assert stores.obligations.for_resident(resident_key, limit=2) == [theirs[1], theirs[0]]
        assert stores.obligations.for_resident(unique("wa:34")) == []


class TestInMemoryConsoleStores(ConsoleStoreContract):
    @pytest.fixture
    def stores(self) -> Stores:
        database = InMemoryDatabase()
        return Stores(
            residents=InMemoryResidentStore(database),
            messages=InMemoryMessageStore(database),
            agents=InMemoryAgentStore(database),
            conversations=InMemoryConsoleConversationStore(database),
            obligations=InMemoryObligationStore(database),
            search_expiries=lambda term: [
                entry.expires_at for entry in database.search.get(term, {}).values()
            ],
        )

    def test_callers_cannot_change_what_is_stored(self, stores: Stores) -> None:
        (stored,) = stores.create(a_conversation("finance"))
        (agent,) = stores.hire(an_agent("finance"))

        got = stores.conversations.get(stored.id)
        assert got is not None
        got.bot_state["mode"] = "mutated"
        page = stores.conversations.inbox(InboxView.TEAM, "finance")
        page.items[0].bot_state["answers"] = None

        assert stores.conversations.get(stored.id) == stored
        assert stores.agents.get(agent.id) == agent

    def test_without_a_database_each_store_has_its_own(self) -> None:
        assert InMemoryAgentStore().database is not InMemoryAgentStore().database
        conversations = InMemoryConsoleConversationStore()
        assert conversations.database is not InMemoryConsoleConversationStore().database


# --- DynamoDB on moto -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    """A fresh stage per module, created by moto's CloudFormation from the real template."""
    names = ResourceNames(unique("c")[:9])
    provision(moto_endpoint, names, REGION)
    return names


def dynamodb_stores(tables: StageTables) -> Stores:
    def search_expiries(term: str) -> list[datetime | None]:
        """Read raw: the TTL attribute DynamoDB deletes by holds epoch seconds."""
        client = boto3.client("dynamodb", region_name=REGION)
        items = client.query(
            TableName=tables.search.Meta.table_name,
            KeyConditionExpression="#term = :term",
            ExpressionAttributeNames={"#term": "term"},
            ExpressionAttributeValues={":term": {"S": term}},
        )["Items"]
        return [
            datetime.fromtimestamp(int(item["expires_at"]["N"]), UTC)
            if "expires_at" in item
            else None
            for item in items
        ]

    return Stores(
        residents=DynamoDBResidentStore(tables, retention=lambda: None),
        messages=DynamoDBMessageStore(tables, retention=lambda: None),
        agents=DynamoDBAgentStore(tables),
        conversations=DynamoDBConsoleConversationStore(tables, retention=lambda: None),
        obligations=DynamoDBObligationStore(tables, retention=lambda: None),
        search_expiries=search_expiries,
    )


class TestDynamoDBConsoleStores(ConsoleStoreContract):
    @pytest.fixture
    def stores(self, moto_stage: ResourceNames, aws_env: str) -> Stores:
        return dynamodb_stores(stage_tables(moto_stage, REGION))

    @pytest.fixture
    def counted(self, moto_stage: ResourceNames, aws_env: str) -> Iterator[tuple[Stores, Any]]:
        """Stores on a client whose requests are recorded; `requests(action)` lists them."""
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )

        def requests_of(action: Callable[[], object]) -> list[str]:
            operations.clear()
            action()
            return list(operations)

        yield (
            dynamodb_stores(stage_tables(moto_stage, REGION, dynamodb_client=client)),
            (requests_of),
        )

    def test_request_budgets(self, counted: tuple[Stores, Any]) -> None:
        stores, requests_of = counted
        team = unique("team-")
        ana, bea = an_agent(team), an_agent(team)
        conversation = a_conversation(team)

        assert requests_of(lambda: stores.agents.save_profile(ana)) == [
            "GetItem",
            "TransactWriteItems",
        ]
        stores.agents.save_profile(bea)
        assert requests_of(lambda: stores.agents.get(ana.id)) == ["GetItem"]
        assert requests_of(lambda: stores.agents.team_members(team)) == [
            "GetItem",
            "BatchGetItem",
        ]
        assert requests_of(lambda: stores.agents.set_online(ana.id, True, NOW)) == ["UpdateItem"]
        assert requests_of(lambda: stores.agents.touch(ana.id, NOW)) == ["UpdateItem"]
        assert requests_of(lambda: stores.residents.save_turn(a_turn(conversation))) == [
            "TransactWriteItems"
        ]
        change = ConversationChange(
            conversation=replace(conversation, status=A, assignee=ana.id, version=1),
            load={ana.id: 1},
            requires_room=ana.id,
            events=(a_note(conversation, NOW), an_event(conversation, NOW)),
            assigned_at=NOW,
        )
        assert requests_of(lambda: stores.conversations.apply(change)) == ["TransactWriteItems"]
        for view, key in (
            (InboxView.MINE, ana.id),
            (InboxView.UNASSIGNED, team),
            (InboxView.TEAM, team),
            (InboxView.ALL, None),
        ):
            assert requests_of(
                lambda view=view, key=key: stores.conversations.inbox(view, key, limit=5)
            ) == ["Query"]
        for read in (
            lambda: stores.conversations.history(conversation.id),
            lambda: stores.conversations.for_resident(conversation.resident_key),
            lambda: stores.conversations.find("w:bache"),
            lambda: stores.conversations.sla_checks_due(NOW),
            lambda: stores.obligations.for_resident(conversation.resident_key),
        ):
            assert requests_of(read) == ["Query"]
        assert (
            requests_of(
                lambda: list(stores.conversations.opened_between(NOW, NOW + timedelta(days=3)))
            )
            == ["Query"] * 4
        )
        assert requests_of(
            lambda: stores.conversations.set_resident_tags(conversation.resident_key, ["a"])
        ) == ["UpdateItem"]
        assert requests_of(lambda: stores.conversations.get_many([conversation.id])) == [
            "BatchGetItem"
        ]

    def test_the_indexes_are_sparse(self, stores: Stores, moto_stage: ResourceNames) -> None:
        resolved, queued = stores.create(
            a_conversation("finance", ConversationStatus.RESOLVED, assignee="ana@x"),
            a_conversation("finance", Q, sla_next_check=NOW),
        )
        client = boto3.client("dynamodb", region_name=REGION)
        table = moto_stage.table("conversations")

        def item(conversation: Conversation) -> dict[str, Any]:
            key = {"conversation_id": {"S": conversation.id}}
            return client.get_item(TableName=table, Key=key)["Item"]

        index_keys = {
            "inbox_team",
            "queue_team",
            "open_assignee",
            "open_marker",
            "sla_marker",
            "sla_check_key",
        }
        assert index_keys & set(item(resolved)) == set()
        assert {k: v["S"] for k, v in item(queued).items() if k in index_keys} == {
            "inbox_team": "finance",
            "queue_team": "finance",
            "open_marker": "open",
            "sla_marker": "sla",
            "sla_check_key": f"2026-11-23T10:30:15.250000Z#{queued.id}",
        }
        assert item(queued)["urgency"]["S"] == f"{urgency_key(queued)}#{queued.id}"
        assert item(queued)["opened_day"]["S"] == "2026-11-23"


# --- media links ------------------------------------------------------------------------------


class TestInMemoryMediaLinks:
    def test_a_link_names_the_object(self) -> None:
        archive: MediaArchive = InMemoryMediaArchive()

        assert archive.url("residents/wa:1/media/x.jpg") == "memory://residents/wa:1/media/x.jpg"


class TestS3MediaLinks:
    @pytest.fixture
    def archive(self, moto_stage: ResourceNames, aws_env: str) -> S3MediaArchive:
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        outputs = cloudformation.describe_stacks(StackName=moto_stage.stack)["Stacks"][0]["Outputs"]
        bucket = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")
        return S3MediaArchive(bucket, region_name=REGION, endpoint_url=aws_env)

    def test_a_presigned_link_fetches_the_object(self, archive: S3MediaArchive) -> None:
        key = f"residents/wa:34600/media/{unique('wamid.')}"
        archive.put(key, b"\x89PNG\r\n\x00binary", "image/png")

        url = archive.url(key, expires_seconds=120)
        response = requests.get(url, timeout=10)

        assert response.status_code == 200
        assert response.content == b"\x89PNG\r\n\x00binary"
        assert response.headers["Content-Type"] == "image/png"
        assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url  # Signature V4
