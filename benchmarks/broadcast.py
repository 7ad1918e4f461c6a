"""Broadcast benchmark: `make bench-broadcast` (or `.venv/bin/python benchmarks/broadcast.py`).

1,000 residents, 100 of whom left the topic and 10 of whom sent STOP; one broadcast to the
topic through the real job (`services.broadcasts.run_broadcasts`) and the real bulk sender with
its pacing, the Graph client and the WhatsApp simulator over HTTP (capped at 80 msg/s). Stores,
queue and rate limiter are the in-memory twins, so that the pipeline, not an emulator's CPU,
sets the pace (tests/app/test_broadcasts.py runs the same on moto). Prints messages/s reached,
the busiest second, 130429/131056 refusals, duplicates and recipients outside the audience.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CAP = 80


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=8, help="bulk senders at once")
    args = parser.parse_args()
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # the figures below, not metric lines

    from benchmarks.outbound import send_in_threads
    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.adapters.memory_broadcast_store import (
        InMemoryAudienceSource,
        InMemoryBroadcastStore,
        InMemoryDailyBudget,
    )
    from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
    from chalicelib.adapters.memory_stores import (
        InMemoryDatabase,
        InMemoryMessageStore,
        InMemoryOutboundQueue,
        InMemoryResidentStore,
        InMemorySenderControl,
    )
    from chalicelib.domain.pacing import number_rate, pair_rate
    from chalicelib.local_stack.stack import approved_templates
    from chalicelib.observability import logger, publish_metrics
    from chalicelib.services.broadcast_input import read_broadcast
    from chalicelib.services.broadcast_ports import BroadcastPorts
    from chalicelib.services.broadcasts import create_broadcast, get_broadcast, run_broadcasts
    from chalicelib.services.send_queued_message import Clock, Outbox, SendingPolicy
    from chalicelib.settings import BUNDLED_CONFIG
    from chalicelib.simulator.server import GraphApiSimulator
    from chalicelib.whatsapp.graph_api_client import GraphApiClient
    from tests.broadcast_support import town_of

    logger.setLevel("WARNING")
    definition = load_municipality_file(BUNDLED_CONFIG)
    unsubscribed, stopped = args.residents // 10, args.residents // 100
    people = town_of(args.residents, unsubscribed=unsubscribed, stopped=stopped)
    database = InMemoryDatabase()
    for one in people["all"]:
        database.residents[one.key] = one
    messages = InMemoryMessageStore(database)
    queue = InMemoryOutboundQueue()
    store = InMemoryBroadcastStore(database)
    ports = BroadcastPorts(
        broadcasts=store,
        audience=InMemoryAudienceSource(database),
        budget=InMemoryDailyBudget(),
        messages=messages,
        outbound=queue,
    )
    now = datetime.now(UTC)
    body = {"name": "bench", "template": "town_news", "topic": "waste", "params": ["Bench"]}
    draft = read_broadcast(body, definition, now)
    broadcast = create_broadcast(
        draft,
        definition=definition,
        residents=ports.audience,
        broadcasts=store,
        created_by="cli:bench",
        now=now,
        new_id=lambda: "0" * 32,
    )

    with GraphApiSimulator(
        port=0,
        access_token="bench",  # noqa: S106 (the simulator's own)
        app_secret="bench",  # noqa: S106
        phone_number_id="100000000000001",
        templates=approved_templates(definition),
        max_mps=CAP,
        status_delay_seconds=3600,  # no status webhooks: nothing listens
    ) as simulator:
        graph = GraphApiClient(
            base_url=simulator.graph_base_url(),
            access_token="bench",  # noqa: S106 (the simulator's own)
            phone_number_id="100000000000001",
        )
        outbox = Outbox(
            messages=messages,
            residents=InMemoryResidentStore(database),
            graph=graph,
            limiter=InMemoryRateLimiter(),
            control=InMemorySenderControl(),
            dead_letters=queue,
            broadcasts=store,
        )
        policy = SendingPolicy(
            phone_number_id="100000000000001",
            number_rate=number_rate(CAP),
            pair_rate=pair_rate(),
            reopen_template_codes=None,
            default_language=definition.default_language,
        )
        clock = Clock(now=lambda: datetime.now(UTC), sleep=time.sleep, jitter=lambda: 0.5)

        started = time.monotonic()
        run = run_broadcasts(now, definition=definition, ports=ports, clock=time.monotonic)
        queued_in = time.monotonic() - started
        send_in_threads(
            [message_id for message_id, _ in queue.drain()],
            outbox=outbox,
            policy=policy,
            clock=clock,
            senders=args.senders,
            after_each=publish_metrics,  # as the app's middleware does (disabled above)
        )
        stats = simulator.stats()
        outbox_items = simulator.outbox()

    run_broadcasts(datetime.now(UTC), definition=definition, ports=ports, clock=time.monotonic)
    final = get_broadcast(broadcast.id, broadcasts=store)
    first, last = stats["first_accepted_at"], stats["last_accepted_at"]
    span = (last - first) if first and last and last > first else float("nan")
    reached = collections.Counter(item["to"] for item in outbox_items)
    excluded = {one.wa_id for one in people["excluded"]}
    print(
        f"residents {args.residents}, audience {broadcast.estimate.audience}, senders {args.senders}"
    )
    print(f"job: queued {run.queued} in {queued_in:.2f} s ({run.segments} scan segments)")
    print(
        f"sent {stats['accepted']} in {span:.1f} s: {(stats['accepted'] - 1) / span:.1f} msg/s "
        f"(cap {CAP}, paced at 95 %); busiest second {stats['max_accepted_in_any_1s_window']}"
    )
    refused = stats["rejected_by_code"]
    print(
        f"refusals 130429={refused['130429']} 131056={refused['131056']}; duplicates "
        f"{stats['duplicates_by_callback_data']}; outside the audience {len(set(reached) & excluded)}"
    )
    report = final.report
    print(
        f"status {final.status.value}; report reached {report.reached if report else '-'} "
        f"of {len(people['expected'])} expected"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
