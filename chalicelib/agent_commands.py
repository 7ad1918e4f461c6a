"""`civicchat agent create|list`: the staff who sign in to the console.

`create` makes the sign-in (a Cognito user in the stage's pool, see infra/agent_directory.py)
and the agent record the console routes work by (role, teams, capacity). Without `--password`
it prints a temporary password, once, to hand over: the agent chooses their own at the first
sign-in. Running it again for the same e-mail updates the record (name, role, teams, capacity)
and leaves the sign-in alone, unless `--password` sets a new one.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.command_target import add_target_arguments, stage_and_region
from chalicelib.domain.agents import DEFAULT_CAPACITY, Agent, Role, agent_id_for

MAX_CAPACITY = 50


def add_commands(commands: Any) -> None:
    agent = commands.add_parser("agent", help="staff who sign in to the console")
    actions = agent.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="create (or update) an agent and their sign-in; prints a first password"
    )
    create.add_argument("--email", required=True, help="their sign-in, e.g. ana@town.example")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--team",
        dest="teams",
        action="append",
        required=True,
        help="a team id from the municipality's configuration; repeat for several",
    )
    create.add_argument("--name", help="as colleagues know them (default: from the e-mail)")
    create.add_argument(
        "--capacity",
        type=capacity,
        default=DEFAULT_CAPACITY,
        help=f"open conversations at once (default {DEFAULT_CAPACITY})",
    )
    create.add_argument(
        "--password",
        help="a permanent password instead of a temporary one (demos and tests; it stays in "
        "your shell history)",
    )
    listing = actions.add_parser("list", help="list agents: role, teams, presence and load")
    for parser in (create, listing):
        add_target_arguments(parser)


def capacity(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
        raise argparse.ArgumentTypeError(
            f"capacity must be a whole number from 1 to {MAX_CAPACITY}"
        )
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTarget:
    """Where the command acts: the stage's agent records and its user pool."""

    agents: Any  # services.console_ports.AgentStore
    directory: Any  # adapters.cognito_directory.CognitoDirectory
    team_ids: Sequence[str]  # the municipality's teams


def run(
    args: argparse.Namespace,
    out: Callable[[str], None] = print,
    target: AgentTarget | None = None,
) -> int:
    """`target`: stores to use instead of the stage's (tests)."""
    from chalicelib.adapters.cognito_directory import DirectoryError

    try:
        target = target or _target(args)
    except LookupError as error:
        out(f"civicchat: {error}")
        return 1
    if args.action == "list":
        return _list(target, out)
    try:
        return _create(args, target, out)
    except DirectoryError as error:
        out(f"civicchat: {error}")
        return 2


def _create(args: argparse.Namespace, target: AgentTarget, out: Callable[[str], None]) -> int:
    email = agent_id_for(args.email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        out(f"civicchat: {args.email!r} is not an e-mail address")
        return 2
    unknown = [team for team in args.teams if team not in target.team_ids]
    if unknown:
        out(
            f"civicchat: no team {', '.join(unknown)} in the municipality's configuration "
            f"(teams: {', '.join(target.team_ids)})"
        )
        return 2
    teams = tuple(dict.fromkeys(args.teams))
    name = (args.name or "").strip() or _name_from(email)
    now = datetime.now(UTC)
    existing = target.agents.get(email)
    if existing is None:
        agent = Agent(
            id=email,
            name=name,
            role=Role(args.role),
            teams=teams,
            capacity=args.capacity,
            created_at=now,
        )
    else:
        agent = replace(
            existing,
            name=args.name.strip() if args.name else existing.name,
            role=Role(args.role),
            teams=teams,
            capacity=args.capacity,
        )

    temporary = None
    if target.directory.user_exists(email):
        if args.password:
            target.directory.set_password(email, args.password)
    elif args.password:
        target.directory.create_user(email, agent.name, password=args.password)
    else:
        temporary = _temporary_password()
        target.directory.create_user(email, agent.name, temporary_password=temporary)
    target.agents.save_profile(agent)

    verb = "updated" if existing else "created"
    out(
        f"agent {email} {verb}: {agent.role.value}, teams {', '.join(teams)}, capacity {agent.capacity}"
    )
    if temporary:
        out("")
        out(f"    temporary password: {temporary}")
        out("")
        out("Hand it over now: it is shown only once. They choose their own at the first sign-in.")
    elif args.password:
        out("password set (permanent)")
    else:
        out("their sign-in already exists; the password was not changed")
    return 0


def _list(target: AgentTarget, out: Callable[[str], None]) -> int:
    agents = sorted(target.agents.list_all(), key=lambda a: a.id)
    for agent in agents:
        presence = "online" if agent.online else "offline"
        if agent.disabled:
            presence = "disabled"
        out(
            f"{agent.id}\t{agent.name}\t{agent.role.value}\t{','.join(agent.teams)}\t"
            f"{presence}\t{agent.open_count}/{agent.capacity} open"
        )
    out(f"{len(agents)} agent(s)")
    return 0


def _name_from(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


def _temporary_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters: above the pool's minimum of 12


def _target(args: argparse.Namespace) -> AgentTarget:
    from chalicelib.adapters.cognito_directory import CognitoDirectory
    from chalicelib.adapters.config_file import load_municipality_file
    from chalicelib.adapters.dynamodb_console_stores import DynamoDBAgentStore
    from chalicelib.adapters.dynamodb_models import stage_tables
    from chalicelib.settings import BUNDLED_CONFIG
    from infra.agent_directory import find_agent_directory

    names, region = stage_and_region(args)
    found = find_agent_directory(names, region)
    if found is None:
        raise LookupError(f"stage {names.stage} has no agents' user pool: deploy it first")
    pool_id, client_id = found
    definition = load_municipality_file(Path(os.environ.get("CIVICCHAT_CONFIG") or BUNDLED_CONFIG))
    return AgentTarget(
        agents=DynamoDBAgentStore(stage_tables(names, region)),
        directory=CognitoDirectory(pool_id, client_id, region=region),
        team_ids=tuple(definition.teams),
    )
