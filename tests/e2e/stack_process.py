"""The local stack as a user starts it (`civicchat run`): a subprocess on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from chalicelib.whatsapp.signature import sign

APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
ACCESS_TOKEN = "e2e-access-token"
PHONE_NUMBER_ID = "100000000000001"
CIVICCHAT = Path(sys.executable).parent / "civicchat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class RunningStack:
    def __init__(
        self, process: subprocess.Popen[str], app: str, simulator: str, aws_emulator: str
    ) -> None:
        self.process = process
        self.app = app
        self.simulator = simulator
        self.aws_emulator = aws_emulator
        # Read the output as it comes, keeping the last lines: unread, the pipe fills (64 KiB
        # of logs) and the next log line blocks the app, holding the logging lock, until every
        # request times out.
        self._tail: deque[str] = deque(maxlen=2000)
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        if self.process.stdout is not None:
            self._tail.extend(self.process.stdout)

    def output(self, timeout: float = 5) -> str:
        """The last lines the stack printed (all of them once it has exited)."""
        if self.process.poll() is not None:
            self._reader.join(timeout)
        return "".join(self._tail)

    def aws(self, service: str) -> Any:
        """A boto3 client for the stack's AWS emulator."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws_emulator,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

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


class Phone:
    """One resident's phone: writes through the simulator, reads what the app sent back."""

    def __init__(self, stack: RunningStack, wa_id: str, name: str) -> None:
        self.stack, self.wa_id, self.name = stack, wa_id, name
        self.seen = 0

    def send(self, **spec: Any) -> list[dict[str, Any]]:
        """A message, and the bodies sent back to it."""
        self.say(**spec)
        return self.wait_for_messages()

    def say(self, **spec: Any) -> None:
        """A message whose answer is not awaited (e.g. the conversation is with a person)."""
        answer = requests.post(
            f"{self.stack.simulator}/_sim/residents/{self.wa_id}/messages",
            json={"name": self.name, **spec},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def wait_for_messages(self, timeout: float = 30) -> list[dict[str, Any]]:
        """The bodies sent to this phone since the last look, once they stop arriving."""

        def settled() -> list[dict[str, Any]]:
            before = self.stack.outbox_for(self.wa_id)
            if len(before) <= self.seen:
                return []
            time.sleep(0.7)
            after = self.stack.outbox_for(self.wa_id)
            return after if len(after) == len(before) else []

        sent = wait_for(settled, timeout=timeout, what=f"messages to {self.wa_id}")
        new = [message["body"] for message in sent[self.seen :]]
        self.seen = len(sent)
        return new

    def everything_received(self) -> list[dict[str, Any]]:
        return [message["body"] for message in self.stack.outbox_for(self.wa_id)]


@contextmanager
def running_stack() -> Iterator[RunningStack]:
    port, simulator_port, emulator_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SIMULATOR_PORT": str(simulator_port),
        "AWS_EMULATOR_PORT": str(emulator_port),
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
        process,
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{simulator_port}",
        f"http://127.0.0.1:{emulator_port}",
    )

    def healthy() -> bool:
        assert process.poll() is None, running.output() or "exited"
        try:
            return requests.get(f"{running.app}/health", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(healthy, timeout=90, what="/health to answer 200")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
