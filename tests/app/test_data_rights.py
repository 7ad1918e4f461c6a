"""Residents' data rights, done when: erasure leaves no trace of the resident's phone number or
messages in any table or the media bucket, and the export holds every item.

Everything runs through the real app against moto and the WhatsApp simulator: a resident's
history is made by the webhook → inbound worker → sender (consent, a problem report with a
photo the media fetcher keeps in the bucket, a hand-off, an agent's reply and note), the
back-office API (an obligation with its reminders, a notification), and the senders' pacing.
Then every table of the stage is scanned in full and every object version of the bucket read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib.cli import main
from chalicelib.settings import PSEUDONYM_KEY_VARIABLE, get_settings
from chalicelib.wiring import container
from tests.app.api_v1_support import ALL_WRITE, ApiClient, document_ready, licence, make_key
from tests.app.conftest import REGION, AppHarness
from tests.app.test_console_api import FINANCE, SUPERVISOR, Console, console  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")

PSEUDONYM_KEY = "data-rights-test-pseudonym-key-0123456789"
ANN, ANN_NAME = "351915550101", "Ana Apagada"
BOB, BOB_NAME = "351915550202", "Bruno Guardado"
DESCRIPTION = "Buraco gigantesco junto ao quiosque azul"
AGENT_TEXT = "Olá Ana, vamos tapar o buraco amanhã"
NOTE_TEXT = "Ligar à Ana sobre o quiosque azul"
BOB_TEXT = "Quero saber do contentor verde avariado"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class Phone:
    """A resident's phone on the simulator; each message goes through the app's webhook and
    workers, and the bodies sent back are returned."""

    def __init__(self, harness: AppHarness, wa_id: str, name: str) -> None:
        self.harness, self.wa_id, self.name = harness, wa_id, name
        self.seen = 0

    def send(self, **spec: Any) -> list[dict[str, Any]]:
        harness = self.harness
        wamid = harness.simulator.resident_says(self.wa_id, name=self.name, **spec)
        delivery = next(d for d in harness.simulator.webhook_log() if d["wamid"] == wamid)
        assert harness.post_webhook(delivery["payload"]).status_code == 200
        harness.drain()
        return self.received()

    def received(self) -> list[dict[str, Any]]:
        bodies = [
            m["body"] for m in self.harness.simulator.outbox() if m["to"].lstrip("+") == self.wa_id
        ]
        new, self.seen = bodies[self.seen :], len(bodies)
        return new

    def tap(self, reply_id: str, offered: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for body in reversed(offered):
            if reply_id in option_ids(body):
                kind = "button_reply" if body["interactive"]["type"] == "button" else "list_reply"
                return self.send(type=kind, reply_id=reply_id, title=reply_id)
        raise AssertionError(f"{reply_id} was not offered in {offered}")


def option_ids(body: dict[str, Any]) -> list[str]:
    if body.get("type") != "interactive":
        return []
    action = body["interactive"]["action"]
    if "buttons" in action:
        return [button["reply"]["id"] for button in action["buttons"]]
    return [row["id"] for section in action["sections"] for row in section["rows"]]


@pytest.fixture
def rights(console: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:  # noqa: F811
    """The console's stage, with the pseudonym key the deployment would give it."""
    monkeypatch.setenv(PSEUDONYM_KEY_VARIABLE, PSEUDONYM_KEY)
    get_settings.cache_clear()
    container.cache_clear()
    yield console
    get_settings.cache_clear()
    container.cache_clear()


def make_history(agents: Console) -> dict[str, Any]:
    """Ann's whole history through the app; Bob's smaller one beside it."""
    harness = agents.harness
    ann = Phone(harness, ANN, ANN_NAME)
    [consent] = ann.send(type="text", text="Olá bom dia")
    _, menu = ann.tap("consent:accept", [consent])
    [categories] = ann.tap("report_problem", [menu])
    ann.tap("choice:pothole", [categories])
    ann.send(type="text", text=DESCRIPTION)
    ann.send(type="image", image_bytes=PHOTO, mime_type="image/png")
    _created, *after = ann.send(
        type="location", latitude=38.7223456, longitude=-9.1393456, location_name="Escola"
    )
    for _ in range(3):
        assert (
            harness.run_worker("media_fetcher", harness.names.media_queue)["batchItemFailures"]
            == []
        )
    ann.tap("human", after)

    rows = agents.as_agent(SUPERVISOR, "GET", "/inbox?view=all").body["items"]
    [row] = [r for r in rows if r["phone"] == ANN]
    path = f"/conversations/{row['id']}"
    assert (
        agents.as_agent(SUPERVISOR, "POST", f"{path}/messages", {"text": AGENT_TEXT}).status == 201
    )
    assert agents.as_agent(SUPERVISOR, "POST", f"{path}/notes", {"text": NOTE_TEXT}).status == 201
    harness.drain()

    api = ApiClient(harness, make_key(harness.names, "registry", ALL_WRITE))
    assert api.put_obligation("OB-ANN", licence(phone=f"+{ANN}")).status in (200, 201)
    assert (
        api.call("POST", "/api/v1/notifications", document_ready("N-ANN", f"+{ANN}")).status == 202
    )
    assert api.put_obligation("OB-BOB", licence(phone=f"+{BOB}")).status in (200, 201)
    # An obligation registered to Ann, one reminder of it sent, then the back office corrects
    # the phone to Bob's (same id and due date): the sent reminder stays, and must not keep
    # Ann's number in its copy of the obligation.
    due = (datetime.now(UTC).date() + timedelta(days=120)).isoformat()
    assert api.put_obligation("OB-MOVED", licence(phone=f"+{ANN}", due=due)).status == 201
    deps = container()
    first = deps.obligations.reminders_of("OB-MOVED")[0]
    assert deps.reminder_schedule.claim(first, "wamid.moved-reminder", datetime.now(UTC))
    assert api.put_obligation("OB-MOVED", licence(phone=f"+{BOB}", due=due)).status == 200

    bob = Phone(harness, BOB, BOB_NAME)
    [consent] = bob.send(type="text", text="Boa tarde")
    bob.tap("consent:accept", [consent])
    bob.send(type="text", text=BOB_TEXT)
    return {"conversation": row["id"]}


# --- reading the emulator ---------------------------------------------------------------------


def stage_tables(harness: AppHarness) -> list[str]:
    prefix = harness.names.table("residents").removesuffix("residents")
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    names: list[str] = []
    for page in dynamodb.get_paginator("list_tables").paginate():
        names += [name for name in page["TableNames"] if name.startswith(prefix)]
    assert len(names) >= 13, names
    return sorted(names)


def every_item(harness: AppHarness) -> dict[str, list[str]]:
    """Every item of every table of the stage, each as JSON text (a full Scan)."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    items: dict[str, list[str]] = {}
    for table in stage_tables(harness):
        logical = table.removeprefix(harness.names.table("residents").removesuffix("residents"))
        items[logical] = [
            json.dumps(item, ensure_ascii=False, sort_keys=True)
            for page in dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        ]
    return items


def media_bucket(harness: AppHarness) -> str:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    outputs = cloudformation.describe_stacks(StackName=harness.names.stack)["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")


def every_object(harness: AppHarness) -> dict[str, bytes]:
    """Every version of every object in the media bucket (and every delete marker's key)."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = media_bucket(harness)
    found: dict[str, bytes] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            found[f"{version['Key']}@{version['VersionId']}"] = body["Body"].read()
        for marker in page.get("DeleteMarkers", []):
            found[f"{marker['Key']}@{marker['VersionId']}(deleted)"] = b""
    return found


def rounded_location(item: dict[str, Any]) -> tuple[float, float]:
    """A ticket item's (latitude, longitude), as the table holds them (a map of numbers)."""
    location = item["location"]["M"]
    return (float(location["latitude"]["N"]), float(location["longitude"]["N"]))


def traces(text: str, digits: str, words: list[str]) -> list[str]:
    lowered = text.lower()
    forms = [digits, f"+{digits}", f"wa:{digits}"] + [w.lower() for w in words]
    return [form for form in forms if form.lower() in lowered]


def about(items: dict[str, list[str]], marks: list[str]) -> dict[str, list[str]]:
    """Per table, the items naming any of `marks` (a phone form, a conversation id)."""
    found = {
        table: [row for row in rows if any(mark in row for mark in marks)]
        for table, rows in items.items()
    }
    return {table: rows for table, rows in found.items() if rows}


# --- the test ---------------------------------------------------------------------------------


def test_export_holds_every_item_and_erasure_leaves_no_trace(rights: Console) -> None:
    harness = rights.harness
    history = make_history(rights)
    before = every_item(harness)
    objects_before = every_object(harness)
    bob_before = about(before, [BOB])
    assert any(f"residents/wa:{ANN}/" in key for key in objects_before), "the photo is kept"
    # Retention: the resident's messages, conversations and tickets carry their TTL.
    for table in ("messages", "conversations", "tickets"):
        rows = [json.loads(row) for row in about(before, [f"wa:{ANN}"])[table]]
        assert rows and all("expires_at" in row for row in rows), table

    # The export: supervisors only; every item found by the scan is in it.
    assert rights.as_agent(FINANCE, "GET", f"/residents/{ANN}/export").status == 403
    bad = rights.as_agent(SUPERVISOR, "GET", "/residents/not-a-phone/export")
    assert (bad.status, bad.body["error"]["field"]) == (422, "phone")
    assert rights.as_agent(SUPERVISOR, "GET", "/residents/351915559999/export").status == 404
    nobody = rights.as_agent(
        SUPERVISOR, "POST", "/residents/351915559999/erase", {"confirm": "351915559999"}
    )
    assert nobody.status == 404
    exported = rights.as_agent(SUPERVISOR, "GET", f"/residents/%2B{ANN}/export")
    assert exported.status == 200, exported.body
    assert exported.headers["content-disposition"].startswith(
        'attachment; filename="resident-export-35'
    )
    assert exported.headers["cache-control"] == "no-store"
    document = exported.body
    conversation_ids = [c["id"] for c in document["conversations"]]
    assert history["conversation"] in conversation_ids
    found = about(before, [ANN, *conversation_ids])
    found.pop("audit", None)  # keyed by the pseudonym: never the number
    assert {table: len(rows) for table, rows in found.items()} == {
        table: n for table, n in document["counts"].items() if table != "media"
    }
    assert document["counts"]["media"] == len(
        [key for key in objects_before if f"residents/wa:{ANN}/" in key]
    )
    assert {"residents", "conversations", "messages", "search", "tickets", "obligations"} <= set(
        document["counts"]
    )
    assert {"reminders", "notifications", "pacing", "media"} <= set(document["counts"])
    for section in ("messages", "tickets", "obligations", "reminders", "notifications"):
        assert len(document[section]) == document["counts"][section], section
    assert BOB not in json.dumps(document)
    photo = document["tickets"][0]["attachments"][0]
    assert photo["url"].startswith("http")

    # The erasure: supervisors only, with the number typed again. The supervisor took Ann's
    # conversation by answering it: it counts in their workload until it is erased.
    assert container().agents.get(SUPERVISOR).open_count == 1
    assert (
        rights.as_agent(FINANCE, "POST", f"/residents/{ANN}/erase", {"confirm": ANN}).status == 403
    )
    wrong = rights.as_agent(SUPERVISOR, "POST", f"/residents/{ANN}/erase", {"confirm": BOB})
    assert (wrong.status, wrong.body["error"]["field"]) == (422, "confirm")
    erased = rights.as_agent(SUPERVISOR, "POST", f"/residents/{ANN}/erase", {"confirm": f"+{ANN}"})
    assert erased.status == 200, erased.body
    assert erased.body["already_erased"] is False
    assert erased.body["erased"] == document["counts"]
    assert ANN not in erased.body["resident_ref"]
    assert container().agents.get(SUPERVISOR).open_count == 0

    # No trace: every item of every table, every version of every object.
    after = every_item(harness)
    words = [DESCRIPTION, AGENT_TEXT, NOTE_TEXT, "gigantesco", "quiosque", "Apagada", "Escola"]
    for table, rows in after.items():
        for row in rows:
            assert traces(row, ANN, words) == [], (table, row)
    for key, content in every_object(harness).items():
        assert traces(key, ANN, words) == [], key
        assert content != PHOTO
    # What is left: the anonymous ticket and the erasure record.
    [ticket] = [json.loads(row) for row in after["tickets"] if '"erased"' in row]
    assert ticket["category"] == {"S": "pothole"} and "description" not in ticket
    assert rounded_location(ticket) == (38.722, -9.139)  # the street, not the house
    # Bob is untouched.
    assert about(after, [BOB]) == bob_before

    # Again: nothing to do, and it says when it was done.
    again = rights.as_agent(SUPERVISOR, "POST", f"/residents/{ANN}/erase", {"confirm": ANN})
    assert again.status == 200
    assert again.body["already_erased"] is True
    assert again.body["erased_at"] == erased.body["erased_at"]
    assert rights.as_agent(SUPERVISOR, "GET", f"/residents/{ANN}/export").status == 404
    audit = rights.as_agent(SUPERVISOR, "GET", f"/audit?phone={ANN}")
    assert audit.status == 200, audit.body
    actions = [event["action"] for event in audit.body["events"]]
    assert "exported" in actions and "messaged" in actions
    [erasure] = [event for event in audit.body["events"] if event["action"] == "erased"]
    assert erasure["counts"] == erased.body["erased"]
    # Who did what and when stays; what it was about (a back office's ids) goes.
    assert [event["detail"] for event in audit.body["events"]] == [None] * len(actions)

    # The command line, on the same stage: export then erase Bob.
    stage = harness.names.stage
    assert main(["resident", "export", "--phone", f"+{BOB}", "--stage", stage]) == 0
    assert main(["resident", "erase", "--phone", f"+{BOB}", "--yes", "--stage", stage]) == 0
    for table, rows in every_item(harness).items():
        for row in rows:
            assert traces(row, BOB, [BOB_TEXT, "Guardado"]) == [], (table, row)


def test_the_command_line_exports_to_a_file_and_asks_before_erasing(
    rights: Console,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    harness = rights.harness
    bob = Phone(harness, BOB, BOB_NAME)
    [consent] = bob.send(type="text", text="Boa tarde")
    bob.tap("consent:accept", [consent])
    stage = harness.names.stage
    out = tmp_path / "bob.json"

    assert (
        main(["resident", "export", "--phone", f"+{BOB}", "--out", str(out), "--stage", stage]) == 0
    )
    assert json.loads(out.read_text())["resident"]["wa_id"] == BOB
    assert oct(out.stat().st_mode & 0o777) == "0o600"

    monkeypatch.setattr("builtins.input", lambda _prompt: "+351 915 550 203")
    assert main(["resident", "erase", "--phone", f"+{BOB}", "--stage", stage]) == 2
    assert "does not match" in capsys.readouterr().err
    assert any(BOB in row for row in every_item(harness)["residents"])

    monkeypatch.setattr("builtins.input", lambda _prompt: "+351 915 550 202")
    assert main(["resident", "erase", "--phone", f"+{BOB}", "--stage", stage]) == 0
    assert f"erased +{BOB}" in capsys.readouterr().out
    assert main(["resident", "erase", "--phone", BOB, "--yes", "--stage", stage]) == 0
    assert "erased already" in capsys.readouterr().out
    assert main(["resident", "export", "--phone", BOB, "--stage", stage]) == 1
    assert "nothing is kept" in capsys.readouterr().err
    assert main(["resident", "export", "--phone", "not a phone", "--stage", stage]) == 2
    assert "--phone" in capsys.readouterr().err
