"""`civicchat config validate FILE`: check a municipality file before deploying it, listing every
problem at once (the same checks the service makes when it loads the file)."""

from __future__ import annotations

import argparse
from typing import Any

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.errors import ConfigError


def add_commands(commands: Any) -> None:
    config = commands.add_parser("config", help="check a municipality configuration file")
    actions = config.add_subparsers(dest="action", required=True)
    validate = actions.add_parser(
        "validate", help="report every problem in FILE, or confirm that it is valid"
    )
    validate.add_argument(
        "file",
        metavar="FILE",
        help="a municipality YAML file, like chalicelib/config/example-town.yaml",
    )


def run(args: argparse.Namespace) -> int:
    return validate(args.file)


def validate(file: str) -> int:
    """Print one line for a valid file (exit 0), or each problem then their count (exit 1)."""
    from chalicelib.adapters.config_file import load_municipality_file

    try:
        definition = load_municipality_file(file)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        print(f"{file}: not valid — {_count(len(error.problems), 'problem')}")
        return 1
    print(f"{file}: valid — {summary(definition)}")
    return 0


def summary(definition: MunicipalityDefinition) -> str:
    languages = ", ".join(definition.languages)
    return ", ".join(
        [
            f"{_count(len(definition.languages), 'language')} ({languages})",
            _count(len(definition.main_menu.items), "menu item"),
            _count(len(definition.flows), "flow"),
            _count(len(definition.faq), "FAQ"),
            _count(len(definition.teams), "team"),
        ]
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
