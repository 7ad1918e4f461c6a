"""A resident subscribes to a topic through the bot: signed webhooks in, the real handlers,
queues and tables (moto), the simulated Graph API out; the stored resident shows the choice
with the topics' text version and the time, and the consent history records it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from chalicelib.domain.residents import ConsentAction
from chalicelib.wiring import container
from tests.app.conftest import PHONE_NUMBER_ID, AppHarness
from tests.webhook_fixtures import load_webhook

WA_ID = "351914444444"


def _webhook(fixture: str, wamid: str, **fields: object) -> dict:
    payload = load_webhook(fixture)
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    value["contacts"] = [{"profile": {"name": "Maria"}, "wa_id": WA_ID}]
    message = value["messages"][0]
    message.pop("context", None)
    message.update({"from": WA_ID, "id": wamid, "timestamp": str(int(time.time())), **fields})
    return payload


def _text(wamid: str, body: str) -> dict:
    return _webhook("message_text", wamid, text={"body": body})


def _tap_button(wamid: str, button_id: str) -> dict:
    reply = {"type": "button_reply", "button_reply": {"id": button_id, "title": button_id}}
    return _webhook("message_interactive_button_reply", wamid, interactive=reply)


def _tap_row(wamid: str, row_id: str) -> dict:
    reply = {"type": "list_reply", "list_reply": {"id": row_id, "title": row_id}}
    return _webhook("message_interactive_list_reply", wamid, interactive=reply)


def _last_list_rows(harness: AppHarness) -> list[tuple[str, str]]:
    sent = [m for m in harness.simulator.outbox() if m["to"] == WA_ID]
    action = sent[-1]["body"]["interactive"]["action"]
    return [(row["id"], row["title"]) for section in action["sections"] for row in section["rows"]]


def test_a_resident_subscribes_to_a_topic_and_the_choice_is_stored(harness: AppHarness) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    for wamid, payload in [
        ("wamid.topics.1", _text("wamid.topics.1", "Olá")),
        ("wamid.topics.2", _tap_button("wamid.topics.2", "consent:accept")),
        ("wamid.topics.3", _tap_row("wamid.topics.3", "alerts")),
    ]:
        assert harness.post_webhook(payload).status_code == 200, wamid
        harness.drain()
    assert _last_list_rows(harness)[1] == ("subscribe:roadworks", "Obras e trânsito")

    assert (
        harness.post_webhook(_tap_row("wamid.topics.4", "subscribe:roadworks")).status_code == 200
    )
    harness.drain()

    assert ("unsubscribe:roadworks", "✓ Obras e trânsito") in _last_list_rows(harness)
    resident = container().residents.get(f"wa:{WA_ID}")
    assert resident is not None
    [subscription] = resident.subscriptions
    assert (subscription.topic, subscription.subscribed, subscription.text_version) == (
        "roadworks",
        True,
        "2026-11",
    )
    assert started <= subscription.at <= datetime.now(UTC)
    assert resident.subscribed_to("roadworks")
    assert [(e.action, e.text_version, e.topic) for e in resident.consent_history] == [
        (ConsentAction.CONSENT_GIVEN, "2026-11", None),
        (ConsentAction.SUBSCRIBED, "2026-11", "roadworks"),
    ]
