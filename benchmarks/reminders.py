"""Reminders benchmark: `make bench-reminders` (or `.venv/bin/python benchmarks/reminders.py`).

Registers 100,000 obligations (`--obligations`) in moto's DynamoDB server — each with its full
reminder plan, as the API stores it — of which 1,000 (`--due`) have a reminder in the send
window's opening slot on 2026-12-01 (09:00 in Lisbon). Then runs the reminders job for that
moment twice, against DynamoDB and SQS in moto, and prints for each run: items read, DynamoDB
requests by operation (counted at botocore, as benchmarks/run.py does), wall time, and items
read ÷ due (target ≤ 1.05) with the number of Scans (target 0). The second run must send nothing.

Loading takes a few minutes at full size (BatchWriteItem, 25 items a request); progress is
printed. Note that moto answers a Query on an index by walking the whole table, so the Query's
wall time here grows with the table; DynamoDB's does not (it reads the index partition only).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGION = "eu-west-1"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday; 09:00 in Lisbon (UTC in winter)
REGISTERED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Due dates whose reminder falls on AT: (kind, offset) → due date = 2026-12-01 - offset.
DUE_KINDS = {"driving_licence": 42, "residence_visa": 30, "tax_payment": 14}


@dataclass
class Counts:
    operations: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: Counter[tuple[str, str]] = field(default_factory=Counter)  # time inside each call
    query_count: int = 0  # items the Queries returned
    query_scanned: int = 0  # items DynamoDB (here moto) says it evaluated


@contextmanager
def counting() -> Iterator[Counts]:
    """Every AWS call of every botocore client in the process, PynamoDB's included."""
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    counts = Counts()

    def counted(client: Any, operation: str, params: Any) -> Any:
        key = (client.meta.service_model.service_name, operation)
        counts.operations[key] += 1
        started = time.perf_counter()
        response = original(client, operation, params)
        counts.seconds[key] += time.perf_counter() - started
        if operation == "Query":
            counts.query_count += response.get("Count", 0)
            counts.query_scanned += response.get("ScannedCount", 0)
        return response

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield counts
    finally:
        botocore.client.BaseClient._make_api_call = original


def start_moto() -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "LOG_LEVEL": "WARNING",
        }
    )
    return endpoint


def obligations(total: int, due: int, definition: Any, seed: int) -> Iterator[tuple[Any, list]]:
    """(obligation, plan) pairs: `due` of them with one reminder in AT's slot, the rest with
    none in the slots the job reads."""
    from chalicelib.domain.obligations import Obligation
    from chalicelib.domain.reminder_plan import plan_reminders, slot_of

    rng = random.Random(seed)
    read_slots = {slot_of(AT - timedelta(minutes=15)), slot_of(AT)}
    languages = {
        kind: definition.templates[definition.reminders.kinds[kind].template].languages
        for kind in DUE_KINDS
    }
    params = {
        "name": "Ana Sousa",
        "renewal_url": "https://servicos.example.pt/renovar",
        "amount": "312,40 €",
        "payment_url": "https://pagar.example.pt/ref/123456789",
    }
    first_due, due_days = date(2026, 7, 20), 530
    for number in range(total):
        kind = rng.choice(list(DUE_KINDS))
        is_due = number < due
        while True:
            if is_due:
                due_date = AT.date() + timedelta(days=DUE_KINDS[kind])
            else:
                due_date = first_due + timedelta(days=rng.randrange(due_days))
            digits = f"3519{number:08d}"
            obligation = Obligation(
                external_id=f"OBL-{number:07d}",
                kind=kind,
                phone=f"+{digits}",
                resident_key=f"wa:{digits}",
                language=rng.choice(languages[kind]),
                due_date=due_date,
                params=params,
                created_at=REGISTERED,
                updated_at=REGISTERED,
                registered_by="bench",
            )
            plan = plan_reminders(obligation, definition, REGISTERED)
            in_read_slots = sum(slot_of(r.send_at) in read_slots for r in plan)
            if in_read_slots == (1 if is_due else 0):
                break
        yield obligation, plan


def load(tables: Any, total: int, due: int, definition: Any, seed: int) -> int:
    """Batch-write the obligations and their reminders (the items `save` writes); returns the
    number of reminder items."""
    from chalicelib.adapters.dynamodb_reminder_stores import obligation_item, reminder_item

    started = time.perf_counter()
    reminders = 0
    with (
        tables.obligations.batch_write() as obligation_batch,
        tables.reminders.batch_write() as reminder_batch,
    ):
        for index, (obligation, plan) in enumerate(obligations(total, due, definition, seed)):
            obligation_batch.save(obligation_item(tables, obligation, [r.id for r in plan]))
            for reminder in plan:
                reminder_batch.save(reminder_item(tables, reminder, obligation))
            reminders += len(plan)
            if (index + 1) % 10_000 == 0 or index + 1 == total:
                elapsed = time.perf_counter() - started
                print(
                    f"  loaded {index + 1:>7,} obligations, {reminders:>7,} reminders "
                    f"({elapsed:5.0f} s)",
                    flush=True,
                )
    return reminders


@dataclass
class RunFigures:
    label: str
    run: Any  # the job's ReminderRun
    counts: Counts
    wall_s: float


def run_job(label: str, names: Any, definition: Any, endpoint: str) -> RunFigures:
    import boto3

    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.adapters.dynamodb_reminder_stores import (
        DynamoDBNotificationStore,
        DynamoDBObligationStore,
        DynamoDBReminderSchedule,
    )
    from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore
    from chalicelib.adapters.sqs_queues import SqsOutboundQueue
    from chalicelib.services.run_reminders import run_reminders

    # Fresh clients (created outside the timing, as a warm Lambda has them).
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    tables = stage_tables(names, REGION, dynamodb_client=dynamodb)
    outbound = SqsOutboundQueue(names.outbound_replies_queue, names.outbound_bulk_queue, sqs)
    with counting() as counts:
        started = time.perf_counter()
        run = run_reminders(
            AT,
            definition=definition,
            schedule=DynamoDBReminderSchedule(tables),
            notifications=DynamoDBNotificationStore(tables, retention=lambda: definition.retention),
            obligations=DynamoDBObligationStore(tables, retention=lambda: definition.retention),
            messages=DynamoDBMessageStore(tables, retention=lambda: definition.retention),
            outbound=outbound,
        )
        wall = time.perf_counter() - started
    return RunFigures(label=label, run=run, counts=counts, wall_s=wall)


def report(figures: RunFigures, due: int) -> None:
    run, counts = figures.run, figures.counts
    scans = sum(n for (_, operation), n in counts.operations.items() if operation == "Scan")
    ratio = run.items_read / due if due else 0.0
    print(f"\n{figures.label}")
    print(f"  wall time                 {figures.wall_s:8.2f} s")
    print(f"  slots read                {run.slots:8d}")
    print(f"  messages queued           {run.queued:8,d}")
    print(f"  items read (job)          {run.items_read:8,d}")
    print(
        f"  Query items returned      {counts.query_count:8,d}   (ScannedCount "
        f"{counts.query_scanned:,})"
    )
    print(
        f"  items read / due          {ratio:8.3f}   (target ≤ 1.05: "
        f"{'met' if ratio <= 1.05 else 'MISSED'})"
    )
    print(
        f"  Scans                     {scans:8d}   (target 0: {'met' if not scans else 'MISSED'})"
    )
    print("  requests by operation                 count   time in calls")
    for (service, operation), count in sorted(counts.operations.items()):
        seconds = counts.seconds[(service, operation)]
        print(f"    {service:9s} {operation:22s} {count:8,d}   {seconds:8.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--obligations", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if not 0 <= args.due <= args.obligations:
        parser.error("--due must be between 0 and --obligations")

    endpoint = start_moto()
    import boto3

    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.resource_names import ResourceNames
    from chalicelib.settings import BUNDLED_CONFIG
    from infra.local_emulator import provision

    definition = load_municipality_file(BUNDLED_CONFIG)
    names = ResourceNames(f"bench{uuid.uuid4().hex[:6]}")
    provision(endpoint, names, REGION)
    print(
        f"civicchat reminders benchmark: {args.obligations:,} obligations, {args.due:,} due at "
        f"{AT:%Y-%m-%dT%H:%MZ} (moto server, stage {names.stage})"
    )
    started = time.perf_counter()
    reminders = load(stage_tables(names, REGION), args.obligations, args.due, definition, args.seed)
    print(
        f"loaded {args.obligations:,} obligations and {reminders:,} reminders in "
        f"{time.perf_counter() - started:.0f} s"
    )

    first = run_job("run 1 — the window opens", names, definition, endpoint)
    second = run_job("run 2 — the same moment again", names, definition, endpoint)
    report(first, args.due)
    report(second, args.due)

    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=names.outbound_bulk_queue)["QueueUrl"]
    waiting = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    print(
        f"\nbulk queue holds {int(waiting):,} messages (one per reminder sent; due: {args.due:,})"
    )
    ok = first.run.queued == args.due and second.run.queued == 0 and int(waiting) == args.due
    print("second run sent nothing" if second.run.queued == 0 else "SECOND RUN SENT AGAIN")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
