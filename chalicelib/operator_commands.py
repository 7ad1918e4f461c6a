"""Operator commands on a deployed stage, or on the stack `make run` started (`--local`):
the dead-letter queues, the sender's pause switch, and resolving a resident's conversation."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from chalicelib.command_target import add_target_arguments, municipality, stage_and_region
from chalicelib.domain.messages import Priority
from chalicelib.resource_names import ResourceNames

QUEUES = {"replies": Priority.REPLY, "bulk": Priority.BULK}


def add_commands(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="list or replay messages the senders gave up on")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    listing = dlq_actions.add_parser("list", help="show parked messages and why")
    replay = dlq_actions.add_parser("replay", help="queue parked messages again")
    replay.add_argument("--message-id", action="append", default=[], dest="message_ids")
    for parser in (listing, replay):
        parser.add_argument("--queue", choices=sorted(QUEUES), default="replies")
        _target_arguments(parser)

    sender = commands.add_parser("sender", help="the sender's pause switch")
    sender_actions = sender.add_subparsers(dest="action", required=True)
    for action in ("status", "resume"):
        _target_arguments(sender_actions.add_parser(action))

    conversation = commands.add_parser("conversation", help="a resident's current conversation")
    conversation_actions = conversation.add_subparsers(dest="action", required=True)
    resolve = conversation_actions.add_parser(
        "resolve", help="resolve it (and ask the resident to rate it, if the config says so)"
    )
    resolve.add_argument("--phone", required=True, help="the resident's WhatsApp number (wa_id)")
    resolve.add_argument("--by", default="operator", help="who resolved it, for the log")
    _target_arguments(resolve)


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--phone-number-id", default=os.environ.get("WHATSAPP_PHONE_NUMBER_ID", ""))


@dataclass
class Target:
    """Where the commands act: AWS through the user's credentials, or the local emulator."""

    names: ResourceNames
    region: str
    phone_number_id: str

    @cached_property
    def tables(self) -> Any:
        from chalicelib.adapters.dynamodb_models import stage_tables

        return stage_tables(self.names, self.region)

    def retention(self) -> Any:
        """The config's `retention:`, stamped on what the commands store (see store_rules)."""
        from chalicelib.command_target import municipality

        return municipality().retention

    @cached_property
    def messages(self) -> Any:
        from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore

        return DynamoDBMessageStore(self.tables, retention=self.retention)

    @cached_property
    def control(self) -> Any:
        from chalicelib.adapters.dynamodb_sender_control import DynamoDBSenderControl

        return DynamoDBSenderControl(self.tables)

    @cached_property
    def residents(self) -> Any:
        from chalicelib.adapters.dynamodb_stores import DynamoDBResidentStore

        return DynamoDBResidentStore(self.tables, retention=self.retention)

    @cached_property
    def dead_letters(self) -> Any:
        from chalicelib.adapters.sqs_queues import SqsDeadLetterQueue

        n = self.names
        return SqsDeadLetterQueue(
            n.dead_letter_queue(n.outbound_replies_queue),
            n.dead_letter_queue(n.outbound_bulk_queue),
            region_name=self.region,
        )

    @cached_property
    def console_ports(self) -> Any:
        """What the console's actions need; the operator acts through them too."""
        from chalicelib.adapters.dynamodb_console_stores import (
            DynamoDBAgentStore,
            DynamoDBConsoleConversationStore,
        )
        from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBObligationStore
        from chalicelib.adapters.dynamodb_ticket_store import DynamoDBTicketStore
        from chalicelib.services.console_context import ConsolePorts

        return ConsolePorts(
            agents=DynamoDBAgentStore(self.tables),
            conversations=DynamoDBConsoleConversationStore(self.tables, retention=self.retention),
            residents=self.residents,
            messages=self.messages,
            tickets=DynamoDBTicketStore(self.tables),
            obligations=DynamoDBObligationStore(self.tables, retention=self.retention),
            outbound=self.outbound,
        )

    @cached_property
    def outbound(self) -> Any:
        from chalicelib.adapters.sqs_queues import SqsOutboundQueue

        n = self.names
        return SqsOutboundQueue(
            n.outbound_replies_queue, n.outbound_bulk_queue, region_name=self.region
        )


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    target = _target(args)
    if args.command == "dlq":
        return _dlq(args, target, out)
    if args.command == "conversation":
        return _resolve(args, target, out)
    return _sender(args, target, out)


def _target(args: argparse.Namespace) -> Target:
    names, region = stage_and_region(args)
    phone_number_id = args.phone_number_id
    if args.local and not phone_number_id:
        from chalicelib.local_stack.stack import LOCAL_PHONE_NUMBER_ID

        phone_number_id = LOCAL_PHONE_NUMBER_ID
    return Target(names, region, phone_number_id)


def _dlq(args: argparse.Namespace, target: Target, out: Callable[[str], None]) -> int:
    from chalicelib.services.dead_letters import list_dead_letters, replay_dead_letters

    priority = QUEUES[args.queue]
    if args.action == "list":
        views = list_dead_letters(target.dead_letters, target.messages, priority)
        for view in views:
            for message in view.messages or ():
                out(
                    f"{message.id}\t{message.status}\tattempts={message.attempts}\t"
                    f"{view.letter.reason}"
                )
            if not view.messages:
                out(f"{','.join(view.letter.message_ids)}\t(not stored)\t{view.letter.reason}")
        out(f"{len(views)} parked on the {args.queue} dead-letter queue")
        return 0
    replayed = replay_dead_letters(
        target.dead_letters,
        target.messages,
        target.outbound,
        priority,
        datetime.now(UTC),
        only=args.message_ids,
    )
    out(f"{len(replayed)} message(s) queued again: {' '.join(replayed)}".rstrip(": "))
    return 0


def _sender(args: argparse.Namespace, target: Target, out: Callable[[str], None]) -> int:
    if not target.phone_number_id:
        out("civicchat: give --phone-number-id or set WHATSAPP_PHONE_NUMBER_ID")
        return 2
    if args.action == "resume":
        target.control.resume(target.phone_number_id)
        out(f"sender for {target.phone_number_id} resumed")
        return 0
    reason = target.control.paused_reason(target.phone_number_id)
    out(f"sender for {target.phone_number_id}: " + (f"PAUSED — {reason}" if reason else "running"))
    return 0


def _resolve(args: argparse.Namespace, target: Target, out: Callable[[str], None]) -> int:
    from chalicelib.services.resolve_conversation import resolve_conversation

    phone = "".join(ch for ch in args.phone if ch.isdigit())
    definition = municipality()
    resolution = resolve_conversation(
        f"wa:{phone}",
        resolved_by=args.by,
        definition=definition,
        ports=target.console_ports,
        now=datetime.now(UTC),
        new_id=lambda: uuid.uuid4().hex,
    )
    if resolution.conversation_id is None:
        out(f"no conversation with {args.phone}")
        return 1
    asked = "; satisfaction question sent" if resolution.csat_asked else ""
    out(f"conversation {resolution.conversation_id} resolved{asked}")
    return 0
