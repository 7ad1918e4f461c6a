"""The console's use cases in memory: the World of conftest.py (same database, so what the
inbound handler stores the console sees) plus agents, the console stores and a media upload
edge that records what it was given."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.memory_console_stores import (
    InMemoryAgentStore,
    InMemoryConsoleConversationStore,
)
from chalicelib.adapters.memory_media import InMemoryMediaArchive
from chalicelib.adapters.memory_reminder_stores import InMemoryObligationStore
from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import StoredMessage
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.domain.sla import clock_for, start_sla
from chalicelib.services.console_context import ConsolePorts, with_person_state
from tests.services.conftest import NOW, World


@dataclass
class RecordingUploader:
    """WhatsApp's media upload at the edge (the real client is tested against the simulator in
    tests/integration/test_graph_api_media_upload.py)."""

    uploads: list[tuple[bytes, str, str]] = field(default_factory=list)

    def upload_media(self, content: bytes, mime_type: str, filename: str) -> str:
        self.uploads.append((content, mime_type, filename))
        return f"media-{len(self.uploads)}"


@dataclass
class Console:
    world: World
    agents: InMemoryAgentStore
    conversations: InMemoryConsoleConversationStore
    obligations: InMemoryObligationStore
    archive: InMemoryMediaArchive
    uploader: RecordingUploader
    now: datetime = NOW
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _phones: itertools.count = field(default_factory=lambda: itertools.count(351910001000))

    @classmethod
    def on(cls, world: World) -> Console:
        database = world.database
        return cls(
            world=world,
            agents=InMemoryAgentStore(database),
            conversations=InMemoryConsoleConversationStore(database),
            obligations=InMemoryObligationStore(database),
            archive=InMemoryMediaArchive(),
            uploader=RecordingUploader(),
        )

    @property
    def definition(self):
        return self.world.definition

    @property
    def ports(self) -> ConsolePorts:
        return ConsolePorts(
            agents=self.agents,
            conversations=self.conversations,
            residents=self.world.residents,
            messages=self.world.messages,
            tickets=self.world.tickets,
            obligations=self.obligations,
            outbound=self.world.outbound,
            media_archive=self.archive,
            media_uploader=self.uploader,
        )

    def new_id(self) -> str:
        return f"id-{next(self._ids):05d}"

    def deps(self, **overrides: Any) -> dict[str, Any]:
        """The keyword arguments every action takes."""
        return {
            "definition": self.definition,
            "ports": self.ports,
            "now": self.now,
            "new_id": self.new_id,
        } | overrides

    # --- people ---------------------------------------------------------------------------

    def agent(
        self,
        name: str,
        *teams: str,
        role: Role = Role.AGENT,
        capacity: int = 5,
        online: bool = True,
        seen: datetime | None = None,
        last_assigned_at: datetime | None = None,
        open_count: int = 0,
    ) -> Agent:
        agent = Agent(
            id=f"{name.lower()}@town.example",
            name=name,
            role=role,
            teams=teams,
            capacity=capacity,
            created_at=self.now - timedelta(days=30),
        )
        self.agents.save_profile(agent)
        self.agents.set_online(agent.id, online, seen or self.now)
        with self.world.database.lock:
            stored = self.world.database.agents[agent.id]
            self.world.database.agents[agent.id] = dataclasses.replace(
                stored, open_count=open_count, last_assigned_at=last_assigned_at
            )
        return self.fresh_agent(agent.id)

    def fresh_agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        assert agent is not None
        return agent

    def resident(
        self,
        *,
        language: str = "pt",
        wrote_at: datetime | None = None,
        consent: ConsentState = ConsentState.GIVEN,
        opted_out: bool = False,
        name: str = "Maria Santos",
    ) -> Resident:
        wa_id = str(next(self._phones))
        resident = Resident(
            key=f"wa:{wa_id}",
            wa_id=wa_id,
            profile_name=name if consent is ConsentState.GIVEN else None,
            language=language,
            consent=consent,
            opted_out=opted_out,
            last_inbound_at=wrote_at or self.now,
            created_at=self.now - timedelta(days=1),
        )
        self.world.database.residents[resident.key] = resident
        return resident

    # --- conversations --------------------------------------------------------------------

    def waiting(
        self,
        team: str = "front_desk",
        *,
        resident: Resident | None = None,
        at: datetime | None = None,
        **resident_options: Any,
    ) -> Conversation:
        """A conversation the bot just handed to `team`'s queue, as handle_inbound_message
        stores it (SLA clock started)."""
        at = at or self.now
        resident = resident or self.resident(wrote_at=at, **resident_options)
        conversation = Conversation(
            id=f"conv-{resident.wa_id}-{next(self._ids)}",
            resident_key=resident.key,
            status=ConversationStatus.QUEUED,
            team=team,
            bot_state=with_person_state({"v": 2, "language": resident.language}, team),
            opened_at=at - timedelta(minutes=2),
            updated_at=at,
            last_inbound_at=at,
            last_message_at=at,
            resident_name=resident.profile_name,
            preview="preciso de ajuda",
        )
        conversation = start_sla(conversation, self.definition.sla, clock_for(self.definition), at)
        return self.store(conversation, resident=resident)

    def store(
        self, conversation: Conversation, *, resident: Resident | None = None
    ) -> Conversation:
        db = self.world.database
        with db.lock:
            stored = dataclasses.replace(conversation, version=conversation.version + 1)
            db.conversations[conversation.id] = stored
            resident = resident or db.residents[conversation.resident_key]
            db.residents[resident.key] = dataclasses.replace(
                resident, current_conversation_id=conversation.id
            )
        return stored

    def held_by(self, agent: Agent, team: str = "front_desk", **options: Any) -> Conversation:
        """A waiting conversation the agent took (their load counted)."""
        from chalicelib.services.agent_actions import assign

        conversation = self.waiting(team, **options)
        return assign(agent, conversation.id, agent.id, **self.deps())

    def get(self, conversation_id: str) -> Conversation:
        conversation = self.conversations.get(conversation_id)
        assert conversation is not None
        return conversation

    def timeline(self, conversation_id: str) -> list[StoredMessage]:
        """Everything stored with the conversation, oldest first."""
        page = self.conversations.history(conversation_id, limit=500)
        return list(reversed(page.items))

    def events(self, conversation_id: str) -> list[str]:
        return [
            m.payload["event"] for m in self.timeline(conversation_id) if m.message_type == "event"
        ]
