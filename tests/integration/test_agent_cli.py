"""`civicchat agent create|list` against a stage in moto's server: the sign-in in the stage's
user pool and the agent record the console routes work by."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.adapters.cognito_directory import (
    CognitoDirectory,
    NewPasswordRequired,
    SignInRefused,
    Tokens,
)
from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.adapters.dynamodb_console_stores import DynamoDBAgentStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.cli import main
from chalicelib.domain.agents import Role
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.local_stack.stack import FAKE_AWS_CREDENTIALS, LOCAL_STAGE
from chalicelib.operator_commands import Target
from chalicelib.resource_names import ResourceNames
from chalicelib.services.agent_actions import snooze
from chalicelib.services.assign_conversations import assign_waiting
from chalicelib.services.console_context import ConsolePorts
from chalicelib.services.ports import InboundTurn
from chalicelib.settings import BUNDLED_CONFIG
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


def test_a_given_password_is_permanent_and_update_changes_only_what_it_is_given(
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
            "--capacity",
            "9",
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
            "create",
            "--email",
            "sup@town.example",
            "--role",
            "admin",
            "--team",
            "public_works",
            "--update",
        )
        == 0
    )

    out = capsys.readouterr().out
    assert "agent sup@town.example updated: admin, teams public_works, capacity 9" in out
    assert "password was not changed" in out and "temporary" not in out
    agent = stage.agents.get("sup@town.example")
    assert agent is not None
    assert (agent.name, agent.role, agent.teams, agent.capacity, agent.online) == (
        "Sofia Reis",  # kept: no --name this time
        Role.ADMIN,
        ("public_works",),
        9,  # kept: no --capacity this time (not reset to the default 5)
        True,  # presence is not the command's business
    )
    assert stage.agents.team_members("front_desk") == []
    assert isinstance(stage.directory.sign_in("sup@town.example", PASSWORD), Tokens)

    assert stage.agent("create", "--email", "SUP@town.example", "--capacity", "2", "--update") == 0
    agent = stage.agents.get("sup@town.example")
    assert agent is not None
    assert (agent.role, agent.teams, agent.capacity) == (Role.ADMIN, ("public_works",), 2)


def test_create_refuses_an_existing_agent_without_update(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.agent(
        "create",
        "--email",
        "ana@town.example",
        "--role",
        "agent",
        "--team",
        "finance",
        "--name",
        "Ana Lima",
        "--capacity",
        "8",
        "--password",
        PASSWORD,
    )
    capsys.readouterr()

    code = stage.agent(
        "create", "--email", "Ana@Town.Example", "--role", "admin", "--team", "front_desk"
    )

    assert code == 2
    refusal = capsys.readouterr().out
    assert "agent ana@town.example already exists" in refusal and "--update" in refusal
    agent = stage.agents.get("ana@town.example")
    assert agent is not None
    assert (agent.name, agent.role, agent.teams, agent.capacity) == (
        "Ana Lima",
        Role.AGENT,
        ("finance",),
        8,
    )
    assert isinstance(stage.directory.sign_in("ana@town.example", PASSWORD), Tokens)

    assert stage.agent("create", "--email", "new@town.example", "--update") == 2
    assert "no agent new@town.example to update" in capsys.readouterr().out
    assert stage.agent("create", "--email", "new@town.example", "--team", "finance") == 2
    assert "a new agent needs --role" in capsys.readouterr().out
    assert stage.agent("create", "--email", "new@town.example", "--role", "agent") == 2
    assert "a new agent needs --team" in capsys.readouterr().out
    assert stage.agents.get("new@town.example") is None
    assert not stage.directory.user_exists("new@town.example")


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


# --- disabling and enabling -------------------------------------------------------------------

ANA = "ana@town.example"
RUI = "rui@town.example"


def queued_conversation(ports: ConsolePorts, *, team: str, at: datetime) -> Conversation:
    """A resident's conversation waiting in `team`'s queue, stored as the inbound worker does."""
    wa_id = f"35191{uuid.uuid4().int % 10**7:07d}"
    key, conversation_id = f"wa:{wa_id}", uuid.uuid4().hex
    conversation = Conversation(
        id=conversation_id,
        resident_key=key,
        status=ConversationStatus.QUEUED,
        team=team,
        bot_state={"v": 2, "language": "en", "mode": "with_person", "team": team},
        opened_at=at,
        updated_at=at,
        last_inbound_at=at,
        resident_name="Maria",
        preview="a question",
        last_message_at=at,
    )
    wamid = f"wamid.{uuid.uuid4().hex}"
    assert ports.residents.save_turn(
        InboundTurn(
            inbound=StoredMessage(
                id=wamid,
                wamid=wamid,
                direction=Direction.INBOUND,
                resident_key=key,
                conversation_id=conversation_id,
                message_type="text",
                body="a question",
                payload={"type": "text", "text": {"body": "a question"}},
                created_at=at,
                status=DeliveryStatus.RECEIVED,
                status_at=at,
            ),
            resident=Resident(
                key=key,
                wa_id=wa_id,
                language="en",
                consent=ConsentState.GIVEN,
                consent_at=at,
                last_inbound_at=at,
                current_conversation_id=conversation_id,
                created_at=at,
            ),
            resident_is_new=True,
            conversation=conversation,
            replies=(),
        )
    )
    return conversation


def test_disable_hands_their_conversations_to_colleagues_and_stops_the_sign_in(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    for email in (ANA, RUI):
        stage.agent(
            "create",
            "--email",
            email,
            "--role",
            "agent",
            "--team",
            "finance",
            "--password",
            PASSWORD,
        )
    ports = Target(stage.names, REGION, phone_number_id="").console_ports
    definition = load_municipality_file(BUNDLED_CONFIG)
    now = datetime.now(UTC)
    ids = iter(f"event-{n}" for n in range(1000)).__next__
    ana = ports.agents.set_online(ANA, True, now)
    waiting = [queued_conversation(ports, team="finance", at=now) for _ in range(2)]
    assigned = assign_waiting("finance", definition=definition, ports=ports, now=now, new_id=ids)
    assert sorted(assigned) == sorted(c.id for c in waiting)
    snooze(
        ana,
        waiting[1].id,
        now + timedelta(hours=2),
        definition=definition,
        ports=ports,
        now=now,
        new_id=ids,
    )
    ports.agents.set_online(RUI, True, now)
    capsys.readouterr()

    assert stage.agent("disable", "--email", "Ana@Town.Example") == 0

    out = capsys.readouterr().out
    assert f"agent {ANA} disabled: 2 conversation(s) back in the queues" in out
    assert "their sign-in is disabled" in out
    gone = ports.agents.get(ANA)
    assert gone is not None
    assert (gone.disabled, gone.online, gone.open_count) == (True, False, 0)
    for conversation in waiting:  # the snoozed one too: it would have woken up as hers
        now_held = ports.conversations.get(conversation.id)
        assert now_held is not None
        assert (now_held.status, now_held.assignee) == (ConversationStatus.ASSIGNED, RUI)
    cognito = boto3.client("cognito-idp", region_name=REGION)
    user = cognito.admin_get_user(UserPoolId=stage.directory.pool_id, Username=ANA)
    assert user["Enabled"] is False
    with pytest.raises(SignInRefused):
        stage.directory.sign_in(ANA, PASSWORD)
    listing_code = stage.agent("list")
    assert listing_code == 0
    assert f"{ANA}\tAna\tagent\tfinance\tdisabled\t0/5 open" in capsys.readouterr().out

    assert stage.agent("enable", "--email", ANA) == 0

    out = capsys.readouterr().out
    assert f"agent {ANA} enabled" in out and "their sign-in works again" in out
    back = ports.agents.get(ANA)
    assert back is not None and (back.disabled, back.online) == (False, False)
    user = cognito.admin_get_user(UserPoolId=stage.directory.pool_id, Username=ANA)
    assert user["Enabled"] is True
    assert isinstance(stage.directory.sign_in(ANA, PASSWORD), Tokens)


def test_disabling_or_enabling_nobody_is_reported(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stage.agent("disable", "--email", "who@town.example") == 1
    assert "no agent who@town.example" in capsys.readouterr().out
    assert stage.agent("enable", "--email", "who@town.example") == 1
    assert "no agent who@town.example" in capsys.readouterr().out
