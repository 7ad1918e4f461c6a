"""Contract tests for the broadcast store, the audience scan and the daily messaging budget: the
same cases on the in-memory twins and on DynamoDB in moto's server (a fresh stage per module,
provisioned from the real template)."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.adapters.dynamodb_broadcast_store import (
    DynamoDBAudienceSource,
    DynamoDBBroadcastStore,
)
from chalicelib.adapters.dynamodb_daily_budget import DynamoDBDailyBudget
from chalicelib.adapters.dynamodb_models import ResidentModel, stage_tables
from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore
from chalicelib.adapters.memory_broadcast_store import (
    InMemoryAudienceSource,
    InMemoryBroadcastStore,
    InMemoryDailyBudget,
)
from chalicelib.adapters.memory_stores import InMemoryDatabase, InMemoryMessageStore
from chalicelib.domain.broadcasts import (
    Broadcast,
    BroadcastStatus,
    Estimate,
    MessageState,
    Progress,
    Report,
    Segment,
)
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.resource_names import ResourceNames
from chalicelib.services.broadcast_ports import AudienceSource, BroadcastStore, DailyBudget
from chalicelib.services.ports import MessageStore
from infra.local_emulator import provision
from tests.broadcast_support import resident
from tests.moto_support import updates_one_at_a_time

REGION = "eu-west-1"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def a_broadcast(**changes: object) -> Broadcast:
    base = Broadcast(
        id=uuid.uuid4().hex,
        name="Recolha de monos",
        template="town_news",
        category="utility",
        params={"pt": ("sexta-feira",), "en": ("Friday",)},
        segment=Segment(
            topic="waste", languages=("pt", "en"), tags=("senior",), custom_fields={"zone": "A"}
        ),
        status=BroadcastStatus.SCHEDULED,
        send_at=NOW,
        created_by="apikey:events",
        created_at=NOW,
        estimate=Estimate(
            audience=890,
            by_language={"pt": 890},
            category="utility",
            price_per_message=Decimal("0.0300"),
            currency="EUR",
            estimated_cost=Decimal("26.7000"),
            daily_limit=2000,
            days_needed=1,
            scanned=1000,
        ),
        total_segments=9,
    )
    return dataclasses.replace(base, **changes)


def a_message(broadcast_id: str, n: int, status: DeliveryStatus) -> StoredMessage:
    return StoredMessage(
        id=f"bc|{broadcast_id}|{n}",
        direction=Direction.OUTBOUND,
        resident_key=f"wa:3519100{n:05d}",
        conversation_id=None,
        message_type="template",
        body="town_news",
        created_at=NOW,
        status=status,
        status_at=NOW,
        recipient=f"3519100{n:05d}",
        priority=Priority.BULK,
        sent_by=f"broadcast:{broadcast_id}",
        broadcast_id=broadcast_id,
        error_code=131026 if status is DeliveryStatus.FAILED else None,
        error_title="opted_out" if status is DeliveryStatus.SKIPPED else None,
    )


@dataclass
class Stores:
    broadcasts: BroadcastStore
    messages: MessageStore
    audience: AudienceSource
    budget: DailyBudget
    add_resident: object


class BroadcastStoreContract:
    def test_a_broadcast_round_trips_and_saves_only_over_the_version_read(
        self, stores: Stores
    ) -> None:
        broadcast = a_broadcast()
        stores.broadcasts.add(broadcast)
        stored = stores.broadcasts.get(broadcast.id)
        assert stored == dataclasses.replace(broadcast, version=1)
        claimed = stores.broadcasts.save(stored.claimed(NOW))
        assert claimed is not None and claimed.leased(NOW) and claimed.version == 2
        running = stores.broadcasts.save(claimed.started(NOW).released())
        assert running is not None and running.version == 3 and running.lease_until is None
        assert stores.broadcasts.get(broadcast.id) == running
        assert stores.broadcasts.save(stored.claimed(NOW)) is None  # stale: another run's
        assert stores.broadcasts.save(stored.cancelled(NOW, "agent:a")) is None  # stale
        figures = Progress(audience=3, sent=1, delivered=1, read=1)
        final = Report(
            reached=3,
            delivered=2,
            read=1,
            failed=0,
            failed_by_error={},
            skipped_by_reason={"opted_out": 1},
            cost=Decimal("0.0600"),
            currency="EUR",
        )
        done = stores.broadcasts.save(running.completed(final, figures, NOW))
        assert stores.broadcasts.get(broadcast.id) == done
        assert stores.broadcasts.get("0" * 32) is None
        refused = a_broadcast()
        stores.broadcasts.add(refused)
        cancelled = stores.broadcasts.save(
            stores.broadcasts.get(refused.id).cancelled(
                NOW, "system:run_broadcasts", "template_not_allowed"
            )
        )
        assert stores.broadcasts.get(refused.id) == cancelled
        assert (cancelled.cancel_reason, cancelled.cancelled_by) == (
            "template_not_allowed",
            "system:run_broadcasts",
        )

    def test_settling_lists_what_the_job_still_has_work_on(self, stores: Stores) -> None:
        scheduled, running, cancelled, done = (a_broadcast() for _ in range(4))
        for one in (scheduled, running, cancelled, done):
            stores.broadcasts.add(one)
        # Each save must take: a scheduled one stays settling, and the test would not tell.
        assert stores.broadcasts.save(dataclasses.replace(running, version=1).started(NOW))
        assert stores.broadcasts.save(dataclasses.replace(cancelled, version=1).cancelled(NOW, "x"))
        started = stores.broadcasts.save(dataclasses.replace(done, version=1).started(NOW))
        final = Report(
            reached=0,
            delivered=0,
            read=0,
            failed=0,
            failed_by_error={},
            skipped_by_reason={},
            cost=Decimal(0),
            currency="EUR",
        )
        assert stores.broadcasts.save(started.completed(final, Progress(audience=0), NOW))
        ids = {b.id for b in stores.broadcasts.settling()}
        assert {scheduled.id, running.id, cancelled.id} <= ids
        assert done.id not in ids

    def test_recent_lists_newest_first(self, stores: Stores) -> None:
        older = a_broadcast(created_at=NOW + timedelta(days=3000))
        newer = a_broadcast(created_at=NOW + timedelta(days=3001))
        stores.broadcasts.add(older)
        stores.broadcasts.add(newer)
        assert [b.id for b in stores.broadcasts.recent(2)] == [newer.id, older.id]

    def test_message_states_are_read_from_the_broadcasts_messages(self, stores: Stores) -> None:
        broadcast = a_broadcast()
        other = a_broadcast()
        statuses = [DeliveryStatus.QUEUED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED]
        mine = [a_message(broadcast.id, n, status) for n, status in enumerate(statuses)]
        created = stores.messages.add_outbound(
            [*mine, a_message(other.id, 9, DeliveryStatus.QUEUED)]
        )
        assert created == [m.id for m in mine] + [f"bc|{other.id}|9"]
        again = a_message(broadcast.id, 7, DeliveryStatus.QUEUED)
        assert stores.messages.add_outbound([mine[0], again]) == [again.id]  # only the new one
        assert sorted(stores.broadcasts.message_states(broadcast.id), key=str) == sorted(
            [
                MessageState(DeliveryStatus.QUEUED, status_at=NOW),
                MessageState(DeliveryStatus.QUEUED, status_at=NOW),
                MessageState(DeliveryStatus.FAILED, 131026, None, NOW),
                MessageState(DeliveryStatus.SKIPPED, None, "opted_out", NOW),
            ],
            key=str,
        )

    def test_scan_segments_are_disjoint_and_cover_every_resident(self, stores: Stores) -> None:
        prefix = f"35199{uuid.uuid4().int % 10**4:04d}"
        mine = {f"wa:{prefix}{n:03d}" for n in range(60)}
        for key in sorted(mine):
            stores.add_resident(resident(key.removeprefix("wa:")))
        seen: list[str] = []
        for segment in range(4):
            seen += [r.key for r in stores.audience.scan_segment(segment, 4) if r.key in mine]
        assert sorted(seen) == sorted(mine)  # each once
        everyone = {r.key for r in stores.audience.scan_segment(0, 1)}
        assert mine <= everyone
        one = next(r for r in stores.audience.scan_segment(0, 1) if r.key in mine)
        assert one.subscribed_to("waste") and one.consent_history

    def test_the_daily_budget_grants_up_to_the_limit_in_a_moving_24_hours(
        self, stores: Stores
    ) -> None:
        start = datetime(2030, 1, 1, 9, 15, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 5000)
        assert stores.budget.reserve(80, 100, start) == 80
        assert stores.budget.reserve(80, 100, start + timedelta(minutes=50)) == 20
        assert stores.budget.reserve(5, 100, start + timedelta(hours=3)) == 0
        assert stores.budget.used(start + timedelta(hours=3)) == 100
        # 09:xx still counts until 10:00 the next day: whole hours, never too early.
        assert stores.budget.reserve(5, 100, start + timedelta(hours=24)) == 0
        # 10:15 the next day: the 80 of 09:15 are out, the 20 of 10:05 still count.
        assert stores.budget.reserve(500, 100, start + timedelta(hours=25)) == 80
        assert stores.budget.reserve(0, 100, start + timedelta(hours=26)) == 0

    def test_the_daily_budget_takes_back_what_a_run_did_not_use(self, stores: Stores) -> None:
        start = datetime(2030, 1, 1, 9, 15, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 5000)
        assert stores.budget.reserve(60, 100, start) == 60
        stores.budget.release(25, start)
        assert stores.budget.used(start) == 35
        assert stores.budget.reserve(100, 100, start) == 65

    def test_reserves_that_race_never_take_more_than_the_limit(self, stores: Stores) -> None:
        """Eight reserves at once, on either side of an hour's turn."""
        start = datetime(2030, 1, 1, 9, 59, 59, tzinfo=UTC) + timedelta(
            days=uuid.uuid4().int % 5000
        )
        moments = [start, start + timedelta(seconds=2)] * 4
        granted: list[int] = []

        def reserve(moment: datetime) -> None:
            granted.append(stores.budget.reserve(30, 100, moment))

        threads = [threading.Thread(target=reserve, args=(m,)) for m in moments]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(granted) == 100
        assert stores.budget.used(start + timedelta(seconds=2)) == 100


class TestInMemoryBroadcastStores(BroadcastStoreContract):
    @pytest.fixture
    def stores(self) -> Stores:
        database = InMemoryDatabase()

        def add(one: object) -> None:
            database.residents[one.key] = one  # type: ignore[attr-defined]

        return Stores(
            InMemoryBroadcastStore(database),
            InMemoryMessageStore(database),
            InMemoryAudienceSource(database),
            InMemoryDailyBudget(),
            add,
        )


@pytest.fixture(scope="module")
def moto_stage(moto_endpoint: str) -> ResourceNames:
    names = ResourceNames(f"b{uuid.uuid4().hex[:8]}")
    provision(moto_endpoint, names, REGION)
    return names


class TestDynamoDBBroadcastStores(BroadcastStoreContract):
    @pytest.fixture(autouse=True)
    def _moto_updates_one_at_a_time(self) -> Iterator[None]:
        """The budget's racing reserves check our conditions, not moto's races."""
        with updates_one_at_a_time():
            yield

    @pytest.fixture
    def stores(self, moto_stage: ResourceNames, aws_env: str) -> Stores:
        tables = stage_tables(moto_stage, REGION)
        residents: type[ResidentModel] = tables.residents

        def add(one: object) -> None:
            residents.from_resident(one).save()  # type: ignore[arg-type]

        return Stores(
            DynamoDBBroadcastStore(tables),
            DynamoDBMessageStore(tables, retention=lambda: None),
            DynamoDBAudienceSource(tables),
            DynamoDBDailyBudget(uuid.uuid4().hex, tables),
            add,
        )
