"""`civicchat apikey create|list|revoke`: the keys back-office systems call `/api/v1` with.

A key is printed once, when it is created; only its SHA-256 hash is stored, so a lost key cannot
be shown again: revoke it and create another.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.command_target import add_target_arguments, stage_and_region
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
        add_target_arguments(parser)


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

    return DynamoDBApiKeyStore(stage_tables(*stage_and_region(args)))
