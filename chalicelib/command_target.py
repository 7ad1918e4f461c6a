"""Where an operator command acts: a deployed stage, through the user's own AWS credentials and
region, or the stack `make run` started (`--local`: its AWS emulator on AWS_EMULATOR_PORT)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from chalicelib.resource_names import ResourceNames

if TYPE_CHECKING:
    from chalicelib.domain.bot.definition import MunicipalityDefinition


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default=os.environ.get("CIVICCHAT_STAGE", "prod"))
    parser.add_argument(
        "--local",
        action="store_true",
        help="the stack `make run` started (its AWS emulator on AWS_EMULATOR_PORT)",
    )


def stage_and_region(args: argparse.Namespace) -> tuple[ResourceNames, str]:
    """The stage's resource names and the region; with --local, also points every AWS SDK
    client this process makes at the local emulator."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    if not args.local:
        return ResourceNames(args.stage), region
    from chalicelib.local_stack.stack import (
        DEFAULT_EMULATOR_PORT,
        FAKE_AWS_CREDENTIALS,
        LOCAL_STAGE,
    )

    port = os.environ.get("AWS_EMULATOR_PORT", str(DEFAULT_EMULATOR_PORT))
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    os.environ.update(FAKE_AWS_CREDENTIALS)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    return ResourceNames(LOCAL_STAGE), region


def municipality() -> MunicipalityDefinition:
    """The configuration the commands act by: CIVICCHAT_CONFIG, else the bundled example town,
    as the app reads it."""
    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.settings import configured_config_path

    return load_municipality_file(configured_config_path())
