"""The broadcast use cases in memory: preview, create, the job (audience, daily limit, cursor,
completion) and the sender's skip of a cancelled broadcast's messages."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.adapters.memory_broadcast_store import (
    InMemoryAudienceSource,
    InMemoryBroadcastStore,
    InMemoryDailyBudget,
)
from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
from chalicelib.adapters.memory_stores import InMemorySenderControl
from chalicelib.domain.broadcasts import BroadcastStatus, broadcast_message_id
from chalicelib.domain.messages import DeliveryStatus, Priority
from chalicelib.domain.pacing import number_rate, pair_rate
from chalicelib.services.back_office_input import InputError
from chalicelib.services.broadcast_input import read_audience, read_broadcast
from chalicelib.services.broadcast_ports import BroadcastPorts
from chalicelib.services.broadcasts import (
    BroadcastConflictError,
    cancel_broadcast,
    create_broadcast,
    get_broadcast,
    preview_broadcast,
    run_broadcasts,
)
from chalicelib.services.send_queued_message import (
    Clock,
    Outbox,
    SendingPolicy,
    send_queued_messages,
)
from tests.broadcast_support import resident, town_of
from tests.services.conftest import NOW, World


class Town:
    """A world with broadcast ports and a clock the tests move."""

    def __init__(self, world: World, *, daily_limit: int | None = 2000) -> None:
        self.world = world
        policy = dataclasses.replace(world.definition.broadcasts, daily_limit=daily_limit)
        self.definition = dataclasses.replace(world.definition, broadcasts=policy)
        self.store = InMemoryBroadcastStore(world.database)
        self.budget = InMemoryDailyBudget()
        self.ports = BroadcastPorts(
            broadcasts=self.store,
            audience=InMemoryAudienceSource(world.database),
            budget=self.budget,
            messages=world.messages,
            outbound=world.outbound,
        )
        self.now = NOW
        self.ids = itertools.count(1)

    def add(self, *residents: Any) -> None:
        for one in residents:
            self.world.database.residents[one.key] = one

    def create(self, **body: Any) -> Any:
        draft = read_broadcast(
            {
                "name": "Collection changes",
                "template": "town_news",
                "topic": "waste",
                "params": ["A recolha passa a sexta-feira"],
                **body,
            },
            self.definition,
            self.now,
        )
        return create_broadcast(
            draft,
            definition=self.definition,
            residents=self.ports.audience,
            broadcasts=self.store,
            created_by="agent:ana@example.org",
            now=self.now,
            new_id=lambda: f"{next(self.ids):032x}",
        )

    def run(self, **options: Any) -> Any:
        return run_broadcasts(
            self.now, definition=self.definition, ports=self.ports, clock=lambda: 0.0, **options
        )

    def send(self) -> None:
        """The bulk sender takes everything queued (clock moving with its sleeps)."""
        moment = [self.now]

        def sleep(seconds: float) -> None:
            moment[0] += timedelta(seconds=seconds)

        outbox = Outbox(
            messages=self.world.messages,
            residents=self.world.residents,
            graph=self.world.sender,
            limiter=InMemoryRateLimiter(),
            control=InMemorySenderControl(),
            dead_letters=self.world.outbound,
            broadcasts=self.store,
        )
        policy = SendingPolicy(
            phone_number_id="100000000000001",
            number_rate=number_rate(80),
            pair_rate=pair_rate(),
            reopen_template_codes=None,
            default_language="pt",
        )
        clock = Clock(now=lambda: moment[0], sleep=sleep, jitter=lambda: 0.5)
        for message_id, priority in self.world.outbound.drain():
            send_queued_messages(
                [message_id], outbox=outbox, policy=policy, clock=clock, priority=priority
            )

    def deliver_all(self) -> None:
        """Meta's status webhooks: every sent message delivered."""
        for message in list(self.world.database.messages.values()):
            if message.status is DeliveryStatus.SENT:
                self.world.messages.apply_status(
                    message.wamid, DeliveryStatus.DELIVERED, self.now, message_id=message.id
                )


@pytest.fixture
def town(world: World) -> Town:
    return Town(world)


def test_preview_counts_the_audience_by_language_and_prices_it(town: Town) -> None:
    people = town_of(40, unsubscribed=4, stopped=2)
    town.add(*people["all"], resident("351930000001", topic="roadworks"))
    audience = read_audience({"template": "town_news", "topic": "waste"}, town.definition)
    figures = preview_broadcast(audience, definition=town.definition, residents=town.ports.audience)
    assert figures.audience == 34
    assert sum(figures.by_language.values()) == 34 and set(figures.by_language) == {
        "pt",
        "es",
        "en",
        "ar",
    }
    assert figures.estimated_cost == Decimal("0.03") * 34
    assert (figures.currency, figures.days_needed, figures.daily_limit) == ("EUR", 1, 2000)
    pt_only = read_audience(
        {"template": "town_news", "topic": "waste", "languages": ["pt"]}, town.definition
    )
    assert preview_broadcast(
        pt_only, definition=town.definition, residents=town.ports.audience
    ).audience == sum(1 for r in people["expected"] if r.language == "pt")


def test_a_broadcast_reaches_its_audience_once_each_and_completes_with_a_report(
    town: Town,
) -> None:
    people = town_of(300, unsubscribed=30, stopped=3)
    town.add(*people["all"])
    broadcast = town.create()
    assert broadcast.status is BroadcastStatus.SCHEDULED and broadcast.total_segments == 3

    first = town.run()
    again = town.run()  # nothing left to queue: idempotent
    assert (first.started, first.queued, first.segments) == (1, 267, 3)
    assert again.queued == 0
    town.send()
    assert sorted(r for r, _ in town.world.sender.sent) == sorted(
        r.wa_id for r in people["expected"]
    )
    languages = {r.wa_id: r.language for r in people["expected"]}
    for recipient, reply in town.world.sender.sent:
        expected = {"pt": "pt_PT"}.get(languages[recipient], languages[recipient])
        assert (reply.name, reply.language, reply.body_params) == (
            "town_news",
            expected,
            ("A recolha passa a sexta-feira",),
        )
    assert town.run().completed == 1  # nothing queued any more
    done = get_broadcast(broadcast.id, broadcasts=town.store)
    assert done.status is BroadcastStatus.COMPLETED
    assert (done.report.reached, done.report.delivered) == (267, 0)
    town.deliver_all()  # receipts after completion still show in the report
    later = get_broadcast(broadcast.id, broadcasts=town.store)
    assert (later.report.reached, later.report.delivered, later.progress.delivered) == (267,) * 3
    assert later.report.cost == Decimal("0.03") * 267


def test_a_daily_limit_smaller_than_the_audience_splits_the_broadcast_over_days(
    world: World,
) -> None:
    town = Town(world, daily_limit=100)
    people = town_of(250)
    town.add(*people["all"])
    broadcast = town.create()
    assert broadcast.estimate.days_needed == 3

    day_one = town.run()
    town.now += timedelta(hours=12)
    same_day = town.run()
    town.now += timedelta(hours=13)  # 25 h later: the first hour left the window
    day_two = town.run()
    assert (day_one.queued, day_one.out_of_budget) == (100, True)
    assert same_day.queued == 0 and same_day.out_of_budget
    assert day_two.queued == 100
    town.now += timedelta(hours=25)
    day_three = town.run()
    assert day_three.queued == 50 and not day_three.out_of_budget
    town.send()
    town.deliver_all()
    town.run()
    done = get_broadcast(broadcast.id, broadcasts=town.store)
    assert done.status is BroadcastStatus.COMPLETED
    assert (done.report.reached, done.report.delivered) == (250, 250)
    assert done.report.cost == Decimal("0.03") * 250
    assert len({m.id for m in world.database.messages.values()}) == 250


def test_a_cancelled_broadcast_queues_nothing_more_and_its_queued_messages_are_skipped(
    town: Town,
) -> None:
    town.add(*town_of(250)["all"])
    broadcast = town.create()
    town.run(max_segments=1)  # one segment queued, as "send now" does within the request
    queued = len(town.world.outbound.ids())
    assert 0 < queued < 250

    cancelled = cancel_broadcast(
        broadcast.id, broadcasts=town.store, by="agent:ana@example.org", now=town.now
    )
    assert cancelled.status is BroadcastStatus.CANCELLED and cancelled.progress.queued == queued
    with pytest.raises(BroadcastConflictError):
        cancel_broadcast(broadcast.id, broadcasts=town.store, by="apikey:x", now=town.now)
    assert town.run().queued == 0
    town.send()
    assert town.world.sender.sent == []
    town.run()
    final = get_broadcast(broadcast.id, broadcasts=town.store)
    assert final.status is BroadcastStatus.CANCELLED
    assert dict(final.report.skipped_by_reason) == {"cancelled": queued}
    assert final.report.reached == 0


def test_a_resident_who_stops_after_queuing_is_skipped_by_the_sender(town: Town) -> None:
    ana, rui = resident("351940000001"), resident("351940000002")
    town.add(ana, rui)
    broadcast = town.create()
    town.run()
    town.world.database.residents[rui.key] = dataclasses.replace(rui, opted_out=True)
    town.send()
    town.run()
    final = get_broadcast(broadcast.id, broadcasts=town.store)
    assert [r for r, _ in town.world.sender.sent] == [ana.wa_id]
    assert dict(final.report.skipped_by_reason) == {"opted_out": 1}
    assert final.progress.skipped == 1


def test_a_scheduled_broadcast_waits_for_its_time(town: Town) -> None:
    town.add(resident("351940000010"))
    later = (town.now + timedelta(hours=2)).isoformat()
    broadcast = town.create(send_at=later)
    assert town.run().queued == 0
    town.now += timedelta(hours=2)
    assert town.run().queued == 1
    message = town.world.messages.get(broadcast_message_id(broadcast.id, "wa:351940000010"))
    assert (message.priority, message.sent_by, message.broadcast_id) == (
        Priority.BULK,
        f"broadcast:{broadcast.id}",
        broadcast.id,
    )


def test_bad_requests_name_the_field(town: Town) -> None:
    cases = [
        ({"template": "summer_festival"}, "template", "marketing_not_allowed"),
        ({"template": "nope"}, "template", "unknown_template"),
        ({"topic": "parking"}, "topic", "unknown_topic"),
        ({"template": "payment_due", "languages": ["ar"]}, "languages", "template_not_approved"),
        ({"params": {"pt": ["x"]}, "languages": ["pt", "en"]}, "params.en", "missing_parameter"),
        ({"params": ["  "]}, "params[0]", "blank"),
        ({"name": "x" * 101}, "name", "invalid"),
        ({"send_at": "tomorrow"}, "send_at", "invalid"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ]
    for changes, field, code in cases:
        with pytest.raises(InputError) as error:
            town.create(**changes)
        assert (error.value.errors[0].field, error.value.errors[0].code) == (field, code), changes
