"""/api/v1 through the real app (chalice.test.Client), DynamoDB and SQS on moto: every endpoint,
its auth failures, bad input field by field, idempotency, and delivery status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.domain.messages import DeliveryStatus
from chalicelib.http import api_v1
from chalicelib.wiring import container
from tests.app.api_v1_support import (
    ALL_WRITE,
    NOW,
    ApiClient,
    document_ready,
    licence,
    make_key,
    revoke_key,
)
from tests.app.conftest import REGION, AppHarness


@pytest.fixture
def api(harness: AppHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    monkeypatch.setattr(api_v1, "_now", lambda: NOW)
    yield ApiClient(harness, make_key(harness.names, "tax-office", ALL_WRITE))


# --- authentication and scopes ----------------------------------------------------------------

ENDPOINTS = [
    ("PUT", "/api/v1/obligations/LIC-1", licence()),
    ("GET", "/api/v1/obligations/LIC-1", None),
    ("POST", "/api/v1/obligations/LIC-1/cancel", None),
    ("POST", "/api/v1/obligations/LIC-1/renewed", None),
    ("POST", "/api/v1/obligations:bulk", [licence(external_id="LIC-1")]),
    ("POST", "/api/v1/notifications", document_ready("N-1")),
    ("GET", "/api/v1/notifications/N-1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_refuses_a_missing_or_unknown_key(
    api: ApiClient, method: str, path: str, body: object
) -> None:
    revoked = make_key(api.harness.names, "old-system", ALL_WRITE | {"status:read"})
    revoke_key(api.harness.names, "old-system")
    for key, headers in [
        (None, {}),
        (None, {"Authorization": "Basic dXNlcjpwYXNz"}),
        (None, {"Authorization": "Bearer"}),
        ("cck_not-a-key-we-ever-made", {}),
        ("not-even-our-format", {}),
        (revoked, {}),
    ]:
        reply = api.call(method, path, body, key=key, headers=headers)
        assert reply.status == 401, (key, headers)
        assert reply.body["error"]["code"] == "unauthorized"
        assert reply.headers["www-authenticate"].startswith("Bearer")
    assert api.get_obligation("LIC-1").status == 404  # nothing was written


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_needs_its_scope(
    api: ApiClient, method: str, path: str, body: object
) -> None:
    # A key for the other kind of writing only.
    scope = "notifications:write" if "obligations" in path else "reminders:write"
    other = make_key(api.harness.names, "other-office", frozenset({scope}))

    reply = api.call(method, path, body, key=other)

    assert reply.status == 403
    assert reply.body["error"]["code"] == "forbidden"
    assert "lacks the scope" in reply.body["error"]["message"]


def test_a_status_reader_reads_but_cannot_write(api: ApiClient) -> None:
    reader = make_key(api.harness.names, "dashboard", frozenset({"status:read"}))
    assert api.put_obligation("LIC-R", licence()).status == 201
    assert api.call("POST", "/api/v1/notifications", document_ready("N-R")).status == 202

    assert api.get_obligation("LIC-R", key=reader).status == 200
    assert api.call("GET", "/api/v1/notifications/N-R", key=reader).status == 200
    assert api.put_obligation("LIC-R", licence(), key=reader).status == 403
    assert api.call("POST", "/api/v1/obligations/LIC-R/cancel", key=reader).status == 403


def test_the_openapi_document_needs_no_key(api: ApiClient) -> None:
    reply = api.call("GET", "/api/v1/openapi.json", key=None)

    assert reply.status == 200
    assert reply.body["openapi"] == "3.1.0"
    assert "driving_licence" in str(reply.body["components"]["schemas"]["ObligationInput"])


def test_an_unknown_collection_action_is_a_json_404(api: ApiClient) -> None:
    reply = api.call("POST", "/api/v1/obligations:purge", [])

    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


# --- obligations ------------------------------------------------------------------------------


def test_registering_an_obligation_plans_its_reminders(api: ApiClient) -> None:
    reply = api.put_obligation("LIC-2027-1", licence(phone="912 000 002"))

    assert reply.status == 201
    assert reply.headers["location"] == "/api/v1/obligations/LIC-2027-1"
    body = reply.body
    assert body["phone"] == "+351912000002"  # E.164, Portugal by default
    assert body["language"] == "pt"  # a stranger: the municipality's default
    assert body["state"] == "active"
    assert body["registered_by"] == "tax-office"
    assert [(r["offset_days"], r["send_at"], r["status"]) for r in body["reminders"]] == [
        (-42, "2026-12-04T09:00:00Z", "scheduled"),  # 09:00 in Lisbon (UTC+0 in winter)
        (-7, "2027-01-08T09:00:00Z", "scheduled"),
    ]
    assert api.get_obligation("LIC-2027-1").body == body


def test_registering_the_same_obligation_again_changes_nothing(api: ApiClient) -> None:
    first = api.put_obligation("LIC-SAME", licence())
    again = api.put_obligation("LIC-SAME", licence())

    assert (first.status, again.status) == (201, 200)
    assert again.body == first.body  # same times, same updated_at: nothing was rewritten


def test_a_new_due_date_plans_the_reminders_again(api: ApiClient) -> None:
    api.put_obligation("LIC-MOVE", licence(due="2027-01-15"))

    reply = api.put_obligation("LIC-MOVE", licence(due="2027-03-01"))

    assert reply.status == 200
    assert reply.body["due_date"] == "2027-03-01"
    assert [(r["offset_days"], r["send_at"]) for r in reply.body["reminders"]] == [
        (-42, "2027-01-18T09:00:00Z"),
        (-7, "2027-02-22T09:00:00Z"),
    ]
    stored = stage_tables(api.harness.names, REGION).reminders.get("rem|LIC-MOVE|-42")
    assert stored.due_slot == "2027-01-18T09:00"  # re-slotted in the due index


def test_the_residents_own_language_is_used_when_none_is_given(api: ApiClient) -> None:
    residents = container().residents
    residents.set_opted_out("wa:351912000010", False, NOW - timedelta(days=1))
    tables = stage_tables(api.harness.names, REGION)
    resident = tables.residents.get("wa:351912000010")
    resident.update(actions=[tables.residents.language.set("es")])

    spanish = api.put_obligation("LIC-ES", licence(phone="+351912000010"))
    # payment_due is not approved in Arabic: an Arabic speaker gets the default instead.
    resident.update(actions=[tables.residents.language.set("ar")])
    tax = {
        "phone": "+351912000010",
        "kind": "tax_payment",
        "due_date": "2027-01-15",
        "params": {"name": "Ana", "amount": "12,50 €", "payment_url": "https://e.org/p"},
    }
    fallback = api.put_obligation("TAX-AR", tax)

    assert (spanish.body["language"], fallback.body["language"]) == ("es", "pt")


def test_cancelling_skips_the_pending_reminders(api: ApiClient) -> None:
    api.put_obligation("LIC-CANCEL", licence())

    first = api.call("POST", "/api/v1/obligations/LIC-CANCEL/cancel")
    again = api.call("POST", "/api/v1/obligations/LIC-CANCEL/cancel")

    assert first.status == again.status == 200
    assert first.body["state"] == "cancelled"
    assert {(r["status"], r["reason"]) for r in first.body["reminders"]} == {
        ("skipped", "cancelled")
    }
    assert again.body == first.body
    stored = stage_tables(api.harness.names, REGION).reminders.get("rem|LIC-CANCEL|-7")
    assert stored.due_slot is None  # out of the due index


def test_renewing_skips_the_pending_reminders_and_a_new_due_date_revives_it(
    api: ApiClient,
) -> None:
    api.put_obligation("LIC-RENEW", licence(due="2027-01-15"))

    renewed = api.call("POST", "/api/v1/obligations/LIC-RENEW/renewed")
    next_year = api.put_obligation("LIC-RENEW", licence(due="2032-01-15"))

    assert renewed.body["state"] == "renewed"
    assert {r["reason"] for r in renewed.body["reminders"]} == {"renewed"}
    assert next_year.status == 200
    assert next_year.body["state"] == "active"
    assert {r["status"] for r in next_year.body["reminders"]} == {"scheduled"}


@pytest.mark.parametrize("action", ["cancel", "renewed"])
def test_stopping_an_unknown_obligation_is_a_404(api: ApiClient, action: str) -> None:
    reply = api.call("POST", f"/api/v1/obligations/NOPE/{action}")

    assert reply.status == 404
    assert reply.body["error"] == {
        "code": "not_found",
        "message": "no obligation with external_id 'NOPE'",
        "field": "external_id",
        "reason": "is not known",
    }


def test_an_unknown_obligation_is_a_404(api: ApiClient) -> None:
    reply = api.get_obligation("NEVER-SEEN")

    assert reply.status == 404
    assert reply.body["error"]["field"] == "external_id"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/obligations/{}",
        "/api/v1/obligations/{}/cancel",
        "/api/v1/obligations/{}/renewed",
        "/api/v1/notifications/{}",
    ],
)
def test_an_id_that_could_never_exist_is_a_404_not_a_lookup(api: ApiClient, path: str) -> None:
    # moto, unlike DynamoDB, takes a key over 2 KB: count the reads instead.
    operations: list[str] = []
    container().tables.connection.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
    )
    for external_id in ["x" * 3000, "%C3%A7%20a"]:
        method = "GET" if path.count("/") == 4 else "POST"
        assert api.call(method, path.format(external_id)).status == 404
    assert operations == ["GetItem", "GetItem"]  # the API key's, once per request


BAD_OBLIGATIONS = [
    # (what is sent, status, field, code)
    (licence(phone="12"), 422, "phone", "invalid_phone"),
    (licence(phone="+999 123"), 422, "phone", "invalid_phone"),
    (licence(phone=351912000001), 400, "phone", "invalid"),
    ({**licence(), "phone": None}, 400, "phone", "missing"),
    (licence(kind="boat_licence"), 422, "kind", "unknown_kind"),
    (licence(due="15/01/2027"), 400, "due_date", "invalid"),
    (licence(due="2027-02-30"), 400, "due_date", "invalid"),
    (licence(due="1999-12-31"), 422, "due_date", "out_of_range"),
    (licence(language="fr"), 422, "language", "unsupported_language"),
    (licence(language="pt-PT"), 422, "language", "unsupported_language"),
    (licence(language=["pt"]), 400, "language", "invalid"),
    (licence(params={"name": "Ana"}), 422, "params.renewal_url", "missing_parameter"),
    (licence(params={"name": "Ana\nSilva", "renewal_url": "u"}), 422, "params.name", None),
    (licence(params={"name": "   ", "renewal_url": "u"}), 422, "params.name", "blank"),
    (licence(params={"name": 7, "renewal_url": "u"}), 400, "params.name", "invalid"),
    (licence(params=["Ana"]), 400, "params", "invalid"),
    (licence(params={"Name!": "x", "name": "A", "renewal_url": "u"}), 400, "params.Name!", None),
    (licence(due_date_typo="2027-01-01"), 400, "due_date_typo", "unknown_field"),
    (licence(external_id="OTHER"), 400, "external_id", "invalid"),
    ([licence()], 400, "body", "invalid"),
]


@pytest.mark.parametrize(("body", "status", "field", "code"), BAD_OBLIGATIONS)
def test_bad_input_names_the_field_and_writes_nothing(
    api: ApiClient, body: object, status: int, field: str, code: str | None
) -> None:
    reply = api.put_obligation("LIC-BAD", body)

    assert reply.status == status, reply.body
    assert reply.body["error"]["field"] == field
    if code:
        assert reply.body["error"]["code"] == code
    assert reply.body["error"]["reason"]
    assert reply.body["errors"][0]["field"] == field
    assert api.get_obligation("LIC-BAD").status == 404


def test_a_template_not_approved_in_the_language_is_refused(api: ApiClient) -> None:
    tax = {
        "phone": "+351912000001",
        "kind": "tax_payment",
        "due_date": "2027-01-15",
        "language": "ar",
        "params": {"name": "Ana", "amount": "12 €", "payment_url": "https://e.org/p"},
    }

    reply = api.put_obligation("TAX-1", tax)

    assert reply.status == 422
    assert reply.body["error"]["code"] == "template_not_approved"
    assert reply.body["error"]["field"] == "language"
    assert "payment_due" in reply.body["error"]["reason"]


def test_every_problem_is_reported_at_once(api: ApiClient) -> None:
    reply = api.put_obligation("LIC-MANY", {"phone": "1", "kind": "boat", "due_date": "soon"})

    assert reply.status == 400  # malformed wins over unacceptable
    assert reply.body["error"]["field"] == "due_date"  # the first malformed one
    assert [e["field"] for e in reply.body["errors"]] == ["phone", "kind", "due_date"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "is required"), (b"{not json", "is not valid JSON"), (b"\xff\xfe", "is not UTF-8")],
)
def test_a_body_that_is_not_json_is_a_400(api: ApiClient, raw: bytes, reason: str) -> None:
    reply = api.put_obligation("LIC-RAW", None, raw=raw)

    assert reply.status == 400
    assert reply.body["error"]["field"] == "body"
    assert reply.body["error"]["reason"].startswith(reason)


def test_a_json_body_is_read_whatever_its_content_type(api: ApiClient) -> None:
    reply = api.put_obligation(
        "LIC-FORM", licence(), content_type="application/x-www-form-urlencoded"
    )

    assert reply.status == 201


def test_an_external_id_outside_the_allowed_characters_is_a_400(api: ApiClient) -> None:
    reply = api.put_obligation("a%7Cb", licence())  # "a|b"

    assert reply.status == 400
    assert reply.body["error"]["field"] == "external_id"


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_json_keeps_the_good_rows_and_reports_the_bad_ones(api: ApiClient) -> None:
    rows = [
        licence(external_id="B-1", phone="+351912100001"),
        licence(external_id="B-2", phone="nope"),
        licence(external_id="B-3", phone="+351912100003", kind="boat", due="x"),
        "not an object",
        licence(external_id="B-1", phone="+351912100001"),
        licence(external_id="B-6", phone="+351912100006"),
    ]

    reply = api.call("POST", "/api/v1/obligations:bulk", rows)

    assert reply.status == 200
    assert (reply.body["accepted"], reply.body["created"]) == (2, 2)
    rejected = {r["row"]: r for r in reply.body["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 5]
    assert [e["field"] for e in rejected[2]["errors"]] == ["phone"]
    assert {e["field"] for e in rejected[3]["errors"]} == {"kind", "due_date"}
    assert rejected[4] == {
        "row": 4,
        "external_id": None,
        "errors": [
            {
                "field": "row",
                "code": "invalid",
                "reason": "must be a JSON object describing an obligation",
            }
        ],
    }
    assert rejected[5]["errors"][0]["code"] == "duplicate"
    assert api.get_obligation("B-1").status == api.get_obligation("B-6").status == 200
    assert api.get_obligation("B-2").status == api.get_obligation("B-3").status == 404

    again = api.call("POST", "/api/v1/obligations:bulk", [rows[0], rows[5]])
    assert (again.body["accepted"], again.body["unchanged"]) == (2, 2)


def test_bulk_csv_with_parameter_columns(api: ApiClient) -> None:
    csv_text = (
        "\ufeffexternal_id;phone;kind;due_date;language;name;renewal_url;amount;payment_url\n"
        "C-1;912200001;driving_licence;2027-01-15;en;Ana;https://e.org/r;;\n"
        "C-2;912200002;tax_payment;2027-01-15;;Rui;;30 €;https://e.org/p\n"
        "C-3;912200003;driving_licence;2027-01-15;;Eva;;;\n"
        "C-4;912200004;driving_licence;2027-01-15;;Eva;u;;;;;;\n"
        "\n"
    )

    reply = api.call(
        "POST", "/api/v1/obligations:bulk", raw=csv_text, content_type="text/csv; charset=utf-8"
    )

    assert reply.status == 200
    assert reply.body["accepted"] == 2
    assert [(r["row"], r["errors"][0]["field"]) for r in reply.body["rejected"]] == [
        (3, "params.renewal_url"),
        (4, "row"),
    ]
    c1 = api.get_obligation("C-1").body
    assert (c1["language"], c1["params"]) == (
        "en",
        {"name": "Ana", "renewal_url": "https://e.org/r"},
    )
    assert api.get_obligation("C-2").body["params"]["amount"] == "30 €"


@pytest.mark.parametrize(
    ("csv_text", "field"),
    [
        ("", "body"),
        ("phone,kind,due_date\n912200001,driving_licence,2027-01-15\n", "header"),
        ("external_id,phone,kind,due_date,name,name\n", "header"),
    ],
)
def test_a_csv_file_that_cannot_be_read_is_a_400(api: ApiClient, csv_text: str, field: str) -> None:
    reply = api.call("POST", "/api/v1/obligations:bulk", raw=csv_text, content_type="text/csv")

    assert reply.status == 400
    assert reply.body["error"]["field"] == field


def test_bulk_body_that_is_not_an_array_is_a_400(api: ApiClient) -> None:
    reply = api.call("POST", "/api/v1/obligations:bulk", licence(external_id="X"))

    assert reply.status == 400
    assert reply.body["error"]["field"] == "body"


def test_hundreds_of_rows_in_one_upload_with_few_requests_per_row(api: ApiClient) -> None:
    # Thousands are covered in memory (tests/services); moto takes ~0.1 s per transaction.
    rows = [
        licence(external_id=f"K-{i}", phone=f"+3519123{i:05d}", language="pt") for i in range(300)
    ]
    client = container().tables.connection.client
    operations: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: operations.append(model.name)
    )

    reply = api.call("POST", "/api/v1/obligations:bulk", rows)

    assert (reply.status, reply.body["accepted"], reply.body["rejected"]) == (200, 300, [])
    # New obligations with a language: one read of the obligation, one transaction each; their
    # audit entries (docs/audit.md) in batches of 25.
    assert "Scan" not in operations
    assert sorted(set(operations)) == ["BatchWriteItem", "GetItem", "TransactWriteItems"]
    assert operations.count("TransactWriteItems") == 300
    assert operations.count("BatchWriteItem") == 300 // 25
    assert len(operations) == 1 + 2 * 300 + 300 // 25  # 1: the API key


# --- notifications ----------------------------------------------------------------------------


def test_a_notification_is_queued_now_inside_the_send_window(api: ApiClient) -> None:
    api.harness.simulator.templates = {"document_ready": ["pt_PT", "es", "en", "ar"]}

    reply = api.call("POST", "/api/v1/notifications", document_ready("N-NOW"))

    assert reply.status == 202
    assert (reply.body["status"], reply.body["message_id"]) == ("queued", "ntf|N-NOW")
    assert reply.body["send_at"] == "2026-11-23T10:30:00Z"

    api.harness.run_worker("bulk_sender", api.harness.names.outbound_bulk_queue)

    status = api.call("GET", "/api/v1/notifications/N-NOW").body
    assert status["status"] == "sent"
    assert status["status_at"]
    (sent,) = [m for m in api.harness.simulator.outbox() if m["to"] == "351912000001"]
    assert sent["type"] == "template"


def test_the_same_notification_again_sends_nothing(api: ApiClient) -> None:
    first = api.call("POST", "/api/v1/notifications", document_ready("N-TWICE"))
    changed = document_ready("N-TWICE", params={"name": "B", "document": "x", "office": "y"})
    again = api.call("POST", "/api/v1/notifications", changed)

    assert (first.status, again.status) == (202, 200)
    assert again.body == first.body
    bulk = api.harness.receive(api.harness.names.outbound_bulk_queue)
    assert len(bulk) == 1


def test_a_notification_can_be_scheduled(api: ApiClient) -> None:
    later = document_ready("N-LATER", send_at="2026-11-25T15:45:00+01:00")

    reply = api.call("POST", "/api/v1/notifications", later)

    assert reply.status == 202
    assert (reply.body["status"], reply.body["send_at"]) == ("scheduled", "2026-11-25T14:45:00Z")
    assert api.harness.receive(api.harness.names.outbound_bulk_queue) == []
    item = stage_tables(api.harness.names, REGION).notifications.get("N-LATER")
    assert item.due_slot == "2026-11-25T14:45"


def test_a_notification_asked_for_at_night_waits_for_the_window(api: ApiClient) -> None:
    night = document_ready("N-NIGHT", send_at="2026-11-23T23:10:00Z")

    reply = api.call("POST", "/api/v1/notifications", night)

    assert (reply.body["status"], reply.body["send_at"]) == ("scheduled", "2026-11-24T09:00:00Z")


def test_a_notification_to_an_opted_out_resident_is_reported_skipped(api: ApiClient) -> None:
    container().residents.set_opted_out("wa:351912000099", True, NOW - timedelta(days=1))
    api.call("POST", "/api/v1/notifications", document_ready("N-OUT", phone="+351912000099"))

    api.harness.run_worker("bulk_sender", api.harness.names.outbound_bulk_queue)

    status = api.call("GET", "/api/v1/notifications/N-OUT").body
    assert (status["status"], status["reason"]) == ("skipped", "opted_out")
    assert container().messages.get("ntf|N-OUT").status is DeliveryStatus.SKIPPED


BAD_NOTIFICATIONS = [
    (document_ready("N-B", kind="parking_fine"), 422, "kind"),
    (document_ready("N-B", params={"name": "Ana"}), 422, "params.document"),
    (document_ready("N-B", send_at="2026-11-25T15:45:00"), 400, "send_at"),
    (document_ready("N-B", send_at="tomorrow"), 400, "send_at"),
    (document_ready("N-B", send_at="2028-01-01T00:00:00Z"), 422, "send_at"),
    (document_ready("N-B", phone="+351 1"), 422, "phone"),
    ({k: v for k, v in document_ready("N-B").items() if k != "external_id"}, 400, "external_id"),
    (document_ready("N B"), 400, "external_id"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_NOTIFICATIONS)
def test_a_bad_notification_names_the_field(
    api: ApiClient, body: dict, status: int, field: str
) -> None:
    reply = api.call("POST", "/api/v1/notifications", body)

    assert reply.status == status, reply.body
    assert reply.body["error"]["field"] == field
    assert api.call("GET", "/api/v1/notifications/N-B").status == 404


def test_an_unknown_notification_is_a_404(api: ApiClient) -> None:
    assert api.call("GET", "/api/v1/notifications/NOPE").status == 404


# --- delivery status of reminders -------------------------------------------------------------


def test_a_reminder_reports_what_the_sender_did(api: ApiClient) -> None:
    from chalicelib.services.run_reminders import run_reminders

    api.harness.simulator.templates = {"licence_renewal": ["pt_PT", "es", "en", "ar"]}
    # Due in five weeks: the six-week reminder is late, so it goes out at the next run.
    api.put_obligation("LIC-SEND", licence(due="2026-12-28"))
    deps = container()
    run_reminders(
        NOW + timedelta(minutes=15),
        definition=deps.definition,
        schedule=deps.reminder_schedule,
        notifications=deps.notification_store,
        obligations=deps.obligations,
        messages=deps.messages,
        outbound=deps.outbound_queue,
    )
    queued = api.get_obligation("LIC-SEND").body["reminders"]
    api.harness.run_worker("bulk_sender", api.harness.names.outbound_bulk_queue)
    sent = api.get_obligation("LIC-SEND").body["reminders"]

    assert [(r["offset_days"], r["status"]) for r in queued] == [(-42, "queued"), (-7, "scheduled")]
    assert [(r["offset_days"], r["status"]) for r in sent] == [(-42, "sent"), (-7, "scheduled")]
    assert sent[0]["message_id"]
