"""civicchat benchmarks: `make bench` (or `.venv/bin/python benchmarks/run.py`).

Prints:
  1. `import app` next to `import boto3`, each the median of fresh interpreter starts;
  2. p50/p99 time to handle one inbound text webhook in-process: the webhook route (signature,
     parse, queue) and the inbound worker (store, bot, reply queued), against moto's server;
  3. DynamoDB requests per inbound text message, counted at botocore.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

APP_SECRET = "bench-secret"
ACCESS_TOKEN = "bench-token"
PHONE_NUMBER_ID = "100000000000001"
REGION = "eu-west-1"


def median_import_ms(module: str, runs: int) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        f"import {module}; print((time.perf_counter() - t) * 1000)"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True
    )  # warm .pyc
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


class RequestCounter:
    """Counts AWS API calls by (service, operation) for every botocore client, PynamoDB's too."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def counting(self) -> Iterator[Counter[tuple[str, str]]]:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        calls: Counter[tuple[str, str]] = Counter()

        def counted(client: Any, operation: str, params: Any) -> Any:
            calls[(client.meta.service_model.service_name, operation)] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted
        try:
            yield calls
        finally:
            botocore.client.BaseClient._make_api_call = original


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def text_webhook(wa_id: str, wamid: str, body: str) -> bytes:
    from chalicelib.simulator.webhooks import BusinessNumber, inbound_message_payload

    business = BusinessNumber("102290129340398", PHONE_NUMBER_ID, "15550001234")
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }
    contact = {"profile": {"name": "Bench"}, "wa_id": wa_id}
    return json.dumps(inbound_message_payload(business, contact=contact, message=message)).encode()


def sqs_event(messages: list[dict[str, Any]], queue_name: str) -> dict[str, Any]:
    from chalicelib.local_stack.sqs_workers import lambda_sqs_event

    return lambda_sqs_event(messages, f"arn:aws:sqs:{REGION}:123456789012:{queue_name}", REGION)


def handling_benchmark(messages: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    stage = f"bench{uuid.uuid4().hex[:6]}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "CIVICCHAT_STAGE": stage,
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": "bench-verify",
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "LOG_LEVEL": "WARNING",
        }
    )
    import boto3
    from chalice.test import Client

    from chalicelib.resource_names import ResourceNames
    from chalicelib.simulator.server import GraphApiSimulator
    from chalicelib.whatsapp.signature import sign
    from infra.local_emulator import provision

    names = ResourceNames(stage)
    provision(endpoint, names, REGION)
    simulator = GraphApiSimulator(
        port=0, access_token=ACCESS_TOKEN, app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID
    )
    simulator.start()
    os.environ["WHATSAPP_API_URL"] = simulator.graph_base_url()

    import app as app_module
    from chalicelib.observability import logger

    logger.setLevel("WARNING")
    sqs = boto3.client("sqs", region_name=REGION)
    inbound_url = sqs.get_queue_url(QueueName=names.inbound_queue)["QueueUrl"]
    replies_url = sqs.get_queue_url(QueueName=names.outbound_replies_queue)["QueueUrl"]
    counter = RequestCounter()

    project = Path(tempfile.mkdtemp())
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    config["stages"]["dev"]["environment_variables"].update(
        {"CIVICCHAT_STAGE": stage, "LOG_LEVEL": "WARNING"}
    )
    (project / ".chalice").mkdir()
    (project / ".chalice" / "config.json").write_text(json.dumps(config))

    def take(url: str) -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        batch = got.get("Messages", [])
        if batch:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return batch

    webhook_ms: list[float] = []
    worker_ms: list[float] = []
    dynamodb_per_stage: dict[str, list[int]] = {"webhook": [], "worker": [], "sender": []}
    with Client(app_module.app, project_dir=str(project)) as client:

        def timed(fn: Callable[[], Any]) -> tuple[float, Counter[tuple[str, str]], Any]:
            with counter.counting() as calls:
                start = time.perf_counter()
                result = fn()
                elapsed = (time.perf_counter() - start) * 1000
            return elapsed, calls, result

        def dynamodb(calls: Counter[tuple[str, str]]) -> int:
            return sum(n for (service, _), n in calls.items() if service == "dynamodb")

        residents = max(1, messages // 3)
        for i in range(messages):
            # Each resident says hello (new: asked for consent), accepts, then asks a question.
            wa_id = f"35191{i % residents:07d}"
            body = text_webhook(
                wa_id, f"wamid.bench-{uuid.uuid4().hex}", conversation_turn(i, residents)
            )
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, APP_SECRET),
            }
            ms, calls, response = timed(
                lambda body=body, headers=headers: client.http.post(
                    "/webhooks/whatsapp", headers=headers, body=body
                )
            )
            assert response.status_code == 200, response.body
            webhook_ms.append(ms)
            dynamodb_per_stage["webhook"].append(dynamodb(calls))

            event = sqs_event(take(inbound_url), names.inbound_queue)
            ms, calls, result = timed(
                lambda event=event: client.lambda_.invoke("inbound_worker", event)
            )
            assert result.payload == {"batchItemFailures": []}, result.payload
            worker_ms.append(ms)
            dynamodb_per_stage["worker"].append(dynamodb(calls))

            replies = take(replies_url)
            _, calls, _ = timed(
                lambda replies=replies: client.lambda_.invoke(
                    "reply_sender", sqs_event(replies, names.outbound_replies_queue)
                )
            )
            dynamodb_per_stage["sender"].append(dynamodb(calls))
            if i == 0:  # first call pays lazy imports and client creation: not steady state
                webhook_ms.clear()
                worker_ms.clear()

    simulator.stop()
    server.stop()

    total = [a + b for a, b in zip(webhook_ms, worker_ms, strict=True)]
    print(f"\nInbound text webhook handled in-process ({len(total)} messages, moto over HTTP):")
    for label, samples in (
        ("webhook route", webhook_ms),
        ("inbound worker", worker_ms),
        ("both", total),
    ):
        print(
            f"  {label:<15} p50 {percentile(samples, 0.5):6.1f} ms   p99 {percentile(samples, 0.99):6.1f} ms"
        )
    print("\nDynamoDB requests per inbound text message:")
    for stage_name, counts in dynamodb_per_stage.items():
        print(f"  {stage_name:<15} max {max(counts)}  mean {statistics.mean(counts):.2f}")
    handled = [
        w + k
        for w, k in zip(dynamodb_per_stage["webhook"], dynamodb_per_stage["worker"], strict=True)
    ]
    print(f"  receive+store   max {max(handled)}  (target ≤ 4)")


def conversation_turn(i: int, residents: int) -> str:
    return ("Olá", "Aceito")[i // residents] if i // residents < 2 else "lixo"


def code_only_benchmark(messages: int) -> None:
    """The same path with the in-memory stores and queues: what our own code costs."""
    from itertools import count

    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.adapters.memory_media import InMemoryMediaQueue
    from chalicelib.adapters.memory_stores import (
        InMemoryDatabase,
        InMemoryInboundQueue,
        InMemoryMessageStore,
        InMemoryOutboundQueue,
        InMemoryResidentStore,
        InMemoryTicketStore,
    )
    from chalicelib.observability import logger, publish_metrics
    from chalicelib.services.handle_inbound_message import InboundPorts, handle_inbound_message
    from chalicelib.services.receive_webhook import receive_webhook
    from chalicelib.settings import BUNDLED_CONFIG
    from chalicelib.whatsapp.signature import sign
    from chalicelib.whatsapp.webhook_parser import parse_webhook

    logger.setLevel("WARNING")
    definition = load_municipality_file(BUNDLED_CONFIG)
    database = InMemoryDatabase()
    residents, store = InMemoryResidentStore(database), InMemoryMessageStore(database)
    inbound, outbound = InMemoryInboundQueue(), InMemoryOutboundQueue()
    ports = InboundPorts(
        residents=residents,
        messages=store,
        tickets=InMemoryTicketStore(database),
        outbound=outbound,
        media=InMemoryMediaQueue(),
    )
    ids = count()
    samples: list[float] = []
    for i in range(messages):
        residents_count = max(1, messages // 3)
        wa_id = f"35192{i % residents_count:07d}"
        body = text_webhook(wa_id, f"wamid.mem-{i}", conversation_turn(i, residents_count))
        signature = sign(body, APP_SECRET)
        start = time.perf_counter()
        receive_webhook(
            body,
            signature,
            app_secret=APP_SECRET,
            inbound_queue=lambda: inbound,
            messages=lambda: store,
        )
        for _, _, envelope in inbound.drain():
            (message,) = parse_webhook(envelope).events
            handle_inbound_message(
                message,
                definition=definition,
                ports=ports,
                now=message.timestamp,
                new_id=lambda: f"c{next(ids)}",
            )
        samples.append((time.perf_counter() - start) * 1000)
        publish_metrics()
    print(f"\nSame path with in-memory stores ({messages} messages; our code alone):")
    print(
        f"  both            p50 {percentile(samples, 0.5):6.2f} ms   p99 {percentile(samples, 0.99):6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--import-runs", type=int, default=9)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"

    boto3_ms = median_import_ms("boto3", args.import_runs)
    app_ms = median_import_ms("app", args.import_runs)
    print(f"Import time (median of {args.import_runs} fresh interpreters):")
    print(f"  import boto3   {boto3_ms:7.1f} ms")
    print(f"  import app     {app_ms:7.1f} ms   = {app_ms / boto3_ms:.2f} × boto3 (target ≤ 1.3)")
    code_only_benchmark(args.messages)
    handling_benchmark(args.messages)


if __name__ == "__main__":
    main()
