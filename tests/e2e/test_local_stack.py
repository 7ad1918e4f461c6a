"""`civicchat run` as a user runs it: a subprocess on free ports, driven over HTTP."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.simulator.webhooks import BusinessNumber, inbound_message_payload
from chalicelib.whatsapp.signature import sign

pytestmark = pytest.mark.e2e

APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
ACCESS_TOKEN = "e2e-access-token"
PHONE_NUMBER_ID = "100000000000001"
CIVICCHAT = Path(sys.executable).parent / "civicchat"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class RunningStack:
    def __init__(self, process: subprocess.Popen[str], app: str, simulator: str) -> None:
        self.process = process
        self.app = app
        self.simulator = simulator

    def outbox_for(self, wa_id: str) -> list[dict]:
        sent = requests.get(f"{self.simulator}/_sim/outbox", timeout=5).json()
        return [message for message in sent if message["to"] == wa_id]

    def webhook_log(self) -> list[dict]:
        return requests.get(f"{self.simulator}/_sim/webhooks", timeout=5).json()

    def post_webhook(self, payload: dict, *, signature: str | None = "valid") -> requests.Response:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = sign(body, APP_SECRET)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return requests.post(
            f"{self.app}/webhooks/whatsapp", data=body, headers=headers, timeout=10
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    port, simulator_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SIMULATOR_PORT": str(simulator_port),
        "AWS_EMULATOR_PORT": str(_free_port()),
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
    }
    for name in ("WHATSAPP_API_URL", "AWS_ENDPOINT_URL", "CIVICCHAT_CONFIG", "CIVICCHAT_STAGE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [str(CIVICCHAT), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningStack(
        process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{simulator_port}"
    )

    def healthy() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else "exited"
        try:
            return requests.get(f"{running.app}/health", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        _wait_for(healthy, timeout=90, what="/health to answer 200")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                raise


def test_health_and_simulator_answer(stack: RunningStack) -> None:
    assert requests.get(f"{stack.app}/health", timeout=5).json()["status"] == "ok"
    page = requests.get(f"{stack.simulator}/", timeout=5)
    assert page.status_code == 200
    assert "<html" in page.text.lower()


def test_a_resident_saying_hello_gets_the_welcome_and_the_menu(stack: RunningStack) -> None:
    wa_id = "351910000001"
    answer = requests.post(
        f"{stack.simulator}/_sim/residents/{wa_id}/messages",
        json={"name": "Maria", "type": "text", "text": "Olá"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    def menu_arrived() -> list[dict]:
        sent = stack.outbox_for(wa_id)
        return sent if any(m["body"].get("type") == "interactive" for m in sent) else []

    sent = _wait_for(menu_arrived, what="the menu to reach the simulator")
    menu = next(m["body"] for m in sent if m["body"].get("type") == "interactive")
    assert menu["interactive"]["type"] == "list"
    assert 1 <= len(menu["interactive"]["action"]["sections"][0]["rows"]) <= 10


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
    _wait_for(lambda: stack.outbox_for(wa_id), what="the first answer")
    second = _resident_says(stack, wa_id, "lixo")
    answered = _wait_for(lambda: _settled(stack, wa_id), what="the second answer")
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
    return after if len(after) == len(before) and len(after) >= 3 else []


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
    output = stack.process.stdout.read() if stack.process.stdout else ""
    assert "stopped" in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.app}/health", timeout=2)
