"""`civicchat`: the operator's command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="civicchat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run",
        help="start the whole service locally: AWS emulator, app, workers, schedules and the "
        "WhatsApp simulator (configured by PORT, SIMULATOR_PORT, WHATSAPP_*, CIVICCHAT_CONFIG)",
    )
    from chalicelib import config_commands, operator_commands

    operator_commands.add_commands(commands)
    config_commands.add_commands(commands)
    from chalicelib import apikey_commands

    apikey_commands.add_commands(commands)
    from chalicelib import reminder_commands

    reminder_commands.add_commands(commands)
    from chalicelib import agent_commands

    agent_commands.add_commands(commands)
    from chalicelib import audit_commands

    audit_commands.add_commands(commands)
    from chalicelib import deploy_commands

    deploy_commands.add_commands(commands)
    from chalicelib import resident_commands

    resident_commands.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run()
    if args.command in ("dlq", "sender", "conversation"):
        return operator_commands.run(args)
    if args.command == "config":
        return config_commands.run(args)
    if args.command == "apikey":
        return apikey_commands.run(args)
    if args.command == "reminders":
        return reminder_commands.run(args)
    if args.command == "agent":
        return agent_commands.run(args)
    if args.command == "audit":
        return audit_commands.run(args)
    if args.command in ("deploy", "destroy"):
        return deploy_commands.run(args)
    if args.command == "resident":
        return resident_commands.run(args)
    parser.error(f"unknown command {args.command}")
    return 2


def run() -> int:
    from chalicelib.local_stack.stack import LocalStack, LocalStackError

    stack = LocalStack()
    stopped = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        urls = stack.start()
    except LocalStackError as error:
        print(f"civicchat: {error}", file=sys.stderr)
        stack.stop()
        return 1
    except OSError as error:
        print(f"civicchat: could not start: {error}", file=sys.stderr)
        stack.stop()
        return 1

    lines = [
        "civicchat is running locally.",
        f"  App                 {urls.app}   (health: {urls.app}/health)",
        f"  WhatsApp webhook    {urls.webhook}   (verify token: {urls.verify_token})",
    ]
    if urls.simulator:
        lines.append(f"  Resident's phone    {urls.simulator}/   <- open this and say hello")
    lines += [
        f"  Graph API           {urls.graph_api}",
        f"  AWS emulator (moto) {urls.aws_emulator}",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
    stopped.wait()
    print("civicchat: stopping…", flush=True)
    stack.stop()
    print("civicchat: stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
