"""`civicchat run` as a user runs it: a subprocess on free ports, driven over HTTP."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator

import pytest
import requests

from chalicelib.simulator.webhooks import BusinessNumber, inbound_message_payload
from tests.e2e.stack_process import (
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    RunningStack,
    running_stack,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack() as running:
        yield running


def test_health_and_simulator_answer(stack: RunningStack) -> None:
    assert requests.get(f"{stack.app}/health", timeout=5).json()["status"] == "ok"
    page = requests.get(f"{stack.simulator}/", timeout=5)
    assert page.status_code == 200
    assert "<html" in page.text.lower()


def test_a_new_resident_saying_hello_is_asked_for_consent_first(stack: RunningStack) -> None:
    wa_id = "351910000001"
    answer = requests.post(
        f"{stack.simulator}/_sim/residents/{wa_id}/messages",
        json={"name": "Maria", "type": "text", "text": "Olá"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    def prompt_arrived() -> list[dict]:
        sent = stack.outbox_for(wa_id)
        return sent if any(m["body"].get("type") == "interactive" for m in sent) else []

    sent = wait_for(prompt_arrived, what="the consent prompt to reach the simulator")
    prompt = next(m["body"] for m in sent if m["body"].get("type") == "interactive")
    assert prompt["interactive"]["type"] == "button"
    buttons = [b["reply"]["id"] for b in prompt["interactive"]["action"]["buttons"]]
    assert buttons == ["consent:accept", "consent:decline", "consent:language"]


def _text_webhook(wa_id: str, wamid: str, text: str) -> dict:
    business = BusinessNumber("102290129340398", PHONE_NUMBER_ID, "15550001234")
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    contact = {"profile": {"name": "Joana"}, "wa_id": wa_id}
    return inbound_message_payload(business, contact=contact, message=message)


def test_the_same_webhook_three_times_in_shuffled_order_is_answered_once(
    stack: RunningStack,
) -> None:
    """Meta redelivers: the resident's first message arrives three times, shuffled with a
    second one. One stored message and one answer each; none fails."""
    wa_id = "351910000002"
    first = _resident_says(stack, wa_id, "Bom dia")
    wait_for(lambda: stack.outbox_for(wa_id), what="the first answer")
    second = _resident_says(stack, wa_id, "lixo")
    answered = wait_for(lambda: _settled(stack, wa_id), what="the second answer")
    originals = {entry["wamid"]: entry["payload"] for entry in stack.webhook_log()}
    deliveries = [originals[first], originals[first], originals[second], originals[first]]
    random.Random(7).shuffle(deliveries)
    for payload in deliveries:
        assert stack.post_webhook(payload).status_code == 200

    time.sleep(3)  # room for any duplicate answer to show up
    sent = stack.outbox_for(wa_id)
    assert [m["wamid"] for m in sent] == [m["wamid"] for m in answered]
    assert all(m["status"] != "failed" for m in sent), sent


def _settled(stack: RunningStack, wa_id: str) -> list[dict]:
    """The outbox once it stops growing for a second (both answers are in)."""
    before = stack.outbox_for(wa_id)
    time.sleep(1)
    after = stack.outbox_for(wa_id)
    return after if len(after) == len(before) and len(after) >= 2 else []


def _resident_says(stack: RunningStack, wa_id: str, text: str) -> str:
    answer = requests.post(
        f"{stack.simulator}/_sim/residents/{wa_id}/messages",
        json={"name": "Joana", "type": "text", "text": text},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["wamid"]


def test_webhook_signature_is_enforced(stack: RunningStack) -> None:
    payload = _text_webhook("351910000003", "wamid.e2e-forged", "hack")
    assert stack.post_webhook(payload, signature=None).status_code == 401
    assert stack.post_webhook(payload, signature="sha256=" + "0" * 64).status_code == 403
    time.sleep(1)
    assert stack.outbox_for("351910000003") == []


def test_odd_but_signed_payloads_are_acknowledged(stack: RunningStack) -> None:
    assert stack.post_webhook({"object": "page", "entry": "nonsense"}).status_code == 200
    assert stack.post_webhook({"unexpected": True}).status_code == 200


def test_verification_handshake(stack: RunningStack) -> None:
    url = f"{stack.app}/webhooks/whatsapp"
    ok = requests.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": VERIFY_TOKEN,
        },
        timeout=5,
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = requests.get(
        url,
        params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "guess"},
        timeout=5,
    )
    assert wrong.status_code == 403


def test_sigterm_stops_everything_cleanly(stack: RunningStack) -> None:
    """Runs last in this module: stop the stack and check it exits by itself, ports freed."""
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=20) == 0
    assert "stopped" in stack.output()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.app}/health", timeout=2)
