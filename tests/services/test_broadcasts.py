"""The broadcast use cases in memory: preview, create, the job (audience, daily limit, cursor,
completion) and the sender's skip of a cancelled broadcast's messages."""

from __future__ import annotations

import dataclasses
import itertools
import threading
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
from chalicelib.domain.broadcasts import (
    SENDING_STALE_AFTER,
    BroadcastStatus,
    Progress,
    broadcast_message_id,
)
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
    # Cancelled before every segment was read: its audience is what it queued, not the
    # estimate made at creation, so the progress adds up.
    assert broadcast.estimate.audience == 250
    assert final.progress == Progress(audience=queued, skipped=queued)


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


# --- two runs at once, an index that lags, a sender that died -----------------------------------


class MeetingAudience:
    """The residents table, where the first two scans of a segment wait for each other (up to a
    second): two runs of the job that both got as far as reading a segment read it together."""

    def __init__(self, source: InMemoryAudienceSource) -> None:
        self.source = source
        self.barrier = threading.Barrier(2, timeout=1.0)
        self.scans = 0
        self.met = False  # two scans read a segment together

    def scan_segment(self, segment: int, total_segments: int) -> Any:
        self.scans += 1
        try:
            self.barrier.wait()
            self.met = True
        except threading.BrokenBarrierError:
            self.barrier.reset()
        return self.source.scan_segment(segment, total_segments)


def run_together(town: Town, *moments: Any) -> list[Any]:
    results: list[Any] = [None] * len(moments)

    def one(i: int) -> None:
        results[i] = run_broadcasts(
            moments[i], definition=town.definition, ports=town.ports, clock=lambda: 0.0
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(moments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_runs_at_once_queue_each_message_once_and_take_the_budget_once(
    world: World,
) -> None:
    """Send-now's first step and the minute's job, or two overlapping runs: one claims the
    broadcast, the other leaves it."""
    town = Town(world, daily_limit=1000)
    town.add(*town_of(150)["all"])
    audience = MeetingAudience(town.ports.audience)
    town.ports = dataclasses.replace(town.ports, audience=audience)
    broadcast = town.create()
    town.run(max_segments=1)  # send now: the first segment within the request

    first, second = run_together(town, town.now, town.now)
    assert not audience.met  # only one of them read the rest
    enqueued = town.world.outbound.ids()
    assert len(enqueued) == len(set(enqueued)) == 150
    assert first.queued * second.queued == 0
    assert town.budget.used(town.now) == 150
    stored = town.store.get(broadcast.id)
    assert (stored.queued, stored.lease_until) == (150, None)


def test_a_run_whose_claim_ran_out_queues_only_the_messages_it_stored_and_gives_back_the_rest(
    world: World,
) -> None:
    """A run still working after its claim ran out, and the one that took over, read the same
    segment: each message is stored, queued and charged to the budget once."""
    town = Town(world, daily_limit=1000)
    town.add(*town_of(150)["all"])
    audience = MeetingAudience(town.ports.audience)
    town.ports = dataclasses.replace(town.ports, audience=audience)
    broadcast = town.create()
    stale = town.store.get(broadcast.id).claimed(town.now - timedelta(minutes=3))
    town.store.save(stale)  # a run that died holding it

    run_together(town, town.now, town.now + timedelta(minutes=3))
    assert audience.met  # both read the first segment
    enqueued = town.world.outbound.ids()
    assert len(enqueued) == len(set(enqueued)) == 150
    assert town.budget.used(town.now + timedelta(minutes=3)) == 150
    town.send()
    assert len(town.world.sender.sent) == 150


class LaggingIndex:
    """The messages' `by_broadcast` index, eventually consistent: it shows nothing yet."""

    def __init__(self, store: InMemoryBroadcastStore) -> None:
        self.store = store
        self.lagging = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def message_states(self, broadcast_id: str) -> list[Any]:
        return [] if self.lagging else self.store.message_states(broadcast_id)


def test_a_broadcast_is_not_completed_before_the_index_shows_every_message_queued(
    town: Town,
) -> None:
    town.add(*town_of(20)["all"])
    lagging = LaggingIndex(town.store)
    town.ports = dataclasses.replace(town.ports, broadcasts=lagging)
    broadcast = town.create()
    run = town.run()
    assert (run.queued, run.completed) == (20, 0)
    assert town.run().completed == 0  # still nothing in the index: not done
    assert town.store.get(broadcast.id).status is BroadcastStatus.RUNNING
    lagging.lagging = False
    town.send()
    assert town.run().completed == 1


def test_a_message_stuck_in_sending_counts_as_failed_with_an_unknown_outcome(town: Town) -> None:
    ana, rui = resident("351940000021"), resident("351940000022")
    town.add(ana, rui)
    broadcast = town.create()
    town.run()
    stuck = broadcast_message_id(broadcast.id, rui.key)
    town.world.messages.claim_for_sending(stuck, town.now)  # its sender died right after
    town.world.outbound.drain()
    town.send()  # nothing: the queue was lost with the sender
    ana_id = broadcast_message_id(broadcast.id, ana.key)
    town.world.messages.claim_for_sending(ana_id, town.now)
    town.world.messages.mark_sent(ana_id, "wamid.ana", town.now)

    assert town.run().completed == 0  # a claim just made: its sender may still answer
    town.now += SENDING_STALE_AFTER
    assert town.run().completed == 1
    final = get_broadcast(broadcast.id, broadcasts=town.store, now=town.now)
    assert final.status is BroadcastStatus.COMPLETED
    assert dict(final.report.failed_by_error) == {"unknown_outcome": 1}
    assert (final.report.reached, final.progress.failed, final.progress.queued) == (1, 1, 0)


def test_a_broadcast_whose_template_is_refused_after_creation_is_cancelled_with_a_report(
    town: Town,
) -> None:
    town.add(*town_of(250)["all"])
    broadcast = town.create()
    town.run(max_segments=1)
    queued = len(town.world.outbound.ids())
    policy = town.definition.broadcasts
    town.definition = dataclasses.replace(
        town.definition,
        templates={k: v for k, v in town.definition.templates.items() if k != "town_news"},
    )
    assert policy is not None
    town.run()
    town.send()  # what was queued is skipped: the broadcast is cancelled
    town.run()
    final = get_broadcast(broadcast.id, broadcasts=town.store)
    assert (final.status, final.cancel_reason, final.cancelled_by) == (
        BroadcastStatus.CANCELLED,
        "template_not_allowed",
        "system:run_broadcasts",
    )
    assert dict(final.report.skipped_by_reason) == {"cancelled": queued}
    assert final.progress == Progress(audience=queued, skipped=queued)
    assert not town.store.get(broadcast.id).settling  # the job has nothing more to do


def test_parameters_must_number_what_the_template_takes_when_the_config_tells(
    town: Town,
) -> None:
    from chalicelib.domain.templates import template_parameter_count

    counted = [
        name
        for name in town.definition.templates
        if template_parameter_count(town.definition, name) is not None
        and town.definition.templates[name].category == "utility"
    ]
    assert counted, "the bundled town has templates whose parameter count the config tells"
    name = counted[0]
    expected = template_parameter_count(town.definition, name)
    with pytest.raises(InputError) as error:
        town.create(template=name, params=["x"] * (expected + 1))
    first = error.value.errors[0]
    assert (first.field, first.code, first.status) == ("params", "parameter_count", 422)
    town.create(template=name, params=["x"] * expected)  # the right count is accepted


def test_tags_are_checked_as_residents_carry_them(town: Town) -> None:
    with pytest.raises(InputError) as error:
        town.create(tags=["senior", "Mobilidade Reduzida"])
    first = error.value.errors[0]
    assert (first.field, first.code, first.status) == ("tags[1]", "invalid_tag", 422)


def test_a_broadcast_watched_closely_is_counted_at_most_every_few_seconds(town: Town) -> None:
    """The console polls a running broadcast every 3 s; counting reads all its messages."""
    from chalicelib.services.broadcasts import FRESH_SECONDS, RecentCounts

    town.add(resident("351940000031"), resident("351940000032"))
    broadcast = town.create()
    town.run()
    moment = [100.0]
    recent = RecentCounts(clock=lambda: moment[0])
    seen = get_broadcast(broadcast.id, broadcasts=town.store, recent=recent)
    assert seen.progress.queued == 2
    town.send()
    moment[0] += FRESH_SECONDS - 1
    assert get_broadcast(broadcast.id, broadcasts=town.store, recent=recent).progress.queued == 2
    moment[0] += 1
    again = get_broadcast(broadcast.id, broadcasts=town.store, recent=recent)
    assert (again.progress.queued, again.progress.sent) == (0, 2)


def test_a_report_is_never_shown_with_counts_older_than_itself(town: Town) -> None:
    """The console counted the broadcast while its messages were queued; the job completes it
    within FRESH_SECONDS: the report shows what the job counted, not the counts kept."""
    from chalicelib.services.broadcasts import RecentCounts

    town.add(resident("351940000033"), resident("351940000034"))
    broadcast = town.create()
    town.run()
    moment = [100.0]
    recent = RecentCounts(clock=lambda: moment[0])
    assert get_broadcast(broadcast.id, broadcasts=town.store, recent=recent).progress.queued == 2
    town.send()
    town.run()  # every message sent: the job writes the report
    moment[0] += 1
    seen = get_broadcast(broadcast.id, broadcasts=town.store, recent=recent)
    assert seen.report is not None
    assert (seen.report.reached, seen.progress.queued, seen.progress.sent) == (2, 0, 2)
