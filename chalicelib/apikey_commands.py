"""`civicchat apikey create|list|revoke`: the keys back-office systems call `/api/v1` with.

A key is printed once, when it is created; only its SHA-256 hash is stored, so a lost key cannot
be shown again: revoke it and create another.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.api_keys import SCOPES


def add_commands(commands: Any) -> None:
    apikey = commands.add_parser("apikey", help="API keys of back-office systems (/api/v1)")
    actions = apikey.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who will use it, e.g. tax-office")
    create.add_argument(
        "--scopes",
        required=True,
        help="comma-separated, from: " + ", ".join(sorted(SCOPES)),
    )
    listing = actions.add_parser("list", help="list keys (names, scopes, dates; never the keys)")
    revoke = actions.add_parser("revoke", help="revoke the active key with this name")
    revoke.add_argument("--name", required=True)
    for parser in (create, listing, revoke):
        parser.add_argument("--stage", default=os.environ.get("CIVICCHAT_STAGE", "prod"))
        parser.add_argument(
            "--local",
            action="store_true",
            help="the stack `make run` started (its AWS emulator on AWS_EMULATOR_PORT)",
        )


def run(args: argparse.Namespace, out: Callable[[str], None] = print, store: Any = None) -> int:
    """`store`: an ApiKeyStore to use instead of the stage's table (tests)."""
    from chalicelib.services.api_keys import ApiKeyError, create_api_key, parse_scopes

    store = store if store is not None else _store(args)
    now = datetime.now(UTC)
    if args.action == "create":
        try:
            created = create_api_key(store, args.name, parse_scopes(args.scopes), now)
        except ApiKeyError as error:
            out(f"civicchat: {error}")
            return 2
        out(f"API key for {created.key.name} ({', '.join(sorted(created.key.scopes))}):")
        out("")
        out(f"    {created.secret}")
        out("")
        out("Store it now: it is kept only as a hash and cannot be shown again.")
        out("Send it as the header  Authorization: Bearer <key>")
        return 0
    if args.action == "revoke":
        if store.revoke(args.name, now):
            out(f"API key {args.name} revoked")
            return 0
        out(f"civicchat: no active API key named {args.name}")
        return 1
    keys = store.list()
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        out(
            f"{key.name}\t{','.join(sorted(key.scopes))}\t"
            f"created {key.created_at:%Y-%m-%d %H:%M}\t{state}"
        )
    out(f"{len(keys)} API key(s)")
    return 0


def _store(args: argparse.Namespace) -> Any:
    from chalicelib.adapters.dynamodb_api_key_store import DynamoDBApiKeyStore
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.resource_names import ResourceNames

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    stage = args.stage
    if args.local:
        from chalicelib.local_stack.stack import (
            DEFAULT_EMULATOR_PORT,
            FAKE_AWS_CREDENTIALS,
            LOCAL_STAGE,
        )

        port = os.environ.get("AWS_EMULATOR_PORT", str(DEFAULT_EMULATOR_PORT))
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        os.environ.update(FAKE_AWS_CREDENTIALS)
        os.environ.setdefault("AWS_DEFAULT_REGION", region)
        stage = LOCAL_STAGE
    return DynamoDBApiKeyStore(stage_tables(ResourceNames(stage), region))
