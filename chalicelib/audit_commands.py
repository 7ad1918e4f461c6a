"""`civicchat audit --phone … | --recent`: read a stage's audit log (docs/audit.md) with the
operator's own AWS credentials — who viewed, exported, erased or messaged a resident's data.

The resident is named by their pseudonym, made with the stage's pseudonym key: the one
`civicchat deploy` stored in SSM Parameter Store (CIVICCHAT_PSEUDONYM_KEY only for a stage with
none stored; a different one is refused). `stage_pseudonym_key` is also what other operator
commands (data rights) use to record events.

Errors go to stderr: 2 for what was given wrong (a number, a cursor, the key), as argparse does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.command_target import add_target_arguments, stage_and_region
from chalicelib.resource_names import SECRET_PARAMETERS, ResourceNames


class PseudonymKeyMissingError(Exception):
    pass


def add_commands(commands: Any) -> None:
    audit = commands.add_parser(
        "audit", help="who viewed, exported, erased or messaged a resident's data"
    )
    which = audit.add_mutually_exclusive_group(required=True)
    which.add_argument("--phone", help="the resident's number, e.g. +351912345678")
    which.add_argument("--recent", action="store_true", help="everyone's latest, newest first")
    audit.add_argument("--limit", type=_limit, default=None, help="how many (default 100 / 50)")
    audit.add_argument("--cursor", help="with --recent: the next page, as the last one said")
    add_target_arguments(audit)


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    from chalicelib.services.audit_ports import (
        RECENT_LIMIT,
        RESIDENT_LIMIT,
        InvalidAuditCursorError,
    )
    from chalicelib.services.phone_input import InvalidPhoneError, resident_key_for_phone

    try:
        trail = _stage_trail(args)
    except PseudonymKeyMissingError as error:
        return _fail(str(error))
    if args.phone is not None:
        try:
            resident_key = resident_key_for_phone(args.phone, _region())
        except InvalidPhoneError as error:
            return _fail(f"--phone {args.phone!r} {error}")
        found = trail.for_resident(resident_key, limit=args.limit or RESIDENT_LIMIT)
        out(f"resident {found.resident_ref}: {len(found.events)} event(s), newest first")
        for event in found.events:
            out(_line(event))
        return 0
    try:
        events, cursor = trail.recent(limit=args.limit or RECENT_LIMIT, cursor=args.cursor)
    except InvalidAuditCursorError:
        return _fail(f"--cursor {args.cursor!r} is not a cursor of the audit log")
    for event in events:
        out(f"{_line(event)}\tresident {event.resident_ref}")
    out(f"{len(events)} event(s)" + (f"; next page: --cursor {cursor}" if cursor else ""))
    return 0


def stage_pseudonym_key(
    names: ResourceNames,
    region: str,
    environ: Mapping[str, str] | None = None,
    *,
    stored: Mapping[str, str] | None = None,
) -> bytes:
    """The stage's pseudonym key, the one its functions use: the key `civicchat deploy` stored
    in SSM under the stage's secrets path (read with the operator's credentials, or given as
    `stored`, what `read_secrets` returned). CIVICCHAT_PSEUDONYM_KEY is used only for a stage
    that has none stored; set to another key than the stored one, it is refused — pseudonyms
    made with it would name nobody the stage knows. Raises PseudonymKeyMissingError."""
    from chalicelib.adapters.ssm_secrets import SecretsUnavailableError, read_secrets
    from chalicelib.settings import PSEUDONYM_KEY_VARIABLE

    environ = os.environ if environ is None else environ
    given = environ.get(PSEUDONYM_KEY_VARIABLE, "").strip()
    parameter = f"{names.secrets_path}{SECRET_PARAMETERS['pseudonym_key']}"
    if stored is None:
        try:
            stored = read_secrets(names.secrets_path, region=region)
        except SecretsUnavailableError as error:
            raise PseudonymKeyMissingError(
                f"cannot read the pseudonym key {parameter}: {error}"
            ) from error
    kept = str(stored.get("pseudonym_key", "")).strip()
    if kept and given and given != kept:
        raise PseudonymKeyMissingError(
            f"{PSEUDONYM_KEY_VARIABLE} is not the pseudonym key stage {names.stage} uses "
            f"({parameter}): unset it, and the stored key is used"
        )
    if kept or given:
        return (kept or given).encode()
    raise PseudonymKeyMissingError(
        f"stage {names.stage} has no pseudonym key ({parameter}): deploy it with "
        f"`civicchat deploy`, or set {PSEUDONYM_KEY_VARIABLE}"
    )


def _fail(message: str) -> int:
    """What was given is wrong: say so on stderr, exit 2."""
    print(f"civicchat: {message}", file=sys.stderr)
    return 2


def _stage_trail(args: argparse.Namespace) -> Any:
    from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.services.audit_trail import AuditTrail

    names, region = stage_and_region(args)
    key = stage_pseudonym_key(names, region)
    return AuditTrail(DynamoDBAuditLog(stage_tables(names, region)), key)


def _region() -> str:
    from chalicelib.command_target import municipality
    from chalicelib.services.back_office_input import default_region

    return default_region(municipality())


def _line(event: Any) -> str:
    from chalicelib.domain.inbox import sortable_time

    counts = ", ".join(f"{k} {v}" for k, v in sorted((event.counts or {}).items()))
    detail = event.detail or ""
    if counts:
        detail = f"{detail} ({counts})" if detail else counts
    return f"{sortable_time(event.at)}\t{event.actor}\t{event.action.value}\t{detail}"


def _limit(raw: str) -> int:
    from chalicelib.services.audit_ports import MAX_LIMIT

    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_LIMIT}")
    return int(raw)
