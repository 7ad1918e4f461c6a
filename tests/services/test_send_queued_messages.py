"""The sender against in-memory stores, limiter and pause switch, with a recording Graph edge
and a fake clock: every error class, redelivery, pausing, dead letters, the 24 h rule, pacing."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

import pytest
import requests

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
from chalicelib.adapters.memory_stores import InMemorySenderControl
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.pacing import number_rate, pair_rate
from chalicelib.domain.replies import MenuReply, MenuRow, TemplateReply, TextReply, reply_to_dict
from chalicelib.domain.residents import Resident
from chalicelib.domain.retry_policy import MAX_SEND_ATTEMPTS
from chalicelib.domain.service_window import REOPEN_TEMPLATE, reopen_template_codes
from chalicelib.observability import logger, mask_phone, metrics
from chalicelib.services.ports import GraphApiError
from chalicelib.services.send_queued_message import (
    Clock,
    Outbox,
    RetryLaterError,
    SendingPolicy,
    send_queued_messages,
)
from chalicelib.settings import BUNDLED_CONFIG
from tests.services.conftest import NOW, World

NUMBER = "100000000000001"
WA_ID = "351916666666"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.at = start
        self.slept = 0.0

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.at += timedelta(seconds=seconds)

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep, jitter=lambda: 0.5)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def control() -> InMemorySenderControl:
    return InMemorySenderControl()


@pytest.fixture
def outbox(world: World, control: InMemorySenderControl) -> Outbox:
    return Outbox(
        messages=world.messages,
        residents=world.residents,
        graph=world.sender,
        limiter=InMemoryRateLimiter(),
        control=control,
        dead_letters=world.outbound,
    )


# The bundled town's: pt, es, en and ar, Portuguese approved at Meta as pt_PT.
BUNDLED_REOPEN = reopen_template_codes(load_municipality_file(BUNDLED_CONFIG))


def policy(reopen: Mapping[str, str] | None = BUNDLED_REOPEN) -> SendingPolicy:
    return SendingPolicy(
        phone_number_id=NUMBER,
        number_rate=number_rate(80),
        pair_rate=pair_rate(),
        reopen_template_codes=reopen,
        default_language="pt",
    )


def queue(world: World, *replies, sent_by: str = "bot", recipient: str = WA_ID) -> list[str]:
    messages = [
        StoredMessage(
            id=f"out-{recipient}-{index}-{sent_by}",
            direction=Direction.OUTBOUND,
            resident_key=f"wa:{recipient}",
            conversation_id="conv-1",
            message_type=reply.kind,
            body="",
            payload=reply_to_dict(reply),
            created_at=NOW,
            status=DeliveryStatus.QUEUED,
            status_at=NOW,
            recipient=recipient,
            sent_by=sent_by,
        )
        for index, reply in enumerate(replies)
    ]
    world.messages.add_outbound(messages)
    return [m.id for m in messages]


def send(ids, outbox: Outbox, fake_clock: FakeClock, **kwargs):
    return send_queued_messages(
        ids,
        outbox=outbox,
        policy=kwargs.pop("policy", policy()),
        clock=fake_clock.clock(),
        **kwargs,
    )


def status(world: World, message_id: str) -> StoredMessage:
    return world.messages.get(message_id)


def test_messages_go_out_in_order_with_our_id_as_callback_data(world, outbox, fake_clock) -> None:
    ids = queue(
        world,
        TextReply(text="Olá"),
        MenuReply(body="Menu", button="Ver", rows=(MenuRow(id="a", title="A"),)),
    )

    report = send(ids, outbox, fake_clock)

    assert report.sent == ids
    assert [reply.kind for _, reply in world.sender.sent] == ["text", "menu"]
    assert world.sender.callback_data == ids
    assert all(status(world, i).status is DeliveryStatus.SENT for i in ids)
    assert status(world, ids[0]).wamid == "wamid.out-0"


def test_a_redelivered_record_sends_nothing_twice(world, outbox, fake_clock) -> None:
    ids = queue(world, TextReply(text="Olá"), TextReply(text="Menu"))
    send(ids, outbox, fake_clock)
    again = send(ids, outbox, fake_clock)
    assert again.skipped == ids and len(world.sender.sent) == 2


@pytest.mark.parametrize("code", [131026, 131047, 131049, 131050, 130403])
def test_a_recipients_terminal_error_is_recorded_and_not_retried(
    world, outbox, fake_clock, code: int
) -> None:
    ids = queue(world, TextReply(text="one"), TextReply(text="two"))
    world.sender.refuse_with.append(GraphApiError(code, "refused", http_status=400))

    report = send(ids, outbox, fake_clock)

    assert report.failed == [ids[0]] and report.sent == [ids[1]]
    failed = status(world, ids[0])
    assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED, code)


@pytest.mark.parametrize(
    ("error", "expected_delay"),
    [
        (GraphApiError(130429, "Rate limit hit", http_status=400), 1),
        (GraphApiError(131056, "Pair rate limit hit", http_status=400), 1),
        (GraphApiError(131000, "Something went wrong", http_status=500), 1),
        (GraphApiError(-1, "HTTP 502 Bad Gateway", http_status=502), 1),
        (requests.ConnectTimeout("connect timeout"), 1),
    ],
)
def test_throttling_and_transient_faults_defer_the_rest_of_the_record(
    world, outbox, fake_clock, error, expected_delay: int
) -> None:
    ids = queue(world, TextReply(text="welcome"), TextReply(text="menu"))
    world.sender.refuse_with.append(error)

    with pytest.raises(RetryLaterError) as deferred:
        send(ids, outbox, fake_clock)

    assert deferred.value.delay_seconds == expected_delay
    first = status(world, ids[0])
    assert (first.status, first.attempts) == (DeliveryStatus.QUEUED, 1)
    assert status(world, ids[1]).status is DeliveryStatus.QUEUED  # the menu waits its turn
    assert world.sender.sent == []

    report = send(ids, outbox, fake_clock)  # SQS brings the record back
    assert report.sent == ids


def test_pair_rate_refusals_back_off_four_to_the_x(world, outbox, fake_clock) -> None:
    (message_id,) = queue(world, TextReply(text="x"))
    delays = []
    for _ in range(3):
        world.sender.refuse_with.append(GraphApiError(131056, "Pair rate limit hit"))
        with pytest.raises(RetryLaterError) as deferred:
            send([message_id], outbox, fake_clock)
        delays.append(deferred.value.delay_seconds)
    assert delays == [1, 4, 16]


def test_after_the_last_attempt_the_message_is_dead_lettered_with_its_reason(
    world, outbox, fake_clock
) -> None:
    (message_id,) = queue(world, TextReply(text="x"))
    for _ in range(MAX_SEND_ATTEMPTS - 1):
        world.sender.refuse_with.append(GraphApiError(131016, "Service unavailable"))
        with pytest.raises(RetryLaterError):
            send([message_id], outbox, fake_clock, priority=Priority.BULK)
    world.sender.refuse_with.append(GraphApiError(131016, "Service unavailable"))

    report = send([message_id], outbox, fake_clock, priority=Priority.BULK)

    assert report.dead_lettered == [message_id]
    ((dead_id, priority, reason),) = world.outbound.dead_lettered
    assert (dead_id, priority) == (message_id, Priority.BULK)
    assert reason == f"gave up after {MAX_SEND_ATTEMPTS} attempts: (131016) Service unavailable"
    stored = status(world, message_id)
    assert stored.status is DeliveryStatus.FAILED and stored.error_title == reason


@pytest.mark.parametrize("code", [190, 100, 132001, 368, 131031, 131048])
def test_configuration_and_account_errors_pause_the_sender(
    world, outbox, fake_clock, control, code: int
) -> None:
    ids = queue(world, TextReply(text="x"), TextReply(text="y"))
    world.sender.refuse_with.append(GraphApiError(code, "refused"))

    with pytest.raises(RetryLaterError, match="paused"):
        send(ids, outbox, fake_clock)
    assert control.paused_reason(NUMBER) == f"({code}) refused"
    assert status(world, ids[0]).status is DeliveryStatus.QUEUED

    with pytest.raises(RetryLaterError, match="paused"):  # nothing is even tried while paused
        send(ids, outbox, fake_clock)
    assert world.sender.sent == []

    control.resume(NUMBER)
    assert send(ids, outbox, fake_clock).sent == ids


def test_a_reply_that_breaks_metas_limits_fails_at_once(world, outbox, fake_clock) -> None:
    (message_id,) = queue(world, TextReply(text="x" * 5000))
    report = send([message_id], outbox, fake_clock)
    assert report.failed == [message_id]
    assert "text.body" in status(world, message_id).error_title


def _resident_who_last_wrote(world: World, at: datetime, language: str = "ar") -> None:
    world.database.residents[f"wa:{WA_ID}"] = Resident(
        key=f"wa:{WA_ID}", wa_id=WA_ID, language=language, last_inbound_at=at, created_at=at
    )


def test_an_agent_reply_inside_the_window_goes_out_as_written(world, outbox, fake_clock) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(hours=2))
    (message_id,) = queue(world, TextReply(text="Fixed!"), sent_by="agent-7")
    send([message_id], outbox, fake_clock)
    assert world.sender.sent == [(WA_ID, TextReply(text="Fixed!"))]


def test_outside_the_window_the_reopen_template_goes_instead_and_says_so(
    world, outbox, fake_clock
) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(days=2), language="ar")
    (message_id,) = queue(world, TextReply(text="Fixed!"), sent_by="agent-7")

    send([message_id], outbox, fake_clock)

    assert world.sender.sent == [(WA_ID, TemplateReply(name=REOPEN_TEMPLATE, language="ar"))]
    stored = status(world, message_id)
    assert stored.status is DeliveryStatus.SENT
    assert "re-open template" in stored.note
    assert stored.payload["name"] == REOPEN_TEMPLATE


def test_a_portuguese_resident_gets_the_reopen_template_under_metas_pt_pt(
    world, outbox, fake_clock
) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(days=2), language="pt")
    (message_id,) = queue(world, TextReply(text="Já está!"), sent_by="agent-7")

    send([message_id], outbox, fake_clock)

    assert world.sender.sent == [(WA_ID, TemplateReply(name=REOPEN_TEMPLATE, language="pt_PT"))]
    assert status(world, message_id).payload["language"] == "pt_PT"  # what went to Meta


def test_outside_the_window_without_a_reopen_template_nothing_is_sent(
    world, outbox, fake_clock
) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(days=2))
    (message_id,) = queue(world, TextReply(text="Fixed!"), sent_by="agent-7")

    report = send([message_id], outbox, fake_clock, policy=policy(reopen=None))

    assert report.failed == [message_id] and world.sender.sent == []
    stored = status(world, message_id)
    assert stored.error_code == 131047 and "24-hour window" in stored.error_title


def test_templates_ignore_the_window(world, outbox, fake_clock) -> None:
    (message_id,) = queue(
        world, TemplateReply(name="licence_renewal", language="pt"), sent_by="reminders"
    )
    send([message_id], outbox, fake_clock)
    assert world.sender.sent[0][1].name == "licence_renewal"


def test_a_residents_burst_beyond_45_waits_without_sending_faster(
    world, outbox, fake_clock
) -> None:
    ids = queue(world, *(TextReply(text=f"n{i}") for i in range(46)), sent_by="reminders")
    _resident_who_last_wrote(world, NOW)

    with pytest.raises(RetryLaterError) as deferred:
        send(ids, outbox, fake_clock)

    assert len(world.sender.sent) == 45
    assert 5 <= deferred.value.delay_seconds <= 7  # one pair slot every 6 s
    assert status(world, ids[45]).status is DeliveryStatus.QUEUED
    assert status(world, ids[45]).attempts == 0  # pacing is not a failed attempt


def test_an_unforeseen_fault_after_the_claim_releases_it(world, outbox, fake_clock) -> None:
    ids = queue(world, TextReply(text="x"))
    world.sender.refuse_with.append(RuntimeError("the store hiccuped"))

    with pytest.raises(RuntimeError):
        send(ids, outbox, fake_clock)

    stored = status(world, ids[0])
    assert (stored.status, stored.attempts) == (DeliveryStatus.QUEUED, 1)
    assert send(ids, outbox, fake_clock).sent == ids  # the redelivery sends it


# --- residents who opted out ------------------------------------------------------------------


class CountingLimiter(InMemoryRateLimiter):
    def __init__(self) -> None:
        super().__init__()
        self.acquired: list[str] = []

    def acquire(self, key, rate, now_us, *, max_delay_us=0):
        self.acquired.append(key)
        return super().acquire(key, rate, now_us, max_delay_us=max_delay_us)


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def counted_outbox(outbox: Outbox, limiter: CountingLimiter) -> Outbox:
    return dataclasses.replace(outbox, limiter=limiter)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """What the sender logs, before any formatter masks digits that slipped through."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel("INFO")
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def queue_bulk(world: World, *replies, recipient: str = WA_ID) -> list[str]:
    ids = queue(world, *replies, sent_by="reminders", recipient=recipient)
    world.database.messages.update(
        {i: dataclasses.replace(world.database.messages[i], priority=Priority.BULK) for i in ids}
    )
    return ids


def opt_out(world: World, at: datetime = NOW - timedelta(minutes=1)) -> None:
    assert world.residents.set_opted_out(f"wa:{WA_ID}", True, at, wa_id=WA_ID)


def test_a_bulk_message_to_a_resident_who_opted_out_is_never_sent(
    world, counted_outbox, limiter, fake_clock, log_records
) -> None:
    opt_out(world)
    metrics.clear_metrics()
    (message_id,) = queue_bulk(world, TemplateReply(name="licence_renewal", language="pt"))

    report = send([message_id], counted_outbox, fake_clock, priority=Priority.BULK)

    assert report.opted_out == [message_id] and report.sent == []
    assert world.sender.sent == []  # no Graph call
    assert limiter.acquired == []  # no pacing slot taken
    stored = status(world, message_id)
    assert (stored.status, stored.status_at, stored.note, stored.wamid) == (
        DeliveryStatus.SKIPPED,
        NOW,
        "opted_out",
        None,
    )
    assert "OutboundSkippedOptedOut" in metrics.metric_set
    (record,) = [r for r in log_records if r.getMessage().startswith("bulk message not sent")]
    assert record.resident == f"wa:{mask_phone(WA_ID)}"
    metrics.clear_metrics()


def test_an_opt_out_after_queueing_skips_what_has_not_left_yet(
    world, counted_outbox, limiter, fake_clock
) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(hours=1))
    first, second = queue_bulk(world, TextReply(text="Reunião hoje"), TextReply(text="Lembrete"))
    assert send([first], counted_outbox, fake_clock, priority=Priority.BULK).sent == [first]

    opt_out(world, at=NOW)  # the stop arrives while `second` waits on the bulk queue
    report = send([second], counted_outbox, fake_clock, priority=Priority.BULK)

    assert report.opted_out == [second]
    assert [reply.text for _, reply in world.sender.sent] == ["Reunião hoje"]
    assert status(world, second).status is DeliveryStatus.SKIPPED
    assert len(limiter.acquired) == 2  # the pair and number slots of the first message only
    again = send([second], counted_outbox, fake_clock, priority=Priority.BULK)  # redelivered
    assert again.skipped == [second] and len(world.sender.sent) == 1


def test_a_resident_who_opted_in_again_gets_bulk_messages(world, outbox, fake_clock) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(hours=1))
    opt_out(world, at=NOW - timedelta(hours=2))
    world.residents.set_opted_out(f"wa:{WA_ID}", False, NOW - timedelta(hours=1))
    (message_id,) = queue_bulk(world, TextReply(text="Lembrete"))

    assert send([message_id], outbox, fake_clock, priority=Priority.BULK).sent == [message_id]


def test_replies_still_reach_a_resident_who_opted_out(world, outbox, fake_clock) -> None:
    _resident_who_last_wrote(world, NOW - timedelta(hours=1))
    opt_out(world)
    bot = queue(world, TextReply(text="Olá"))
    agent = queue(world, TextReply(text="Resolvido!"), sent_by="agent-7")

    report = send([*bot, *agent], outbox, fake_clock)

    assert report.sent == [*bot, *agent] and report.opted_out == []


def test_a_bulk_message_is_bulk_whichever_queue_brings_it(world, outbox, fake_clock) -> None:
    opt_out(world)
    stored_bulk = queue_bulk(world, TextReply(text="a"), recipient=WA_ID)
    from_bulk_queue = queue(world, TextReply(text="b"), sent_by="notifications")

    assert send(stored_bulk, outbox, fake_clock).opted_out == stored_bulk
    assert send(from_bulk_queue, outbox, fake_clock, priority=Priority.BULK).opted_out == (
        from_bulk_queue
    )
    assert world.sender.sent == []


def test_a_bulk_message_to_an_unknown_resident_goes_out(world, outbox, fake_clock) -> None:
    (message_id,) = queue_bulk(
        world, TemplateReply(name="licence_renewal", language="pt"), recipient="351917777777"
    )

    assert send([message_id], outbox, fake_clock, priority=Priority.BULK).sent == [message_id]


class CountingResidents:
    """The in-memory resident store, counting `get`s (one GetItem each on DynamoDB)."""

    def __init__(self, residents) -> None:
        self._residents = residents
        self.reads: list[str] = []

    def get(self, resident_key: str):
        self.reads.append(resident_key)
        return self._residents.get(resident_key)

    def __getattr__(self, name: str):
        return getattr(self._residents, name)


def test_the_resident_is_read_at_most_once_and_only_when_it_matters(
    world, outbox, fake_clock
) -> None:
    residents = CountingResidents(world.residents)
    counted = dataclasses.replace(outbox, residents=residents)
    template = TemplateReply(name="licence_renewal", language="pt")
    _resident_who_last_wrote(world, NOW - timedelta(hours=2))

    (to_a_stranger,) = queue_bulk(world, template, recipient="351917777777")
    assert send([to_a_stranger], counted, fake_clock, priority=Priority.BULK).sent
    assert residents.reads == ["wa:351917777777"]  # the opt-out check answers the window too

    residents.reads.clear()
    (agent_template,) = queue(world, template, sent_by="agent-8")
    assert send([agent_template], counted, fake_clock).sent
    assert residents.reads == []  # a template goes out whatever the window

    (agent_text,) = queue(world, TextReply(text="Fixed!"), sent_by="agent-7")
    assert send([agent_text], counted, fake_clock).sent
    assert residents.reads == [f"wa:{WA_ID}"]
