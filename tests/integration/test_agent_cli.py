"""`civicchat agent create|list` against a stage in moto's server: the sign-in in the stage's
user pool and the agent record the console routes work by."""

from __future__ import annotations

import re
import uuid

import pytest

from chalicelib.adapters.cognito_directory import (
    CognitoDirectory,
    NewPasswordRequired,
    SignInRefused,
    Tokens,
)
from chalicelib.adapters.dynamodb_console_stores import DynamoDBAgentStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.cli import main
from chalicelib.domain.agents import Role
from chalicelib.local_stack.stack import FAKE_AWS_CREDENTIALS, LOCAL_STAGE
from chalicelib.resource_names import ResourceNames
from infra.agent_directory import provision_agent_directory
from infra.local_emulator import provision

REGION = "eu-west-1"
PASSWORD = "demo-password-123"


class Stage:
    def __init__(self, endpoint: str, names: ResourceNames) -> None:
        provision(endpoint, names, REGION)
        pool_id, client_id = provision_agent_directory(endpoint, names, REGION)
        self.names = names
        self.directory = CognitoDirectory(pool_id, client_id, region=REGION)
        self.agents = DynamoDBAgentStore(stage_tables(names, REGION))

    def agent(self, *arguments: str) -> int:
        return main(["agent", *arguments, "--stage", self.names.stage])


@pytest.fixture
def stage(aws_env: str) -> Stage:
    return Stage(aws_env, ResourceNames(f"g{uuid.uuid4().hex[:8]}"))


def test_create_prints_a_temporary_password_for_the_first_sign_in(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code = stage.agent(
        "create",
        "--email",
        "Ana.Lima@Town.Example",
        "--role",
        "agent",
        "--team",
        "finance",
        "--team",
        "front_desk",
        "--capacity",
        "3",
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert "agent ana.lima@town.example created: agent, teams finance, front_desk" in out
    temporary = re.search(r"temporary password: (\S+)", out)
    assert temporary and len(temporary.group(1)) >= 12
    assert "shown only once" in out
    agent = stage.agents.get("ana.lima@town.example")
    assert agent is not None
    assert (agent.name, agent.role, agent.teams, agent.capacity) == (
        "Ana Lima",
        Role.AGENT,
        ("finance", "front_desk"),
        3,
    )
    assert not agent.online and agent.open_count == 0
    outcome = stage.directory.sign_in("ana.lima@town.example", temporary.group(1))
    assert isinstance(outcome, NewPasswordRequired)
    assert agent in stage.agents.team_members("finance")


def test_a_given_password_is_permanent_and_running_again_updates_the_record(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        stage.agent(
            "create",
            "--email",
            "sup@town.example",
            "--role",
            "supervisor",
            "--team",
            "front_desk",
            "--name",
            "Sofia Reis",
            "--password",
            PASSWORD,
        )
        == 0
    )
    assert "password set (permanent)" in capsys.readouterr().out
    assert isinstance(stage.directory.sign_in("sup@town.example", PASSWORD), Tokens)
    stage.agents.set_online(
        "sup@town.example", True, stage.agents.get("sup@town.example").created_at
    )

    assert (
        stage.agent(
            "create", "--email", "sup@town.example", "--role", "admin", "--team", "public_works"
        )
        == 0
    )

    out = capsys.readouterr().out
    assert "agent sup@town.example updated: admin, teams public_works" in out
    assert "password was not changed" in out and "temporary" not in out
    agent = stage.agents.get("sup@town.example")
    assert agent is not None
    assert (agent.name, agent.role, agent.teams, agent.online) == (
        "Sofia Reis",  # kept: no --name this time
        Role.ADMIN,
        ("public_works",),
        True,  # presence is not the command's business
    )
    assert stage.agents.team_members("front_desk") == []
    assert isinstance(stage.directory.sign_in("sup@town.example", PASSWORD), Tokens)


def test_bad_input_creates_nothing(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        stage.agent("create", "--email", "x@town.example", "--role", "agent", "--team", "parks")
        == 2
    )
    assert "no team parks" in capsys.readouterr().out
    assert stage.agent("create", "--email", "nobody", "--role", "agent", "--team", "finance") == 2
    assert "not an e-mail address" in capsys.readouterr().out
    with pytest.raises(SignInRefused):
        stage.directory.sign_in("x@town.example", PASSWORD)
    assert stage.agents.list_all() == []

    with pytest.raises(SystemExit) as exited:
        stage.agent("create", "--email", "x@town.example", "--role", "boss", "--team", "finance")
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        stage.agent(
            "create",
            "--email",
            "x@town.example",
            "--role",
            "agent",
            "--team",
            "finance",
            "--capacity",
            "0",
        )
    assert "capacity must be a whole number" in capsys.readouterr().err


def test_list_shows_role_teams_presence_and_load(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    for email, role, team in [
        ("b@town.example", "agent", "finance"),
        ("a@town.example", "supervisor", "front_desk"),
    ]:
        stage.agent(
            "create", "--email", email, "--role", role, "--team", team, "--password", PASSWORD
        )
    capsys.readouterr()

    assert stage.agent("list") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "a@town.example\tA\tsupervisor\tfront_desk\toffline\t0/5 open",
        "b@town.example\tB\tagent\tfinance\toffline\t0/5 open",
        "2 agent(s)",
    ]


def test_a_stage_without_a_user_pool_is_reported(
    aws_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ResourceNames(f"g{uuid.uuid4().hex[:8]}")
    provision(aws_env, names, REGION)

    assert main(["agent", "list", "--stage", names.stage]) == 1
    assert f"stage {names.stage} has no agents' user pool" in capsys.readouterr().out


def test_local_targets_the_stack_make_run_started(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stage = Stage(aws_env, ResourceNames(LOCAL_STAGE))
    email = f"local-{uuid.uuid4().hex[:6]}@town.example"
    for name, value in FAKE_AWS_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_EMULATOR_PORT", aws_env.rsplit(":", 1)[1])

    code = main(
        [
            "agent",
            "create",
            "--email",
            email,
            "--role",
            "agent",
            "--team",
            "finance",
            "--password",
            PASSWORD,
            "--local",
        ]
    )

    assert code == 0, capsys.readouterr().out
    assert stage.agents.get(email) is not None
    assert isinstance(stage.directory.sign_in(email, PASSWORD), Tokens)
