"""Contract tests for the AuditLog port: the same class runs against the in-memory twin and
against DynamoDB on the moto server (a fresh stage per test: `recent` lists the whole stage).
Then what is at rest: the pseudonym, never the number, and a TTL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.memory_audit_log import InMemoryAuditLog
from chalicelib.domain.audit import AuditAction, AuditEvent, resident_ref
from chalicelib.domain.bot.definition import Period
from chalicelib.resource_names import ResourceNames
from chalicelib.services.audit_ports import AuditLog, InvalidAuditCursorError
from infra.local_emulator import provision

REGION = "eu-west-1"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
KEY = b"contract-test-pseudonym-key"


def a_ref() -> str:
    return resident_ref(f"wa:3519{uuid.uuid4().int % 10**8:08d}", KEY)


def an_event(
    ref: str,
    minutes: float = 0,
    *,
    actor: str = "agent:ana",
    action: AuditAction = AuditAction.VIEWED,
    detail: str | None = "conversation c-1",
    counts: dict[str, int] | None = None,
) -> AuditEvent:
    return AuditEvent(
        resident_ref=ref,
        at=NOW + timedelta(minutes=minutes),
        actor=actor,
        action=action,
        detail=detail,
        counts=counts,
    )


def an_erasure(ref: str, counts: dict[str, int]) -> AuditEvent:
    return an_event(
        ref, 9, actor="cli:maria", action=AuditAction.ERASED, detail=None, counts=counts
    )


class AuditLogContract:
    @pytest.fixture
    def log(self) -> AuditLog:
        raise NotImplementedError

    def test_a_residents_events_come_back_newest_first(self, log: AuditLog) -> None:
        ref, other = a_ref(), a_ref()
        viewed = an_event(ref, 0)
        messaged = an_event(ref, 5, action=AuditAction.MESSAGED, detail="template renewal")
        erased = an_erasure(ref, {"messages": 12, "tickets": 1})
        for event in (messaged, erased, viewed, an_event(other, 3)):
            log.record(event)

        assert log.for_resident(ref) == [erased, messaged, viewed]
        assert log.for_resident(ref, limit=2) == [erased, messaged]
        assert log.for_resident(a_ref()) == []
        assert dict(log.for_resident(ref)[0].counts or {}) == {"messages": 12, "tickets": 1}

    def test_recording_the_same_event_twice_keeps_one(self, log: AuditLog) -> None:
        ref = a_ref()
        event = an_event(ref)
        log.record(event)
        log.record(event)
        # The same moment by someone else, or about something else, is another event.
        log.record(an_event(ref, actor="agent:rui"))
        log.record(an_event(ref, detail="conversation c-2"))

        assert len(log.for_resident(ref)) == 3

    def test_stripping_details_keeps_who_did_what_and_when(self, log: AuditLog) -> None:
        ref, other = a_ref(), a_ref()
        viewed = an_event(ref, 0)
        messaged = an_event(ref, 5, action=AuditAction.MESSAGED, detail="obligation LIC-1")
        erased = an_erasure(ref, {"messages": 3})
        for event in (viewed, messaged, erased, an_event(other)):
            log.record(event)

        assert log.strip_details(ref) == 2
        assert log.strip_details(ref) == 0  # idempotent

        assert log.for_resident(ref) == [
            erased,
            an_event(ref, 5, action=AuditAction.MESSAGED, detail=None),
            an_event(ref, 0, detail=None),
        ]
        assert log.for_resident(other) == [an_event(other)]  # nobody else's
        events, _ = log.recent(limit=10)
        assert not [e for e in events if e.resident_ref == ref and e.detail]

    def test_many_are_recorded_at_once(self, log: AuditLog) -> None:
        refs = [a_ref() for _ in range(30)]
        events = [an_event(ref, i) for i, ref in enumerate(refs)]
        log.record_many([*events, events[0]])  # the same one twice is kept once
        log.record_many([])

        assert [log.for_resident(ref) for ref in refs] == [[event] for event in events]

    def test_recent_pages_through_everyone_newest_first(self, log: AuditLog) -> None:
        refs = [a_ref() for _ in range(3)]
        events = [an_event(refs[i % 3], i) for i in range(7)]
        for event in reversed(events):
            log.record(event)

        first, cursor = log.recent(limit=3)
        assert first == events[6:3:-1]
        assert cursor is not None
        second, cursor = log.recent(limit=3, cursor=cursor)
        assert second == events[3:0:-1]
        assert cursor is not None
        last, cursor = log.recent(limit=3, cursor=cursor)
        assert last == [events[0]]
        assert cursor is None

    def test_a_last_full_page_has_no_cursor(self, log: AuditLog) -> None:
        ref = a_ref()
        for minutes in range(4):
            log.record(an_event(ref, minutes))

        page, cursor = log.recent(limit=4)
        assert len(page) == 4 and cursor is None
        assert log.recent(limit=50) == (page, None)

    def test_an_empty_log(self, log: AuditLog) -> None:
        assert log.recent() == ([], None)

    def test_foreign_cursors_and_bad_limits_are_refused(self, log: AuditLog) -> None:
        with pytest.raises(InvalidAuditCursorError):
            log.recent(cursor="not-a-cursor")
        with pytest.raises(InvalidAuditCursorError):
            log.recent(cursor="eyJ2IjoiYWxsIn0")  # base64 JSON, but another list's
        with pytest.raises(ValueError, match="limit"):
            log.recent(limit=0)
        with pytest.raises(ValueError, match="limit"):
            log.for_resident(a_ref(), limit=0)


class TestInMemoryAuditLog(AuditLogContract):
    @pytest.fixture
    def log(self) -> AuditLog:
        return InMemoryAuditLog()


@pytest.fixture
def moto_stage(aws_env: str) -> ResourceNames:
    names = ResourceNames(f"au{uuid.uuid4().hex[:8]}")
    provision(aws_env, names, REGION)
    return names


class TestDynamoDBAuditLog(AuditLogContract):
    @pytest.fixture
    def log(self, moto_stage: ResourceNames) -> AuditLog:
        return DynamoDBAuditLog(stage_tables(moto_stage, REGION))

    def test_at_rest_the_pseudonym_and_a_ttl(self, moto_stage: ResourceNames) -> None:
        log = DynamoDBAuditLog(stage_tables(moto_stage, REGION), retention=Period(2, "years"))
        phone = "351912345678"
        log.record(an_event(resident_ref(f"wa:{phone}", KEY)))

        dynamodb = boto3.client("dynamodb", region_name=REGION)
        items = dynamodb.scan(TableName=moto_stage.table("audit"))["Items"]

        assert len(items) == 1
        assert phone not in str(items)
        assert items[0]["resident_ref"]["S"] == resident_ref(f"wa:{phone}", KEY)
        expires = datetime.fromtimestamp(int(items[0]["expires_at"]["N"]), UTC)
        assert expires == NOW.replace(year=NOW.year + 2)

    def test_five_years_when_the_configuration_says_nothing(
        self, moto_stage: ResourceNames
    ) -> None:
        DynamoDBAuditLog(stage_tables(moto_stage, REGION)).record(an_event(a_ref()))

        items = boto3.client("dynamodb", region_name=REGION).scan(
            TableName=moto_stage.table("audit")
        )["Items"]
        expires = datetime.fromtimestamp(int(items[0]["expires_at"]["N"]), UTC)
        assert expires == NOW.replace(year=NOW.year + 5)

    def test_request_budgets(self, moto_stage: ResourceNames, aws_env: str) -> None:
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=aws_env)
        operations: list[str] = []
        client.meta.events.register(
            "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
        )
        log = DynamoDBAuditLog(stage_tables(moto_stage, REGION, dynamodb_client=client))
        ref = a_ref()

        log.record(an_event(ref))
        assert operations == ["PutItem"]
        operations.clear()
        log.for_resident(ref)
        assert operations == ["Query"]
        operations.clear()
        log.recent(limit=10)
        assert operations == ["Query"]
        operations.clear()
        log.record_many([an_event(a_ref(), i) for i in range(30)])
        assert operations == ["BatchWriteItem", "BatchWriteItem"]
