# ruff: noqa: F811 - the `console` fixture, imported from test_console_api, is a parameter
"""The audit log through the real app (chalice.test.Client on moto and the WhatsApp simulator):
opening a conversation records `viewed` (once per agent in ten minutes, not per poll), an
agent's reply and a back-office registration record `messaged`, supervisors read it by phone or
page by page, agents get 403, and an audit log that cannot be written never stops the work."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.domain.audit import AuditAction, AuditEvent, resident_ref
from chalicelib.settings import PSEUDONYM_KEY_VARIABLE, get_settings
from chalicelib.wiring import container
from tests.app.api_v1_support import ALL_WRITE, ApiClient, document_ready, licence, make_key
from tests.app.conftest import PSEUDONYM_KEY, REGION
from tests.app.test_console_api import (  # noqa: F401 - `console` is a fixture (F811 below)
    FINANCE,
    SUPERVISOR,
    WORKS,
    Console,
    console,
    seed,
)

pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")


def audit_of(console: Console, phone: str) -> dict:
    reply = console.as_agent(SUPERVISOR, "GET", f"/audit?phone={phone.replace('+', '%2B')}")
    assert reply.status == 200, reply.body
    return reply.body


def test_opening_a_conversation_is_recorded_once_per_agent_not_per_poll(
    console: Console,
) -> None:
    conversation = seed(console.harness, team="finance")
    phone = conversation.resident_key.removeprefix("wa:")
    path = f"/conversations/{conversation.id}"

    assert console.as_agent(FINANCE, "GET", path).status == 200
    assert console.as_agent(FINANCE, "GET", f"{path}/messages").status == 200
    assert console.as_agent(FINANCE, "GET", path).status == 200  # the 30-second re-read
    after = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    polled = console.as_agent(FINANCE, "GET", f"{path}/messages?after={after}")
    assert polled.status == 200
    assert console.as_agent(SUPERVISOR, "GET", path).status == 200

    found = audit_of(console, phone)
    assert found["resident_ref"] == resident_ref(conversation.resident_key, PSEUDONYM_KEY.encode())
    assert [(e["actor"], e["action"], e["detail"]) for e in found["events"]] == [
        (f"agent:{SUPERVISOR}", "viewed", f"conversation {conversation.id}"),
        (f"agent:{FINANCE}", "viewed", f"conversation {conversation.id}"),
    ]
    assert all(e["at"].endswith("Z") for e in found["events"])
    # Another team's agent gets 404 for the conversation, and nothing is recorded.
    assert console.as_agent(WORKS, "GET", path).status == 404
    assert len(audit_of(console, f"+{phone}")["events"]) == 2


def test_an_agents_reply_is_recorded_as_messaged(console: Console) -> None:
    conversation = seed(console.harness, team="finance")
    path = f"/conversations/{conversation.id}"

    sent = console.as_agent(FINANCE, "POST", f"{path}/messages", {"text": "Hello, checking."})
    note = console.as_agent(FINANCE, "POST", f"{path}/notes", {"text": "Called the bank."})

    assert (sent.status, note.status) == (201, 201)
    events = audit_of(console, conversation.resident_key.removeprefix("wa:"))["events"]
    assert [(e["actor"], e["action"], e["detail"]) for e in events] == [
        (f"agent:{FINANCE}", "messaged", f"text in conversation {conversation.id}")
    ]  # a note reaches nobody: not a message to the resident
    assert "Hello" not in str(events)  # what was said is in the conversation, not the log


def test_the_audit_log_is_for_supervisors(console: Console) -> None:
    conversation = seed(console.harness, team="finance")
    phone = conversation.resident_key.removeprefix("wa:")
    for path in (f"/audit?phone={phone}", "/audit", "/audit?cursor=abc"):
        refused = console.as_agent(FINANCE, "GET", path)
        assert (refused.status, refused.body["error"]["code"]) == (403, "forbidden"), path
    assert console.call("GET", "/audit").status == 401


def test_supervisors_page_through_everyones_latest(console: Console) -> None:
    log = DynamoDBAuditLog(stage_tables(console.harness.names, REGION))
    base = datetime(2030, 1, 1, tzinfo=UTC)  # after anything else the test stage holds
    for minute in range(5):
        log.record(
            AuditEvent(
                resident_ref=f"ref{minute}",
                at=base.replace(minute=minute),
                actor="cli:maria",
                action=AuditAction.EXPORTED,
                counts={"messages": minute},
            )
        )

    first = console.as_agent(SUPERVISOR, "GET", "/audit?limit=2")
    assert first.status == 200, first.body
    assert [e["resident_ref"] for e in first.body["events"]] == ["ref4", "ref3"]
    assert first.body["events"][0] == {
        "at": "2030-01-01T00:04:00Z",
        "actor": "cli:maria",
        "action": "exported",
        "detail": None,
        "counts": {"messages": 4},
        "resident_ref": "ref4",
    }
    cursor = first.body["next"]
    second = console.as_agent(SUPERVISOR, "GET", f"/audit?limit=2&cursor={cursor}")
    assert [e["resident_ref"] for e in second.body["events"]] == ["ref2", "ref1"]

    bad_cursor = console.as_agent(SUPERVISOR, "GET", "/audit?cursor=not-ours")
    bad_limit = console.as_agent(SUPERVISOR, "GET", "/audit?limit=0")
    words_limit = console.as_agent(SUPERVISOR, "GET", "/audit?limit=ten")
    bad_phone = console.as_agent(SUPERVISOR, "GET", "/audit?phone=12")
    assert (bad_cursor.status, bad_cursor.body["error"]["field"]) == (422, "cursor")
    assert (bad_limit.status, bad_limit.body["error"]["field"]) == (422, "limit")
    assert (words_limit.status, words_limit.body["error"]["field"]) == (422, "limit")
    assert (bad_phone.status, bad_phone.body["error"]["field"]) == (422, "phone")


def test_a_failing_audit_log_never_stops_the_agent(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seed(console.harness, team="finance")
    monkeypatch.delenv(PSEUDONYM_KEY_VARIABLE)  # a stage that lost its key: no entry is made
    get_settings.cache_clear()
    container.cache_clear()
    path = f"/conversations/{conversation.id}"

    assert console.as_agent(FINANCE, "GET", path).status == 200
    sent = console.as_agent(FINANCE, "POST", f"{path}/messages", {"text": "Still here."})
    assert sent.status == 201
    # Reading it, though, says what is missing.
    unavailable = console.as_agent(SUPERVISOR, "GET", "/audit?phone=351912000001")
    assert (unavailable.status, unavailable.body["error"]["code"]) == (503, "unavailable")


def test_back_office_registrations_are_recorded_by_the_api_key(console: Console) -> None:
    api = ApiClient(console.harness, make_key(console.harness.names, "tax-office", ALL_WRITE))
    phone = "+351912000077"

    registered = api.put_obligation("LIC-A1", licence(phone=phone))
    again = api.put_obligation("LIC-A1", licence(phone=phone))  # the same: nothing new
    notified = api.call("POST", "/api/v1/notifications", document_ready("N-A1", phone=phone))

    assert (registered.status, again.status, notified.status) == (201, 200, 202)
    events = audit_of(console, phone)["events"]
    assert sorted((e["actor"], e["action"], e["detail"]) for e in events) == [
        ("apikey:tax-office", "messaged", "notification N-A1"),
        ("apikey:tax-office", "messaged", "obligation LIC-A1"),
    ]
    assert phone.removeprefix("+") not in str(events)


def test_a_bulk_upload_records_each_row_that_changed(console: Console) -> None:
    api = ApiClient(console.harness, make_key(console.harness.names, "licensing", ALL_WRITE))
    rows = [licence(external_id=f"LIC-B{i}", phone=f"+35191200008{i}") for i in range(3)]

    assert api.call("POST", "/api/v1/obligations:bulk", rows).status == 200
    assert api.call("POST", "/api/v1/obligations:bulk", rows).status == 200  # unchanged

    for i in range(3):
        events = audit_of(console, f"+35191200008{i}")["events"]
        assert [(e["actor"], e["detail"]) for e in events] == [
            ("apikey:licensing", f"obligation LIC-B{i}")
        ]
