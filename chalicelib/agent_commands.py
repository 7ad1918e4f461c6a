"""`civicchat agent create|list|disable|enable`: the staff who sign in to the console.

`create` makes the sign-in (a Cognito user in the stage's pool, see infra/agent_directory.py)
and the agent record the console routes work by (role, teams, capacity). Without `--password`
it prints a temporary password, once, to hand over: the agent chooses their own at the first
sign-in. It refuses an e-mail that already has a record (a typo must not overwrite a colleague);
`create --update` changes only what it is given (name, role, teams, capacity) and leaves the
sign-in alone, unless `--password` sets a new one.

`disable` takes an agent's access away: the record is disabled (the console refuses their token
at once), their conversations, snoozed ones too, go back to their teams' queues for the others,
and their Cognito sign-in is disabled (no new sign-in, no refresh). `enable` gives it back.
"""

from __future__ import annotations

import argparse
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.command_target import add_target_arguments, municipality, stage_and_region
from chalicelib.domain.agents import DEFAULT_CAPACITY, Agent, Role, agent_id_for

MAX_CAPACITY = 50


def add_commands(commands: Any) -> None:
    agent = commands.add_parser("agent", help="staff who sign in to the console")
    actions = agent.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="create an agent and their sign-in; prints a first password"
    )
    create.add_argument("--email", required=True, help="their sign-in, e.g. ana@town.example")
    create.add_argument(
        "--role", choices=[role.value for role in Role], help="required unless --update"
    )
    create.add_argument(
        "--team",
        dest="teams",
        action="append",
        help="a team id from the municipality's configuration; repeat for several "
        "(required unless --update, which then replaces the teams)",
    )
    create.add_argument("--name", help="as colleagues know them (default: from the e-mail)")
    create.add_argument(
        "--capacity",
        type=capacity,
        help=f"open conversations at once (default {DEFAULT_CAPACITY})",
    )
    create.add_argument(
        "--password",
        help="a permanent password instead of a temporary one (demos and tests; it stays in "
        "your shell history)",
    )
    create.add_argument(
        "--update",
        action="store_true",
        help="change an existing agent: only the options given, the rest stays as it is",
    )
    listing = actions.add_parser("list", help="list agents: role, teams, presence and load")
    disable = actions.add_parser(
        "disable",
        help="take an agent's access away: their conversations go back to the queues and "
        "their sign-in stops working",
    )
    enable = actions.add_parser("enable", help="give a disabled agent their access back")
    for parser in (disable, enable):
        parser.add_argument("--email", required=True)
    for parser in (create, listing, disable, enable):
        add_target_arguments(parser)


def capacity(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
        raise argparse.ArgumentTypeError(
            f"capacity must be a whole number from 1 to {MAX_CAPACITY}"
        )
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentTarget:
    """Where the command acts: the stage's agent records and conversations, and its user pool."""

    ports: Any  # services.console_context.ConsolePorts
    directory: Any  # adapters.cognito_directory.CognitoDirectory
    definition: Any  # domain.bot.definition.MunicipalityDefinition

    @property
    def agents(self) -> Any:  # services.console_ports.AgentStore
        return self.ports.agents

    @property
    def team_ids(self) -> Sequence[str]:
        return tuple(self.definition.teams)


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
    action = {"create": _create, "disable": _disable, "enable": _enable}[args.action]
    try:
        return action(args, target, out)
    except DirectoryError as error:
        out(f"civicchat: {error}")
        return 2


def _create(args: argparse.Namespace, target: AgentTarget, out: Callable[[str], None]) -> int:
    email = agent_id_for(args.email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        out(f"civicchat: {args.email!r} is not an e-mail address")
        return 2
    unknown = [team for team in args.teams or () if team not in target.team_ids]
    if unknown:
        out(
            f"civicchat: no team {', '.join(unknown)} in the municipality's configuration "
            f"(teams: {', '.join(target.team_ids)})"
        )
        return 2
    teams = tuple(dict.fromkeys(args.teams or ()))
    name = (args.name or "").strip()
    existing = target.agents.get(email)
    if existing is None and args.update:
        out(f"civicchat: there is no agent {email} to update: create it without --update")
        return 2
    if existing is not None and not args.update:
        out(
            f"civicchat: agent {email} already exists; to change it, add --update (only the "
            "options you give change)"
        )
        return 2
    if existing is None:
        missing = [
            option for option, given in (("--role", args.role), ("--team", teams)) if not given
        ]
        if missing:
            out(f"civicchat: a new agent needs {' and '.join(missing)}")
            return 2
        agent = Agent(
            id=email,
            name=name or _name_from(email),
            role=Role(args.role),
            teams=teams,
            capacity=args.capacity or DEFAULT_CAPACITY,
            created_at=datetime.now(UTC),
        )
    else:
        agent = replace(
            existing,
            name=name or existing.name,
            role=Role(args.role) if args.role else existing.role,
            teams=teams or existing.teams,
            capacity=args.capacity or existing.capacity,
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
        f"agent {email} {verb}: {agent.role.value}, teams {', '.join(agent.teams)}, "
        f"capacity {agent.capacity}"
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


def _disable(args: argparse.Namespace, target: AgentTarget, out: Callable[[str], None]) -> int:
    from chalicelib.services.assign_conversations import withdraw

    agent = _existing(args, target, out)
    if agent is None:
        return 1
    # The record first: from now on the console refuses them and nobody assigns them anything.
    target.agents.save_profile(replace(agent, disabled=True))
    returned = withdraw(
        agent,
        definition=target.definition,
        ports=target.ports,
        now=datetime.now(UTC),
        new_id=lambda: uuid.uuid4().hex,
    )
    out(f"agent {agent.id} disabled: {len(returned)} conversation(s) back in the queues")
    if target.directory.user_exists(agent.id):
        target.directory.disable_user(agent.id)
        out("their sign-in is disabled")
    else:
        out("they have no sign-in")
    return 0


def _enable(args: argparse.Namespace, target: AgentTarget, out: Callable[[str], None]) -> int:
    agent = _existing(args, target, out)
    if agent is None:
        return 1
    target.agents.save_profile(replace(agent, disabled=False))
    out(f"agent {agent.id} enabled (offline until they choose Available)")
    if target.directory.user_exists(agent.id):
        target.directory.enable_user(agent.id)
        out("their sign-in works again")
    else:
        out(
            "they have no sign-in: run `civicchat agent create --update` with --password, or "
            "without it for a temporary one"
        )
    return 0


def _existing(
    args: argparse.Namespace, target: AgentTarget, out: Callable[[str], None]
) -> Agent | None:
    agent = target.agents.get(agent_id_for(args.email))
    if agent is None:
        out(f"civicchat: no agent {agent_id_for(args.email)}")
    return agent


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
    from chalicelib.operator_commands import Target
    from infra.agent_directory import find_agent_directory

    names, region = stage_and_region(args)
    found = find_agent_directory(names, region)
    if found is None:
        raise LookupError(f"stage {names.stage} has no agents' user pool: deploy it first")
    pool_id, client_id = found
    definition = municipality()
    return AgentTarget(
        ports=Target(names, region, phone_number_id="").console_ports,
        directory=CognitoDirectory(pool_id, client_id, region=region),
        definition=definition,
    )
