"""Broadcasts end to end, in-process: the back-office API and the console API create them, the
scheduled `run_broadcasts` job queues them, the real bulk sender (several at once, as Lambda
runs them) sends them to the WhatsApp simulator over HTTP, and the simulator's status webhooks
come back through the real webhook route. DynamoDB and SQS are moto's."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.domain.broadcasts import broadcast_message_id
from chalicelib.local_stack.scheduler import scheduled_event
from chalicelib.local_stack.stack import approved_templates
from chalicelib.simulator.server import GraphApiSimulator
from chalicelib.wiring import container
from tests.app import conftest as app_conftest
from tests.app.api_v1_support import ApiClient, make_key
from tests.app.conftest import REGION, AppHarness
from tests.app.test_console_api import console  # noqa: F401 (the fixture)
from tests.broadcast_support import town_of
from tests.moto_support import updates_one_at_a_time

MAX_MPS = 10  # the number's cap at the simulator (Meta)
# ... and the cap the app paces to. Lower: everything here shares one process (moto's server,
# the simulator, both senders), where a send leaves up to ~100 ms after its slot (the GIL,
# moto); the 5 % headroom of the app's pacing (53 ms at any cap up to 20 msg/s) is meant for
# the network's jitter, not that. Told 8, the app leaves the simulator's 10 a margin of 316 ms,
# and any 1-second window at the simulator holding more than 10 would still be a pacing bug.
APP_MPS = 8
SENDERS = 2  # bulk sender invocations running at once
NEWS = "A recolha de monos passa a ser à sexta-feira."


@pytest.fixture
def paced_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before `harness` starts: the simulator enforces the number's cap, the app paces under it."""
    monkeypatch.setenv("WHATSAPP_MAX_MPS", str(APP_MPS))
    monkeypatch.setattr(
        app_conftest, "GraphApiSimulator", functools.partial(GraphApiSimulator, max_mps=MAX_MPS)
    )


@pytest.fixture
def one_environment_at_a_time() -> Iterator[None]:
    """chalice.test patches the environment around each invocation by swapping `os.environ` for
    a patched copy and putting back what it found. Two invocations at once (the bulk senders
    here) interleave: the one that ends last puts back the *other's copy*, and that plain dict
    stays `os.environ` for the rest of the session, holding this test's variables
    (WHATSAPP_MAX_MPS, its stage) out of monkeypatch's reach — every later test then ran
    against them. Patch once for every thread at once, and always put the real one back."""
    from chalice.test import BaseClient

    real = os.environ
    lock = threading.Lock()
    depth = 0
    outer: Any = None

    @contextlib.contextmanager
    def patched(_client: Any, variables: dict[str, str]) -> Iterator[None]:
        nonlocal depth, outer
        with lock:
            if depth == 0:
                outer = os.environ
                copy = os.environ.copy()
                copy.update(variables)
                os.environ = copy  # type: ignore[assignment]  # noqa: B003 (as chalice does)
            depth += 1
        try:
            yield
        finally:
            with lock:
                depth -= 1
                if depth == 0:
                    os.environ = outer  # noqa: B003

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(BaseClient, "_patched_env_vars", patched)
            yield
    finally:
        os.environ = real  # noqa: B003


@pytest.fixture
def moto_updates_one_at_a_time() -> Iterator[None]:
    """Concurrent senders test our pacing, not moto's races."""
    with updates_one_at_a_time():
        yield


@pytest.fixture
def town(
    one_environment_at_a_time: None,
    paced_number: None,
    moto_updates_one_at_a_time: None,
    harness: AppHarness,
) -> AppHarness:
    harness.simulator.templates = approved_templates(container().definition)
    return harness


def store_residents(harness: AppHarness, residents: list[Any]) -> None:
    model = stage_tables(harness.names, REGION).residents
    with model.batch_write() as batch:
        for one in residents:
            batch.save(model.from_resident(one))


def run_job(harness: AppHarness) -> dict[str, Any]:
    event = scheduled_event(
        "arn:aws:events:eu-west-1:123456789012:rule/run_broadcasts", datetime.now(UTC)
    )
    return harness.client.lambda_.invoke("run_broadcasts", event).payload


def send_everything(harness: AppHarness, expected: int, timeout: float = 240.0) -> None:
    """Bulk senders poll the queue at once, as Lambda's do, until the simulator has `expected`
    messages and the queue is empty (records deferred by pacing come back after their delay)."""
    queue = harness.names.outbound_bulk_queue
    deadline = time.monotonic() + timeout

    def sender() -> None:
        quiet = 0
        while time.monotonic() < deadline and quiet < 3:
            outcome = harness.run_worker("bulk_sender", queue)
            done = len(harness.simulator.outbox()) >= expected
            quiet = quiet + 1 if done and not outcome["batchItemFailures"] else 0
            if done or outcome["batchItemFailures"]:
                time.sleep(0.2)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def relay_status_webhooks(harness: AppHarness) -> int:
    """What the simulator posted (signed, as Meta does) goes through the app's webhook route."""
    assert harness.simulator.wait_until_idle(30)
    relayed = 0
    for delivery in harness.simulator.webhook_log():
        if delivery["kind"].startswith("status."):
            assert harness.post_webhook(delivery["payload"]).status_code == 200
            relayed += 1
    return relayed


def test_a_broadcast_to_1000_residents_reaches_exactly_the_890_who_may_get_it_paced(
    town: AppHarness,
) -> None:
    harness = town
    phases = {"begin": time.monotonic()}
    people = town_of(1000, unsubscribed=100, stopped=10)
    store_residents(harness, people["all"])
    phases["residents"] = time.monotonic()
    harness.simulator.set_messaging_limit(container().definition.broadcasts.daily_limit)
    api = ApiClient(harness, make_key(harness.names, "events", frozenset({"broadcasts:write"})))

    preview = api.call(
        "POST", "/api/v1/broadcasts/preview", {"template": "town_news", "topic": "waste"}
    )
    assert preview.status == 200, preview.body
    assert (preview.body["audience"], preview.body["estimated_cost"]) == (890, 26.7)
    created = api.call(
        "POST",
        "/api/v1/broadcasts",
        {"name": "Monos", "template": "town_news", "topic": "waste", "params": [NEWS]},
    )
    assert created.status == 201, created.body
    broadcast = created.body
    assert broadcast["created_by"] == "apikey:events"
    assert broadcast["status"] == "running" and 0 < broadcast["progress"]["queued"] < 890

    phases["created"] = time.monotonic()
    job = run_job(harness)
    assert job["queued"] == 890 - broadcast["progress"]["queued"]
    phases["queued"] = time.monotonic()
    harness.simulator.reset_stats()
    started = time.monotonic()
    send_everything(harness, 890)
    elapsed = time.monotonic() - started
    phases["sent"] = time.monotonic()

    # Exactly the 890, once each; none of the 110.
    outbox = harness.simulator.outbox()
    reached = Counter(message["to"] for message in outbox)
    assert sorted(reached) == sorted(one.wa_id for one in people["expected"])
    assert set(reached.values()) == {1}
    assert not set(reached) & {one.wa_id for one in people["excluded"]}
    assert {m["biz_opaque_callback_data"] for m in outbox} == {
        broadcast_message_id(broadcast["id"], one.key) for one in people["expected"]
    }
    sample = next(m for m in outbox if m["to"] == people["expected"][0].wa_id)["body"]
    assert sample["template"]["name"] == "town_news"
    assert sample["template"]["components"][0]["parameters"] == [{"type": "text", "text": NEWS}]

    # Paced: never over the number's cap in any second, no throttling refusal.
    stats = harness.simulator.stats()
    print(
        f"broadcast: 890 messages in {elapsed:.1f} s = {890 / elapsed:.1f}/s "
        f"(paced to {APP_MPS}, cap {MAX_MPS}); "
        f"max in any 1 s: {stats['max_accepted_in_any_1s_window']}; "
        f"refused 130429: {stats['rejected_by_code']['130429']}"
    )
    assert stats["rejected_by_code"]["130429"] == 0
    assert stats["rejected_by_code"]["131056"] == 0
    assert stats["max_accepted_in_any_1s_window"] <= MAX_MPS
    assert stats["duplicates_by_callback_data"] == 0
    assert stats["failed_by_code"].get("131048", 0) == 0  # within the messaging limit

    # The residents read some; every status comes back through the webhook route.
    readers = [one.wa_id for one in people["expected"][::3]]
    for wa_id in readers:
        harness.simulator.thread(wa_id, mark_read=True)
    assert relay_status_webhooks(harness) > 890
    phases["relayed"] = time.monotonic()
    run_job(harness)

    final = api.call("GET", f"/api/v1/broadcasts/{broadcast['id']}")
    assert final.status == 200
    statuses = Counter(m["status"] for m in harness.simulator.outbox())
    assert final.body["status"] == "completed"
    assert final.body["report"] == {
        "reached": 890,
        "delivered": statuses["delivered"] + statuses["read"],
        "read": statuses["read"],
        "failed": 0,
        "failed_by_error": {},
        "skipped_by_reason": {},
        "cost": round(0.03 * (statuses["delivered"] + statuses["read"]), 4),
        "currency": "EUR",
    }
    assert statuses["read"] == len(readers)
    assert final.body["progress"] == {
        "audience": 890,
        "queued": 0,
        "sent": statuses["sent"],
        "delivered": statuses["delivered"],
        "read": statuses["read"],
        "failed": 0,
        "skipped": 0,
    }
    phases["reported"] = time.monotonic()
    steps = list(phases.items())
    print(
        "phases: "
        + ", ".join(
            f"{name} {at - before:.1f} s" for (_, before), (name, at) in itertools.pairwise(steps)
        )
    )


# --- the daily messaging limit -------------------------------------------------------------------

LIMIT = 12  # the town's daily_limit and the simulator's messaging limit, below the audience


@pytest.fixture
def shifted_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Before `harness` starts: the simulator's clock runs `offset[0]` seconds ahead, so its
    moving 24 h can pass while the test waits seconds."""
    offset = [0.0]
    monkeypatch.setattr(
        app_conftest,
        "GraphApiSimulator",
        functools.partial(GraphApiSimulator, clock=lambda: time.time() + offset[0]),
    )
    return offset


def test_a_daily_limit_below_the_audience_sends_the_rest_when_the_24_hours_have_moved_on(
    one_environment_at_a_time: None, shifted_clock: list[float], harness: AppHarness
) -> None:
    from chalicelib.services.broadcasts import run_broadcasts

    harness.simulator.templates = approved_templates(container().definition)
    harness.simulator.set_messaging_limit(LIMIT)
    people = town_of(20)
    store_residents(harness, people["all"])
    definition = container().definition
    limited = dataclasses.replace(
        definition, broadcasts=dataclasses.replace(definition.broadcasts, daily_limit=LIMIT)
    )
    start = datetime.now(UTC)
    api = ApiClient(harness, make_key(harness.names, "events", frozenset({"broadcasts:write"})))
    created = api.call(
        "POST",
        "/api/v1/broadcasts",
        {
            "name": "Monos",
            "template": "town_news",
            "topic": "waste",
            "params": [NEWS],
            "send_at": (start + timedelta(minutes=1)).isoformat(),
        },
    )
    assert created.status == 201, created.body

    def job(at: datetime) -> Any:
        return run_broadcasts(
            at, definition=limited, ports=container().broadcast_ports, clock=time.monotonic
        )

    first = job(start + timedelta(minutes=2))
    assert (first.queued, first.out_of_budget) == (LIMIT, True)
    send_everything(harness, LIMIT)
    relay_status_webhooks(harness)
    assert job(start + timedelta(hours=1)).queued == 0  # the 24 h have not moved on
    stats = harness.simulator.stats()
    assert (stats["accepted"], stats["messaging_limit_used"]) == (LIMIT, LIMIT)
    assert stats["failed_by_code"].get("131048", 0) == 0

    shifted_clock[0] = 25 * 3600.0  # a day and an hour later, at both ends
    later = start + timedelta(hours=25, minutes=2)
    second = job(later)
    assert (second.queued, second.out_of_budget) == (20 - LIMIT, False)
    send_everything(harness, 20)
    relay_status_webhooks(harness)
    assert job(later + timedelta(minutes=1)).completed == 1

    stats = harness.simulator.stats()
    assert stats["failed_by_code"].get("131048", 0) == 0  # never over Meta's limit
    assert stats["messaging_limit_used"] == 20 - LIMIT  # the first day's have left the count
    reached = Counter(m["to"] for m in harness.simulator.outbox())
    assert sorted(reached) == sorted(one.wa_id for one in people["expected"])
    assert set(reached.values()) == {1}
    final = api.call("GET", f"/api/v1/broadcasts/{created.body['id']}").body
    assert (final["status"], final["report"]["reached"], final["report"]["failed"]) == (
        "completed",
        20,
        0,
    )


# --- the console and the API's refusals --------------------------------------------------------


def test_console_broadcasts_are_for_supervisors_and_refusals_name_the_field(
    console: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    from tests.app.test_console_api import FINANCE, SUPERVISOR

    harness = console.harness
    store_residents(harness, town_of(12, unsubscribed=2)["all"])
    assert console.as_agent(FINANCE, "GET", "/broadcasts/options").status == 403
    assert console.as_agent(FINANCE, "GET", "/broadcasts").status == 403

    options = console.as_agent(SUPERVISOR, "GET", "/broadcasts/options").body
    festival = next(t for t in options["templates"] if t["name"] == "summer_festival")
    assert (festival["category"], festival["allowed"]) == ("marketing", False)
    assert "allow_marketing" in festival["why"]
    assert {"id": "waste", "label": "Resíduos e reciclagem"} in options["topics"]
    assert (options["daily_limit"], options["currency"]) == (2000, "EUR")

    audience = {"template": "town_news", "topic": "waste", "languages": ["pt", "es"]}
    preview = console.as_agent(SUPERVISOR, "POST", "/broadcasts/preview", audience)
    assert preview.status == 200
    assert preview.body == {
        "audience": 4,  # of the 10 subscribed (languages cycle pt, es, en, ar): 2 pt, 2 es
        "by_language": {"es": 2, "pt": 2},
        "category": "utility",
        "price_per_message": 0.03,
        "currency": "EUR",
        "estimated_cost": 0.12,
        "daily_limit": 2000,
        "days_needed": 1,
    }
    refused = console.as_agent(
        SUPERVISOR,
        "POST",
        "/broadcasts",
        {"name": "Festa", "template": "summer_festival", "topic": "waste", "params": ["x"]},
    )
    assert refused.status == 422
    assert (refused.body["error"]["code"], refused.body["error"]["field"]) == (
        "invalid",
        "template",
    )

    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    created = console.as_agent(
        SUPERVISOR,
        "POST",
        "/broadcasts",
        {**audience, "name": "Aviso", "params": ["x"], "send_at": later},
    )
    assert created.status == 201, created.body
    assert (created.body["status"], created.body["created_by"]) == (
        "scheduled",
        f"agent:{SUPERVISOR}",
    )
    assert created.body["estimate"] == {"audience": 4, "estimated_cost": 0.12, "currency": "EUR"}
    path = f"/broadcasts/{created.body['id']}"
    recorded = console.as_agent(SUPERVISOR, "GET", "/audit").body["events"]
    assert {
        (e["actor"], e["action"], e["detail"], e["counts"].get("audience"))
        for e in recorded
        if e["resident_ref"] == f"broadcast:{created.body['id']}"
    } == {(f"agent:{SUPERVISOR}", "messaged", f"broadcast {created.body['id']}", 4)}
    listed = console.as_agent(SUPERVISOR, "GET", "/broadcasts").body["broadcasts"]
    assert listed[0]["id"] == created.body["id"]
    cancelled = console.as_agent(SUPERVISOR, "POST", f"{path}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    again = console.as_agent(SUPERVISOR, "POST", f"{path}/cancel")
    assert (again.status, again.body["error"]["code"]) == (409, "conflict")
    assert console.as_agent(SUPERVISOR, "GET", "/broadcasts/" + "f" * 32).status == 404


def test_the_api_needs_the_broadcast_scope_and_names_bad_fields(harness: AppHarness) -> None:
    reader = ApiClient(harness, make_key(harness.names, "dash", frozenset({"status:read"})))
    assert reader.call("GET", "/api/v1/broadcasts").status == 403
    api = ApiClient(harness, make_key(harness.names, "events", frozenset({"broadcasts:write"})))
    marketing = api.call(
        "POST", "/api/v1/broadcasts", {"name": "F", "template": "summer_festival", "topic": "waste"}
    )
    assert marketing.status == 422
    assert (marketing.body["error"]["field"], marketing.body["error"]["code"]) == (
        "template",
        "marketing_not_allowed",
    )
    unknown = api.call("POST", "/api/v1/broadcasts/preview", {"template": "town_news", "topic": 3})
    assert (unknown.status, unknown.body["error"]["field"]) == (400, "topic")
    assert api.call("GET", "/api/v1/broadcasts").body == {"broadcasts": []}
    assert api.call("GET", "/api/v1/broadcasts/nope").status == 404
