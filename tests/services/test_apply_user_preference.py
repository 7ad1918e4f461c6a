"""Marketing stop/resume chosen inside WhatsApp: queued by the webhook receiver like a message,
applied by the inbound worker to the resident, never undone by older news. In memory."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.memory_stores import (
    InMemoryDatabase,
    InMemoryInboundQueue,
    InMemoryMessageStore,
    InMemoryResidentStore,
)
from chalicelib.domain.residents import ConsentAction, ConsentEvent, Resident
from chalicelib.observability import metrics
from chalicelib.services.apply_user_preference import apply_user_preference
from chalicelib.services.receive_webhook import (
    WebhookReceipt,
    preference_dedup_id,
    receive_webhook,
)
from chalicelib.whatsapp.events import InboundMessage, Sender, UserPreferenceUpdate
from chalicelib.whatsapp.signature import sign
from chalicelib.whatsapp.webhook_parser import parse_webhook
from tests.webhook_fixtures import load_webhook

SECRET = "test-secret"
WA_ID = "16505551234"  # the fixtures' resident
KEY = f"wa:{WA_ID}"
STOPPED_AT = datetime.fromtimestamp(1731705001, tz=UTC)  # user_preferences_stop.json
STOPPED = (ConsentEvent(action=ConsentAction.OPTED_OUT, at=STOPPED_AT),)  # the consent history
RESUMED_AT = datetime.fromtimestamp(1731705721, tz=UTC)  # user_preferences_resume.json


@pytest.fixture
def residents() -> InMemoryResidentStore:
    return InMemoryResidentStore(InMemoryDatabase())


def a_preference(value: str, at: datetime, sender: Sender | None = None) -> UserPreferenceUpdate:
    return UserPreferenceUpdate(
        sender=sender or Sender(wa_id=WA_ID),
        category="marketing_messages",
        value=value,
        timestamp=at,
    )


# --- applying ---------------------------------------------------------------------------------


def test_a_stop_from_a_stranger_makes_a_resident_who_opted_out(
    residents: InMemoryResidentStore,
) -> None:
    metrics.clear_metrics()

    assert apply_user_preference(a_preference("stop", STOPPED_AT), residents=residents) is True

    assert residents.get(KEY) == Resident(
        key=KEY,
        wa_id=WA_ID,
        opted_out=True,
        opted_out_at=STOPPED_AT,
        consent_history=STOPPED,
        created_at=STOPPED_AT,
    )
    assert "ResidentsOptedOut" in metrics.metric_set
    metrics.clear_metrics()


def test_a_later_resume_opts_the_resident_in_again(residents: InMemoryResidentStore) -> None:
    apply_user_preference(a_preference("stop", STOPPED_AT), residents=residents)

    assert apply_user_preference(a_preference("resume", RESUMED_AT), residents=residents)

    resident = residents.get(KEY)
    assert resident is not None
    assert (resident.opted_out, resident.opted_out_at) == (False, RESUMED_AT)
    assert [(e.action, e.at) for e in resident.consent_history] == [
        (ConsentAction.OPTED_OUT, STOPPED_AT),
        (ConsentAction.OPTED_IN, RESUMED_AT),
    ]


def test_a_redelivered_choice_changes_nothing(residents: InMemoryResidentStore) -> None:
    stop = a_preference("stop", STOPPED_AT)
    apply_user_preference(stop, residents=residents)
    before = residents.get(KEY)

    assert apply_user_preference(stop, residents=residents) is False
    assert residents.get(KEY) == before


def test_an_older_webhook_never_undoes_a_newer_choice(residents: InMemoryResidentStore) -> None:
    apply_user_preference(a_preference("resume", RESUMED_AT), residents=residents)

    late_stop = a_preference("stop", STOPPED_AT)  # Meta delivered it after the resume
    assert apply_user_preference(late_stop, residents=residents) is False

    resident = residents.get(KEY)
    assert resident is not None
    assert (resident.opted_out, resident.opted_out_at) == (False, RESUMED_AT)


def test_the_choice_of_a_known_resident_keeps_everything_else(
    residents: InMemoryResidentStore,
) -> None:
    known = Resident(
        key=KEY,
        wa_id=WA_ID,
        language="pt",
        profile_name="Ana",
        created_at=STOPPED_AT - timedelta(9),
    )
    residents.database.residents[KEY] = known

    apply_user_preference(a_preference("stop", STOPPED_AT), residents=residents)

    assert residents.get(KEY) == Resident(
        key=KEY,
        wa_id=WA_ID,
        language="pt",
        profile_name="Ana",
        opted_out=True,
        opted_out_at=STOPPED_AT,
        consent_history=STOPPED,
        created_at=known.created_at,
    )


def test_a_resident_known_only_by_bsuid_is_keyed_by_it(residents: InMemoryResidentStore) -> None:
    sender = Sender(user_id="PT.1502576394655843")

    apply_user_preference(a_preference("stop", STOPPED_AT, sender), residents=residents)

    resident = residents.get("bsuid:PT.1502576394655843")
    assert resident is not None
    assert (resident.opted_out, resident.user_id, resident.wa_id) == (
        True,
        "PT.1502576394655843",
        None,
    )


@pytest.mark.parametrize("value", ["pause", ""])
def test_an_unknown_value_is_ignored(residents: InMemoryResidentStore, value: str) -> None:
    assert apply_user_preference(a_preference(value, STOPPED_AT), residents=residents) is False
    assert residents.get(KEY) is None


def test_values_are_read_whatever_their_case(residents: InMemoryResidentStore) -> None:
    assert apply_user_preference(a_preference("STOP", STOPPED_AT), residents=residents)
    assert residents.get(KEY).opted_out is True


# --- from the webhook, through the inbound queue ----------------------------------------------


def post(payload: dict[str, Any], queue: InMemoryInboundQueue) -> WebhookReceipt:
    body = json.dumps(payload).encode()
    return receive_webhook(
        body,
        sign(body, SECRET),
        app_secret=SECRET,
        inbound_queue=lambda: queue,
        messages=lambda: InMemoryMessageStore(),
    )


def work(queue: InMemoryInboundQueue, residents: InMemoryResidentStore) -> None:
    """What the inbound worker does with preference records."""
    for _group, _dedup_id, body in queue.drain():
        for event in parse_webhook(body).events:
            if isinstance(event, UserPreferenceUpdate):
                apply_user_preference(event, residents=residents)


def test_a_stop_webhook_is_queued_in_the_residents_group(
    residents: InMemoryResidentStore,
) -> None:
    queue = InMemoryInboundQueue()

    receipt = post(load_webhook("user_preferences_stop"), queue)

    assert (receipt.status_code, receipt.preferences_queued, receipt.queued) == (200, 1, 0)
    ((group, dedup_id, body),) = queue.enqueued
    assert group == KEY
    assert dedup_id == f"pref:{KEY}:marketing_messages:stop:1731705001"
    assert parse_webhook(body).events == parse_webhook(load_webhook("user_preferences_stop")).events
    assert residents.get(KEY) is None  # nothing applied before the worker runs

    work(queue, residents)

    resident = residents.get(KEY)
    assert resident is not None and resident.opted_out is True


def test_meta_repeating_a_webhook_queues_it_once(residents: InMemoryResidentStore) -> None:
    queue = InMemoryInboundQueue()
    stop = load_webhook("user_preferences_stop")

    post(stop, queue)
    post(copy.deepcopy(stop), queue)

    assert len(queue.enqueued) == 1


def test_stop_and_resume_arriving_in_any_order_end_in_the_latest_choice(
    residents: InMemoryResidentStore,
) -> None:
    queue = InMemoryInboundQueue()

    post(load_webhook("user_preferences_resume"), queue)
    post(load_webhook("user_preferences_stop"), queue)  # the older one, delivered late
    work(queue, residents)

    resident = residents.get(KEY)
    assert resident is not None
    assert (resident.opted_out, resident.opted_out_at) == (False, RESUMED_AT)


def test_messages_and_choices_are_queued_in_payload_order() -> None:
    queue = InMemoryInboundQueue()
    batched = load_webhook("batched")
    events = [
        event
        for event in parse_webhook(batched).events
        if isinstance(event, InboundMessage | UserPreferenceUpdate)
    ]

    receipt = post(batched, queue)

    assert receipt.preferences_queued == 1
    assert [group for group, _, _ in queue.enqueued] == [event.sender.key for event in events]
    assert [parse_webhook(body).events for _, _, body in queue.enqueued] == [
        (event,) for event in events
    ]


def test_dedup_ids_that_sqs_would_refuse_become_a_digest() -> None:
    odd = a_preference("stop now", STOPPED_AT, Sender(user_id="é" * 130))

    dedup_id = preference_dedup_id(odd)

    assert dedup_id.startswith("pref:") and len(dedup_id) == 5 + 64
    assert dedup_id == preference_dedup_id(odd)
    assert preference_dedup_id(a_preference("resume", STOPPED_AT)) != preference_dedup_id(
        a_preference("stop", STOPPED_AT)
    )
