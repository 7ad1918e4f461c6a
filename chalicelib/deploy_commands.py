"""`civicchat deploy` / `civicchat destroy`: a stage in the AWS account of the user's standard
credentials (AWS_PROFILE or --profile, AWS_REGION or --region). The work is in infra/deploy.py
and infra/destroy.py; this module reads the command line, the environment and the terminal."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any


def add_commands(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="deploy (or update in place) a stage into your AWS account: secrets, code, "
        "tables, queues, API, alarms",
    )
    _aws_arguments(deploy)
    deploy.add_argument(
        "--config",
        help="the municipality's YAML (default: CIVICCHAT_CONFIG, else the bundled example town)",
    )
    deploy.add_argument(
        "--admin-email",
        default=os.environ.get("CIVICCHAT_ADMIN_EMAIL") or None,
        help="the console's first administrator, made on the first deploy with a temporary "
        "password shown once (required the first time; default: CIVICCHAT_ADMIN_EMAIL)",
    )
    deploy.add_argument(
        "--alarm-email",
        help="where alarms are e-mailed (default: as deployed before, else --admin-email)",
    )
    secrets = deploy.add_argument_group(
        "WhatsApp secrets",
        "each from its option, else WHATSAPP_ACCESS_TOKEN, WHATSAPP_APP_SECRET, "
        "WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_VERIFY_TOKEN, else as stored by an earlier deploy, "
        "else asked in the terminal (options stay in your shell history: prefer the prompt)",
    )
    secrets.add_argument("--access-token", help="a System User's permanent token")
    secrets.add_argument("--app-secret", help="App settings > Basic > App secret")
    secrets.add_argument("--phone-number-id", help="WhatsApp > API Setup > Phone number ID")
    secrets.add_argument(
        "--verify-token", help="the webhook's verify token (default: made up on the first deploy)"
    )
    deploy.add_argument(
        "--skip-meta-check",
        action="store_true",
        help="do not ask Meta's Graph API whether the token reaches the phone number",
    )
    # Test seam (see infra.deploy.DeployRequest.emulator_template): not for operators.
    deploy.add_argument("--emulator-template", action="store_true", help=argparse.SUPPRESS)

    destroy = commands.add_parser(
        "destroy",
        help="delete a stage from your AWS account; its tables, media and agents' sign-ins "
        "are kept unless --delete-data",
    )
    _aws_arguments(destroy)
    destroy.add_argument(
        "--delete-data",
        action="store_true",
        help="also delete the residents' data (tables, media bucket) and the agents' user pool",
    )
    destroy.add_argument(
        "--yes", action="store_true", help="do not ask to type the stage name to confirm"
    )


def _aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default=os.environ.get("CIVICCHAT_STAGE", "prod"))
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, else default)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, else the profile's)")


def run(args: argparse.Namespace) -> int:
    from infra.deploy import Console

    if args.profile:
        # Every SDK client of this process then uses it, PynamoDB's (first admin) included.
        os.environ["AWS_PROFILE"] = args.profile
    interactive = sys.stdin.isatty()
    console = Console(
        out=lambda line: print(line, flush=True),
        err=lambda line: print(line, file=sys.stderr, flush=True),
        ask=_ask if interactive else None,
        confirm=input if interactive else None,
    )
    try:
        if args.command == "deploy":
            return _deploy(args, console)
        return _destroy(args, console)
    except KeyboardInterrupt:
        console.err(
            f"\ncivicchat {args.command}: interrupted. Whatever CloudFormation had started "
            "carries on: see the stack in the AWS console, and run this again when it is done."
        )
        return 130


def _deploy(args: argparse.Namespace, console: Any) -> int:
    from infra.deploy import DeployRequest, deploy
    from infra.deploy_preflight import SECRET_FLAGS

    request = DeployRequest(
        **_target(args),
        config=args.config,
        secret_flags={
            field: getattr(args, flag.removeprefix("--").replace("-", "_"))
            for field, flag in SECRET_FLAGS.items()
        },
        admin_email=args.admin_email,
        alarm_email=args.alarm_email,
        meta_check=not args.skip_meta_check,
        emulator_template=args.emulator_template,
    )
    return deploy(request, os.environ, console)


def _destroy(args: argparse.Namespace, console: Any) -> int:
    from infra.destroy import DestroyRequest, destroy

    request = DestroyRequest(
        **_target(args),
        delete_data=args.delete_data,
        yes=args.yes,
    )
    return destroy(request, os.environ, console)


def _target(args: argparse.Namespace) -> dict[str, Any]:
    """What both requests take from `_aws_arguments`."""
    return {"stage": args.stage, "profile": args.profile, "region": args.region}


def _ask(prompt: str, secret: bool) -> str:
    return getpass.getpass(prompt) if secret else input(prompt)
