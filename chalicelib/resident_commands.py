"""`civicchat resident export --phone +351… [--out FILE]` and `civicchat resident erase --phone …
[--yes]`: a resident's data rights on a deployed stage (`--stage`, the operator's own AWS
credentials) or on the stack `make run` started (`--local`). See docs/data-rights.md.

Both are recorded in the audit log as the operator (`cli:<OS user>`). `erase` asks for the
number again unless `--yes`; running it twice is harmless (the second says when the first was).
The stage's secrets (the pseudonym key, the business number's id for its pacing items) are read
from SSM once per command.

Errors go to stderr (stdout may be the export): exit 2 for what was given wrong (the number, the
confirmation), 1 when nothing is kept about the number.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.command_target import add_target_arguments, municipality, stage_and_region

if TYPE_CHECKING:
    from chalicelib.resource_names import ResourceNames
    from chalicelib.services.resident_data import DataRightsPorts


def add_commands(commands: Any) -> None:
    resident = commands.add_parser(
        "resident", help="a resident's data rights: export or erase everything kept about them"
    )
    actions = resident.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="print everything kept about a resident as JSON")
    export.add_argument("--phone", required=True, help="their number, e.g. +351912345678")
    export.add_argument("--out", type=Path, help="write the JSON to this file (default: stdout)")
    add_target_arguments(export)
    erase = actions.add_parser(
        "erase", help="delete everything kept about a resident (keeps an erasure record)"
    )
    erase.add_argument("--phone", required=True, help="their number, e.g. +351912345678")
    erase.add_argument("--yes", action="store_true", help="do not ask for the number again")
    add_target_arguments(erase)


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    from chalicelib.domain.audit import cli_actor
    from chalicelib.services.back_office_input import default_region
    from chalicelib.services.phone_input import InvalidPhoneError, resident_key_for_phone
    from chalicelib.services.resident_data import (
        ResidentNotFoundError,
        erase_resident,
        export_resident,
    )

    def fail(message: str, code: int = 2) -> int:
        print(f"civicchat: {message}", file=sys.stderr)
        return code

    region_of_numbers = default_region(municipality())

    def key_of(phone: str) -> str:
        return resident_key_for_phone(phone, region_of_numbers)

    try:
        key = key_of(args.phone)
    except InvalidPhoneError as error:
        return fail(f"--phone {error}")
    digits = key.removeprefix("wa:")
    names, region = stage_and_region(args)
    actor = cli_actor(getpass.getuser())
    now = datetime.now(UTC)
    if args.action == "erase" and not args.yes:
        answer = input(
            f"Erase everything kept about +{digits} on stage {names.stage}? "
            "Type the number again to confirm: "
        )
        try:
            confirmed = key_of(answer) == key
        except InvalidPhoneError:
            confirmed = False
        if not confirmed:
            return fail("the number typed does not match: nothing erased")
    ports = data_rights_ports(names, region)
    try:
        if args.action == "export":
            document = export_resident(key, ports=ports, actor=actor, now=now, recipient=digits)
            text = json.dumps(document, ensure_ascii=False, indent=2)
            if args.out is None:
                out(text)
            else:
                _write_private(args.out, text + "\n")
                counts = ", ".join(f"{n} {table}" for table, n in document["counts"].items())
                out(f"exported +{digits} ({counts}) to {args.out}")
            return 0
        outcome = erase_resident(key, ports=ports, actor=actor, now=now, recipient=digits)
    except ResidentNotFoundError:
        return fail(f"nothing is kept about +{digits} on stage {names.stage}", 1)
    if outcome.already_erased:
        out(f"+{digits} was erased already, at {outcome.erased_at:%Y-%m-%dT%H:%M:%SZ}")
    else:
        counts = ", ".join(f"{table} {n}" for table, n in outcome.erased.items())
        out(f"erased +{digits} on stage {names.stage}: {counts}")
    out(f"erasure record: resident_ref {outcome.resident_ref}")
    return 0


def data_rights_ports(names: ResourceNames, region: str) -> DataRightsPorts:
    """The stage's tables, media bucket (named by its stack's outputs) and audit log, with the
    secrets read from SSM once."""
    from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.adapters.dynamodb_resident_data import DynamoDBResidentData
    from chalicelib.adapters.s3_resident_media import S3ResidentMedia
    from chalicelib.services.audit_trail import AuditTrail
    from chalicelib.services.resident_data import DataRightsPorts

    tables = stage_tables(names, region)
    media = S3ResidentMedia(
        _media_bucket(names, region),
        region_name=region,
        endpoint_url=(
            os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        ),
    )
    retention = municipality().retention
    audit_log = DynamoDBAuditLog(tables, retention=retention.audit if retention else None)
    stored = _stage_secrets(names, region)
    return DataRightsPorts(
        data=DynamoDBResidentData(
            tables,
            media=media,
            phone_number_id=(
                stored.get("whatsapp_phone_number_id")
                or os.environ.get("WHATSAPP_PHONE_NUMBER_ID")
                or None
            ),
        ),
        audit=AuditTrail(audit_log, _pseudonym_key(names, region, stored)),
        media_links=media,
    )


def _stage_secrets(names: ResourceNames, region: str) -> dict[str, str]:
    """What the stage keeps under its SSM secrets path, read once; a clear exit when it
    cannot be read."""
    from chalicelib.adapters.ssm_secrets import SecretsUnavailableError, read_secrets

    try:
        return read_secrets(names.secrets_path, region=region)
    except SecretsUnavailableError as error:
        raise SystemExit(
            f"civicchat: cannot read stage {names.stage}'s secrets ({names.secrets_path}): {error}"
        ) from None


def _media_bucket(names: ResourceNames, region: str) -> str:
    import boto3

    from infra.stack_deployment import stack_state

    state = stack_state(boto3.client("cloudformation", region_name=region), names.stack)
    bucket = state.outputs.get("MediaBucketName") if state is not None else None
    if not bucket:
        raise SystemExit(
            f"civicchat: stack {names.stack} has no media bucket (deployed with `civicchat "
            "deploy`?): residents' files could not be reached"
        )
    return bucket


def _pseudonym_key(names: ResourceNames, region: str, stored: dict[str, str]) -> bytes:
    """The stage's pseudonym key, as the functions read it; a clear exit when there is none."""
    from chalicelib.audit_commands import PseudonymKeyMissingError, stage_pseudonym_key

    try:
        return stage_pseudonym_key(names, region, stored=stored)
    except PseudonymKeyMissingError as error:
        raise SystemExit(f"civicchat: {error}: the audit log cannot name the resident") from None


def _write_private(path: Path, text: str) -> None:
    """Only the operator may read what is written (0600): it is a resident's personal data."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
