"""`civicchat reminders run --at 2026-12-01T09:00:00Z [--local | --stage S]`: run the reminders
job for a given moment, on a deployed stage or on the stack `make run` started, and print what
it did. Operators re-run a window with it; tests use it to choose the moment.

Running it for a moment before the last run's reads that moment's slot again (nothing is sent
twice); running it for a later moment catches up from the last run, like the scheduled job.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.command_target import add_target_arguments, municipality, stage_and_region


def add_commands(commands: Any) -> None:
    reminders = commands.add_parser("reminders", help="the reminders and notifications job")
    actions = reminders.add_subparsers(dest="action", required=True)
    run_parser = actions.add_parser(
        "run", help="send what is due at a moment (default: now) and print the counts"
    )
    run_parser.add_argument(
        "--at",
        type=moment,
        default=None,
        help="the moment to run for, with its zone: 2026-12-01T09:00:00Z (default: now)",
    )
    add_target_arguments(run_parser)


def moment(text: str) -> datetime:
    """An ISO 8601 moment with a zone ("Z" or "+01:00"), as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a moment like 2026-12-01T09:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no zone: add Z for UTC")
    return value.astimezone(UTC)


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.adapters.dynamodb_reminder_stores import (
        DynamoDBNotificationStore,
        DynamoDBObligationStore,
        DynamoDBReminderSchedule,
    )
    from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore
    from chalicelib.adapters.sqs_queues import SqsOutboundQueue
    from chalicelib.services.run_reminders import run_reminders

    names, region = stage_and_region(args)
    tables = stage_tables(names, region)
    definition = municipality()
    now = datetime.now(UTC)
    result = run_reminders(
        args.at or now,
        definition=definition,
        schedule=DynamoDBReminderSchedule(tables),
        notifications=DynamoDBNotificationStore(tables, retention=lambda: definition.retention),
        obligations=DynamoDBObligationStore(tables, retention=lambda: definition.retention),
        messages=DynamoDBMessageStore(tables, retention=lambda: definition.retention),
        outbound=SqsOutboundQueue(
            names.outbound_replies_queue, names.outbound_bulk_queue, region_name=region
        ),
        now=now,
    )
    reasons = ", ".join(f"{r}: {n}" for r, n in sorted(result.skipped_by_reason.items()))
    out(f"reminders run at {result.at:%Y-%m-%dT%H:%M:%SZ} on stage {names.stage}")
    out(f"  slots read     {result.slots} ({result.first_slot} to {result.last_slot})")
    out(f"  items read     {result.items_read}")
    out(f"  queued         {result.queued}")
    out(f"  skipped        {result.skipped}" + (f" ({reasons})" if reasons else ""))
    out(f"  moved          {result.moved}")
    out(f"  lost claims    {result.lost_claims}")
    if result.failed:
        out(f"  failed         {result.failed} (see the log)")
    if result.not_caught_up:
        out(f"  not caught up  {result.not_caught_up} slot(s) older than the catch-up limit")
    return 0
