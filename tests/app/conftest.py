"""The Chalice app in-process (chalice.test.Client) against real components: moto's server for
AWS and the project's WhatsApp simulator for the Graph API."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.local_stack.sqs_workers import SqsWorker, lambda_sqs_event
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import get_settings
from chalicelib.simulator.server import GraphApiSimulator
from chalicelib.whatsapp.signature import sign
from chalicelib.wiring import container
from infra.agent_directory import provision_agent_directory
from infra.local_emulator import provision

APP_SECRET = "app-test-secret"
ACCESS_TOKEN = "app-test-token"
VERIFY_TOKEN = "app-test-verify"
PSEUDONYM_KEY = "app-test-pseudonym-key"  # the audit log's (domain.audit.resident_ref)
PHONE_NUMBER_ID = "100000000000001"
REGION = "eu-west-1"
PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass
class AppHarness:
    client: Client
    names: ResourceNames
    simulator: GraphApiSimulator
    sqs: Any
    user_pool_id: str = ""  # the agents' sign-in (infra/agent_directory.py), made in moto
    user_pool_client_id: str = ""

    def post_webhook(self, payload: dict | bytes, signature: str | None = "valid") -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "valid":
            headers["X-Hub-Signature-256"] = sign(body, APP_SECRET)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return self.client.http.post("/webhooks/whatsapp", headers=headers, body=body)

    def receive(self, queue_name: str) -> list[dict[str, Any]]:
        """Take everything waiting on a queue (as Lambda would), deleting it."""
        url = self.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        taken: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            taken.extend(batch)
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return taken

    def sqs_event(self, messages: list[dict[str, Any]], queue_name: str) -> dict[str, Any]:
        arn = f"arn:aws:sqs:{REGION}:123456789012:{queue_name}"
        return lambda_sqs_event(messages, arn, REGION)

    def run_worker(self, function: str, queue_name: str) -> dict[str, Any]:
        """One poll of `queue_name` delivered to `function` exactly as the event source mapping
        does (the local stack's worker): what the handler reports failed stays on the queue."""
        outcome: dict[str, Any] = {"batchItemFailures": []}

        def invoke(event: dict[str, Any], _context: Any) -> Any:
            outcome.update(self.client.lambda_.invoke(function, event).payload)
            return outcome

        worker = SqsWorker(
            queue_name=queue_name,
            handler=invoke,
            batch_size=10,
            sqs_client=self.sqs,
            region=REGION,
            stop_event=threading.Event(),
            wait_seconds=0,
        )
        worker.poll_once()
        return outcome

    def drain(self) -> None:
        """Run inbound worker and reply sender until both queues are empty."""
        for _ in range(5):
            self.run_worker("inbound_worker", self.names.inbound_queue)
            self.run_worker("reply_sender", self.names.outbound_replies_queue)


def _project_for_stage(tmp_path: Path, stage: str) -> Path:
    """chalice.test.Client applies the stage's environment from .chalice/config.json during each
    request: give it the real config with this test's stage name."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    config["stages"]["dev"]["environment_variables"]["CIVICCHAT_STAGE"] = stage
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.fixture
def harness(aws_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppHarness]:
    stage = f"app{uuid.uuid4().hex[:8]}"
    names = ResourceNames(stage)
    provision(aws_env, names, REGION)
    pool_id, client_id = provision_agent_directory(aws_env, names, REGION)
    simulator = GraphApiSimulator(
        port=0,
        access_token=ACCESS_TOKEN,
        app_secret=APP_SECRET,
        phone_number_id=PHONE_NUMBER_ID,
        templates={"reopen_conversation": ["pt_PT", "es", "en", "ar"]},
    )
    simulator.start()
    env = {
        "CIVICCHAT_STAGE": stage,
        "WHATSAPP_API_URL": simulator.graph_base_url(),
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "CIVICCHAT_USER_POOL_ID": pool_id,
        "CIVICCHAT_USER_POOL_CLIENT_ID": client_id,
        "CIVICCHAT_AGENT_TOKENS": "verify",  # chalice.test decodes tokens without checking them
        "CIVICCHAT_PSEUDONYM_KEY": PSEUDONYM_KEY,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    container.cache_clear()
    from app import app

    try:
        with Client(app, project_dir=str(_project_for_stage(tmp_path, stage))) as client:
            yield AppHarness(
                client,
                names,
                simulator,
                boto3.client("sqs", region_name=REGION),
                user_pool_id=pool_id,
                user_pool_client_id=client_id,
            )
    finally:
        simulator.stop()
        get_settings.cache_clear()
        container.cache_clear()
