"""Outbound delivery benchmark: `make bench-outbound` (or `.venv/bin/python benchmarks/outbound.py`).

Starts the local stack (moto, the simulator capped at 80 msg/s, the senders), queues 2,000
template messages to 2,000 residents on the bulk queue, and waits until every one is accepted by
the simulator or parked on the dead-letter queue; then does the same with 20 % of Graph requests
failing with 5xx. Prints achieved msg/s ÷ cap, 130429/131056 refusals, messages lost, messages
sent twice and the p50/p99 time from enqueue to acceptance.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CAP = 80


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Outcome:
    label: str
    queued: int
    accepted: int
    dead_lettered: int
    lost: int  # neither accepted, nor dead-lettered, nor still on its way when the run ended
    unfinished: int  # still queued or being retried when the run ended
    sent_twice: int
    rate_refusals: dict[str, int]
    achieved_per_second: float
    busiest_second: int
    latency_p50_s: float
    latency_p99_s: float
    faults_injected: int
    elapsed_s: float


def settle(
    label: str,
    enqueued_at: dict[str, float],
    accepted: dict[str, float],
    dead: set[str],
    unfinished: int,
    stats: dict[str, Any],
    elapsed: float,
) -> Outcome:
    """The figures of one run, from when each message was queued and accepted."""
    count = len(enqueued_at)
    dead_only = dead - set(accepted)
    times = sorted(accepted.values())
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    latencies = [accepted[i] - enqueued_at[i] for i in accepted]
    return Outcome(
        label=label,
        queued=count,
        accepted=len(accepted),
        dead_lettered=len(dead_only),
        lost=count - len(accepted) - len(dead_only) - unfinished,
        unfinished=unfinished,
        sent_twice=stats["duplicates_by_callback_data"],
        rate_refusals={
            code: stats["rejected_by_code"].get(code, 0) for code in ("130429", "131056")
        },
        achieved_per_second=(len(times) - 1) / span if span else 0.0,
        busiest_second=stats["max_accepted_in_any_1s_window"],
        latency_p50_s=percentile(latencies, 0.5) if latencies else float("nan"),
        latency_p99_s=percentile(latencies, 0.99) if latencies else float("nan"),
        faults_injected=stats["faults_injected"]["total"],
        elapsed_s=elapsed,
    )


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_scenario(
    label: str, count: int, faults: dict[str, Any] | None, sim: str, timeout: float
) -> Outcome:
    import requests

    from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
    from chalicelib.domain.replies import TemplateReply, reply_to_dict
    from chalicelib.wiring import container

    requests.post(f"{sim}/_sim/reset", timeout=10).raise_for_status()
    if faults:
        requests.post(f"{sim}/_sim/faults", json=faults, timeout=10).raise_for_status()

    deps = container()
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    messages = [
        StoredMessage(
            id=f"bench-{run}-{i:05d}",
            direction=Direction.OUTBOUND,
            resident_key=f"wa:35193{i:07d}",
            conversation_id=None,
            message_type="template",
            body="document ready",
            payload=reply_to_dict(
                TemplateReply(
                    name="document_ready",
                    language="pt_PT",
                    body_params=("Maria", "Cartão de residente", "Balcão único"),
                )
            ),
            created_at=now,
            status=DeliveryStatus.QUEUED,
            status_at=now,
            recipient=f"35193{i:07d}",
            priority=Priority.BULK,
            sent_by="benchmark",
        )
        for i in range(count)
    ]
    deps.messages.add_outbound(messages)

    enqueued_at: dict[str, float] = {}
    started = time.time()
    for start in range(0, count, 10):
        chunk = [m.id for m in messages[start : start + 10]]
        deps.outbound_queue.enqueue(chunk, Priority.BULK)
        stamp = time.time()
        enqueued_at.update(dict.fromkeys(chunk, stamp))

    dead: set[str] = set()
    accepted: dict[str, float] = {}
    deadline = started + timeout
    while time.time() < deadline:
        for entry in requests.get(f"{sim}/_sim/outbox", timeout=30).json():
            callback = entry.get("biz_opaque_callback_data")
            if callback in enqueued_at:
                accepted.setdefault(callback, entry["accepted_at"])
        if len(accepted) + len(dead) >= count:
            break
        dead = {
            message_id
            for view in _dead_letters(deps)
            for message_id in view
            if message_id in enqueued_at
        }
        time.sleep(1.0)
    elapsed = time.time() - started

    stats = requests.get(f"{sim}/_sim/stats", timeout=10).json()
    requests.delete(f"{sim}/_sim/faults", timeout=10)
    in_flight = {DeliveryStatus.QUEUED, DeliveryStatus.SENDING}
    leftover = [i for i in enqueued_at if i not in accepted and i not in dead]
    unfinished = sum(1 for m in deps.messages.get_many(leftover) if m.status in in_flight)
    return settle(label, enqueued_at, accepted, dead, unfinished, stats, elapsed)


def run_lean_scenario(
    label: str, count: int, faults: dict[str, Any] | None, senders: int
) -> Outcome:
    """The sender, pacing and Graph client as in the stack, against the simulator over HTTP, with
    in-memory stores and limiter: what the pipeline achieves when the emulator's CPU cost is out
    of the way. Deferred records come back after their delay, as SQS would bring them."""
    import random

    from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
    from chalicelib.adapters.memory_stores import (
        InMemoryDatabase,
        InMemoryMessageStore,
        InMemoryOutboundQueue,
        InMemoryResidentStore,
        InMemorySenderControl,
    )
    from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
    from chalicelib.domain.pacing import number_rate, pair_rate
    from chalicelib.domain.replies import TemplateReply, reply_to_dict
    from chalicelib.observability import publish_metrics
    from chalicelib.services.send_queued_message import (
        Clock,
        Outbox,
        SendingPolicy,
    )
    from chalicelib.simulator.server import GraphApiSimulator
    from chalicelib.whatsapp.graph_api_client import GraphApiClient

    token = uuid.uuid4().hex
    simulator = GraphApiSimulator(
        port=0,
        access_token=token,
        app_secret=uuid.uuid4().hex,
        phone_number_id="100000000000001",
        templates={"document_ready": ["pt_PT"]},
        max_mps=CAP,
    )
    simulator.start()
    if faults:
        simulator.set_faults(**faults)
    database = InMemoryDatabase()
    messages = InMemoryMessageStore(database)
    dead = InMemoryOutboundQueue()
    outbox = Outbox(
        messages=messages,
        residents=InMemoryResidentStore(database),
        graph=GraphApiClient(
            base_url=simulator.graph_base_url(),
            access_token=token,
            phone_number_id="100000000000001",
        ),
        limiter=InMemoryRateLimiter(),
        control=InMemorySenderControl(),
        dead_letters=dead,
    )
    policy = SendingPolicy(
        phone_number_id="100000000000001",
        number_rate=number_rate(CAP),
        pair_rate=pair_rate(),
        reopen_template_codes=None,
        default_language="pt",
    )
    clock = Clock(now=lambda: datetime.now(UTC), sleep=time.sleep, jitter=random.random)
    now = datetime.now(UTC)
    template = reply_to_dict(
        TemplateReply(name="document_ready", language="pt_PT", body_params=("a", "b", "c"))
    )
    ids = [f"lean-{i:05d}" for i in range(count)]
    messages.add_outbound(
        [
            StoredMessage(
                id=message_id,
                direction=Direction.OUTBOUND,
                resident_key=f"wa:35194{i:07d}",
                conversation_id=None,
                message_type="template",
                body="",
                payload=template,
                created_at=now,
                status=DeliveryStatus.QUEUED,
                status_at=now,
                recipient=f"35194{i:07d}",
                priority=Priority.BULK,
                sent_by="benchmark",
            )
            for i, message_id in enumerate(ids)
        ]
    )
    started = time.time()
    enqueued_at = dict.fromkeys(ids, started)
    # publish_metrics: as the app's middleware does once per invocation
    send_in_threads(
        ids, outbox=outbox, policy=policy, clock=clock, senders=senders, after_each=publish_metrics
    )
    elapsed = time.time() - started
    stats = simulator.stats()
    accepted = {
        entry["biz_opaque_callback_data"]: entry["accepted_at"]
        for entry in simulator.outbox()
        if entry.get("biz_opaque_callback_data") in enqueued_at
    }
    simulator.stop()
    dead_ids = {message_id for message_id, _, _ in dead.dead_lettered}
    # The lean run ends only when every message is settled: nothing is still in flight.
    return settle(label, enqueued_at, accepted, dead_ids, 0, stats, elapsed)


def send_in_threads(
    ids: list[str],
    *,
    outbox: Any,
    policy: Any,
    clock: Any,
    senders: int,
    after_each: Callable[[], object] = lambda: None,
) -> None:
    """Send the queued messages `ids` on the bulk queue with `senders` bulk senders at once, in
    this process; a message the sender defers (RetryLaterError) comes back after its delay, as
    SQS would bring it. Returns once every message was sent or given up on."""
    import heapq
    import threading

    from chalicelib.domain.messages import Priority
    from chalicelib.services.send_queued_message import RetryLaterError, send_queued_messages

    start = time.time()
    due: list[tuple[float, str]] = [(start, message_id) for message_id in ids]
    lock = threading.Lock()

    def sender() -> None:
        while True:
            with lock:
                if not due:
                    return
                at, message_id = heapq.heappop(due)
            if at > time.time():
                time.sleep(min(at - time.time(), 0.05))
                with lock:
                    heapq.heappush(due, (at, message_id))
                continue
            try:
                send_queued_messages(
                    [message_id], outbox=outbox, policy=policy, clock=clock, priority=Priority.BULK
                )
            except RetryLaterError as later:
                with lock:
                    heapq.heappush(due, (time.time() + later.delay_seconds, message_id))
            finally:
                after_each()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _dead_letters(deps: Any) -> list[tuple[str, ...]]:
    from chalicelib.adapters.sqs_queues import SqsDeadLetterQueue
    from chalicelib.domain.messages import Priority

    names = deps.settings.names
    queue = SqsDeadLetterQueue(
        names.dead_letter_queue(names.outbound_replies_queue),
        names.dead_letter_queue(names.outbound_bulk_queue),
    )
    return [letter.message_ids for letter in queue.peek(Priority.BULK, 10_000)]


def report(outcome: Outcome) -> None:
    print(f"\n{outcome.label}")
    print(
        f"  queued {outcome.queued}, accepted {outcome.accepted}, dead-lettered {outcome.dead_lettered}"
    )
    print(
        f"  lost {outcome.lost}, sent twice {outcome.sent_twice}, still in flight at the end "
        f"{outcome.unfinished}, injected faults {outcome.faults_injected}"
    )
    print(
        f"  achieved {outcome.achieved_per_second:.1f} msg/s = {outcome.achieved_per_second / CAP:.2f} × cap"
        f" (busiest sliding second: {outcome.busiest_second}, cap {CAP})"
    )
    print(
        f"  refusals: 130429 × {outcome.rate_refusals['130429']}, "
        f"131056 × {outcome.rate_refusals['131056']}"
    )
    print(
        f"  enqueue → accepted: p50 {outcome.latency_p50_s:.2f} s, p99 {outcome.latency_p99_s:.2f} s"
        f"   (whole run {outcome.elapsed_s:.1f} s)"
    )


def run_lean(args: argparse.Namespace, faults: dict[str, Any]) -> None:
    print(json.dumps({"messages": args.messages, "cap": CAP, "senders": args.concurrency}))
    print("Pipeline without the emulator (sender, pacing, Graph client → simulator over HTTP):")
    report(run_lean_scenario("Clean run (lean)", args.messages, None, args.concurrency))
    report(
        run_lean_scenario(
            f"With {args.fault_rate:.0%} injected 5xx faults (lean)",
            args.messages,
            faults,
            args.concurrency,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument(
        "--concurrency", type=int, default=6, help="sender copies (Lambda concurrency)"
    )
    parser.add_argument("--lean-only", action="store_true", help="skip the whole-stack runs")
    parser.add_argument("--stack-only", action="store_true", help="skip the lean runs")
    parser.add_argument(
        "--stack-messages", type=int, default=300, help="messages for each whole-stack run"
    )
    args = parser.parse_args()

    import logging

    os.environ.update(
        {
            "PORT": str(free_port()),
            "SIMULATOR_PORT": str(free_port()),
            "AWS_EMULATOR_PORT": str(free_port()),
            "CIVICCHAT_STAGE": f"bench{uuid.uuid4().hex[:6]}",
            "LOCAL_WORKER_CONCURRENCY": str(args.concurrency),
            "WHATSAPP_MAX_MPS": str(CAP),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "LOG_LEVEL": "ERROR",
        }
    )
    from chalicelib.local_stack.stack import LocalStack
    from chalicelib.observability import logger

    logger.setLevel("ERROR")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    faults = {"server_error_rate": args.fault_rate, "seed": 7}
    if not args.stack_only:
        run_lean(args, faults)
    if args.lean_only:
        return
    print("\nThe whole local stack (moto, SQS workers, status webhooks) on this machine:")
    stack = LocalStack()
    urls = stack.start()
    try:
        sim = urls.simulator or ""
        count = args.stack_messages
        print(json.dumps({"messages": count, "cap": CAP, "senders per queue": args.concurrency}))
        timeout = count / 5 + 120  # the emulator, not the pacing, sets the pace here
        report(run_scenario("Clean run", count, None, sim, timeout))
        report(
            run_scenario(
                f"With {args.fault_rate:.0%} injected 5xx faults",
                count,
                faults,
                sim,
                timeout * 2,
            )
        )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
