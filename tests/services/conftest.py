"""Service tests run the use cases entirely in memory: the in-memory stores (which pass the same
contract tests as DynamoDB) and a recording Graph sender at the edge."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.adapters.memory_media import InMemoryMediaQueue
from chalicelib.adapters.memory_stores import (
    InMemoryDatabase,
    InMemoryInboundQueue,
    InMemoryMessageStore,
    InMemoryOutboundQueue,
    InMemoryResidentStore,
    InMemoryTicketStore,
)
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.replies import Reply
from chalicelib.services.handle_inbound_message import InboundPorts
from chalicelib.services.ports import GraphApiError, SendResult
from chalicelib.settings import BUNDLED_CONFIG
from chalicelib.whatsapp.payloads import build_message_payload

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # a Monday, inside business hours


@dataclass
class RecordingSender:
    """The Graph API at the edge: records what would be sent; can be told to refuse."""

    sent: list[tuple[str, Reply]] = field(default_factory=list)
    refuse_with: list[GraphApiError | Exception] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    callback_data: list[str | None] = field(default_factory=list)

    def send(
        self,
        recipient: str,
        reply: Reply,
        *,
        context_wamid: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        # The real payload builder: Meta's limits are checked as they would be before sending.
        build_message_payload(recipient, reply, callback_data=callback_data)
        if self.refuse_with:
            raise self.refuse_with.pop(0)
        self.sent.append((recipient, reply))
        self.callback_data.append(callback_data)
        return SendResult(wamid=f"wamid.out-{next(self._ids)}")


@dataclass
class World:
    definition: MunicipalityDefinition
    database: InMemoryDatabase
    residents: InMemoryResidentStore
    messages: InMemoryMessageStore
    tickets: InMemoryTicketStore
    outbound: InMemoryOutboundQueue
    inbound: InMemoryInboundQueue
    media: InMemoryMediaQueue
    sender: RecordingSender
    ids: itertools.count

    def new_id(self) -> str:
        return f"conv-{next(self.ids)}"

    @property
    def ports(self) -> InboundPorts:
        return InboundPorts(
            residents=self.residents,
            messages=self.messages,
            tickets=self.tickets,
            outbound=self.outbound,
            media=self.media,
        )

    def send_all(self) -> None:
        """Drain the outbound queue through the real sender, as the reply sender would."""
        from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
        from chalicelib.adapters.memory_stores import InMemorySenderControl
        from chalicelib.domain.pacing import number_rate, pair_rate
        from chalicelib.services.send_queued_message import (
            Clock,
            Outbox,
            SendingPolicy,
            send_queued_messages,
        )

        outbox = Outbox(
            messages=self.messages,
            residents=self.residents,
            graph=self.sender,
            limiter=InMemoryRateLimiter(),
            control=InMemorySenderControl(),
            dead_letters=self.outbound,
        )
        policy = SendingPolicy(
            phone_number_id="100000000000001",
            number_rate=number_rate(80),
            pair_rate=pair_rate(),
            reopen_template_codes=None,
            default_language=self.definition.default_language,
        )
        clock = Clock(now=lambda: NOW, sleep=lambda _: None, jitter=lambda: 0.5)
        for message_id, priority in self.outbound.drain():
            send_queued_messages(
                [message_id], outbox=outbox, policy=policy, clock=clock, priority=priority
            )


@pytest.fixture(scope="session")
def definition() -> MunicipalityDefinition:
    return load_municipality_file(Path(BUNDLED_CONFIG))


@pytest.fixture
def world(definition: MunicipalityDefinition) -> World:
    database = InMemoryDatabase()
    return World(
        definition=definition,
        database=database,
        residents=InMemoryResidentStore(database),
        messages=InMemoryMessageStore(database),
        tickets=InMemoryTicketStore(database),
        outbound=InMemoryOutboundQueue(),
        inbound=InMemoryInboundQueue(),
        media=InMemoryMediaQueue(),
        sender=RecordingSender(),
        ids=itertools.count(1),
    )


@pytest.fixture
def console(world: World):
    """The agents' console on the world's database (see console_world.py)."""
    from tests.services.console_world import Console

    return Console.on(world)
