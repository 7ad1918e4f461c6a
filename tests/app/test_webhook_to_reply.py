"""From a signed webhook to the reply reaching the (simulated) Graph API, through the real
handlers, queues and tables."""

from __future__ import annotations

import copy
import json
import random
import time

from chalicelib.domain.messages import DeliveryStatus, Direction
from chalicelib.wiring import container
from tests.app.conftest import PHONE_NUMBER_ID, VERIFY_TOKEN, AppHarness
from tests.webhook_fixtures import load_webhook


def _text_webhook(wa_id: str, wamid: str, body: str) -> dict:
    payload = load_webhook("message_text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    value["contacts"] = [{"profile": {"name": "Maria"}, "wa_id": wa_id}]
    value["messages"][0].update(
        {"from": wa_id, "id": wamid, "text": {"body": body}, "timestamp": str(int(time.time()))}
    )
    return payload


def _status_webhook(wamid: str, wa_id: str, status: str, at: int) -> dict:
    payload = load_webhook(f"status_{status}")
    value = payload["entry"][0]["changes"][0]["value"]
    value["statuses"][0].update({"id": wamid, "recipient_id": wa_id, "timestamp": str(at)})
    return payload


def _sent_to(harness: AppHarness, wa_id: str) -> list[dict]:
    return [m for m in harness.simulator.outbox() if m["to"] == wa_id]


def test_verification_handshake(harness: AppHarness) -> None:
    ok = harness.client.http.get(
        f"/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    )
    assert (ok.status_code, ok.body) == (200, b"1158201444")
    wrong = harness.client.http.get(
        "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope"
    )
    assert wrong.status_code == 403


def test_unsigned_or_forged_webhooks_are_rejected_and_nothing_is_queued(
    harness: AppHarness,
) -> None:
    payload = _text_webhook("351911111111", "wamid.forged", "Olá")
    assert harness.post_webhook(payload, signature=None).status_code == 401
    assert harness.post_webhook(payload, signature="sha256=" + "ab" * 32).status_code == 403
    assert harness.post_webhook(payload, signature="md5=whatever").status_code == 403
    assert harness.receive(harness.names.inbound_queue) == []


def test_odd_signed_payloads_are_acknowledged_not_retried(harness: AppHarness) -> None:
    for body in (b"not json at all", b"[]", json.dumps({"object": "page"}).encode()):
        assert harness.post_webhook(body).status_code == 200
    assert harness.receive(harness.names.inbound_queue) == []


def test_a_first_message_is_stored_once_and_answered_with_the_consent_prompt(
    harness: AppHarness,
) -> None:
    wa_id = "351912222222"
    assert harness.post_webhook(_text_webhook(wa_id, "wamid.hello", "Olá")).status_code == 200
    harness.drain()

    stored = container().messages.get("wamid.hello")
    assert stored is not None and stored.direction is Direction.INBOUND
    assert stored.body is None  # nothing the resident wrote is kept before consent
    sent = _sent_to(harness, wa_id)
    assert [m["body"]["type"] for m in sent] == ["interactive"]
    assert sent[0]["body"]["interactive"]["type"] == "button"
    replies = container().messages.get_many(stored.reply_ids)
    assert [r.status for r in replies] == [DeliveryStatus.SENT]
    assert {r.wamid for r in replies} == {m["wamid"] for m in sent}


def test_three_deliveries_in_shuffled_order_give_one_message_and_one_reply(
    harness: AppHarness,
) -> None:
    wa_id = "351913333333"
    first = _text_webhook(wa_id, "wamid.one", "Olá")
    second = _text_webhook(wa_id, "wamid.two", "lixo")
    deliveries = [first, first, first, second, copy.deepcopy(second)]
    random.Random(3).shuffle(deliveries)
    for payload in deliveries:
        assert harness.post_webhook(payload).status_code == 200
    # SQS forgets deduplication ids after five minutes: replay the first message to the worker
    # as a late redelivery would, straight past the queue's deduplication.
    harness.drain()
    assert harness.post_webhook(first).status_code == 200
    late = harness.receive(harness.names.inbound_queue)
    if not late:  # the FIFO queue deduplicated it; deliver the stored body again regardless
        late = [
            {
                "MessageId": "late-1",
                "ReceiptHandle": "r",
                "Body": json.dumps(first),
                "Attributes": {"MessageGroupId": f"wa:{wa_id}"},
            }
        ]
    harness.client.lambda_.invoke(
        "inbound_worker", harness.sqs_event(late, harness.names.inbound_queue)
    )
    harness.drain()

    stored = [container().messages.get(wamid) for wamid in ("wamid.one", "wamid.two")]
    assert all(m is not None for m in stored)
    sent = _sent_to(harness, wa_id)
    replies_to_first = set(stored[0].reply_ids)
    assert len(replies_to_first) == 1  # the consent prompt
    assert len(sent) == len(stored[0].reply_ids) + len(stored[1].reply_ids)
    assert len({m["wamid"] for m in sent}) == len(sent)


def test_statuses_only_move_forward(harness: AppHarness) -> None:
    wa_id = "351914444444"
    harness.post_webhook(_text_webhook(wa_id, "wamid.status", "Olá"))
    harness.drain()
    reply_id = container().messages.get("wamid.status").reply_ids[0]
    wamid = container().messages.get(reply_id).wamid
    now = int(time.time())

    for status, at in (("read", now + 2), ("delivered", now + 1), ("sent", now)):
        assert harness.post_webhook(_status_webhook(wamid, wa_id, status, at)).status_code == 200
    assert container().messages.get(reply_id).status is DeliveryStatus.READ


def test_a_poison_record_fails_alone(harness: AppHarness) -> None:
    wa_id = "351915555555"
    harness.post_webhook(_text_webhook(wa_id, "wamid.good", "Olá"))
    good = harness.receive(harness.names.inbound_queue)
    poison = {
        "MessageId": "poison-1",
        "ReceiptHandle": "x",
        "Body": "{not json",
        "Attributes": {"MessageGroupId": "wa:351900000000"},
    }
    event = harness.sqs_event([poison, *good], harness.names.inbound_queue)

    result = harness.client.lambda_.invoke("inbound_worker", event).payload

    assert result == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert container().messages.get("wamid.good") is not None
