"""`civicchat deploy` and `civicchat destroy` end to end, as the operator runs them, against
moto's server and the Graph API simulator: secrets into SSM, the real package with the
municipality's file inside, the artifacts bucket, CloudFormation, the printout; re-running
changes nothing, a rotated token reaches the functions; destroy keeps the data unless told.

moto's CloudFormation cannot run the SAM transform nor create the API and the Cognito pool, so
these runs pass the hidden `--emulator-template` (infra.deploy.DeployRequest): the packaged
template is expanded offline and its API part left out. The first administrator, which needs
the pool, is checked on its own against moto's Cognito."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.ssm_secrets import read_parameters, secrets_version
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG
from chalicelib.simulator.server import GraphApiSimulator
from infra.agent_directory import provision_agent_directory
from infra.artifacts import BUNDLED_CONFIG_ENTRY, DEPLOYED_CONFIG_PATH, artifacts_bucket_name
from infra.deploy import FirstAdminError, first_admin
from infra.template import data_template
from tests.infra.deploy_helpers import (
    MOTO_ACCOUNT,
    every,
    moto_target,
    operator_shell,
    running_simulator,
)

CIVICCHAT = Path(sys.executable).parent / "civicchat"
REGION = "eu-west-1"
STAGE = "clitest"
NAMES = ResourceNames(STAGE)
TOKENS = {
    "WHATSAPP_ACCESS_TOKEN": "EAAG-cli-token",
    "WHATSAPP_APP_SECRET": "cli-app-secret",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
}


@pytest.fixture(scope="module")
def simulator() -> Iterator[GraphApiSimulator]:
    yield from running_simulator(TOKENS)


@pytest.fixture
def operator_env(aws_env: str, simulator: GraphApiSimulator, tmp_path: Path) -> dict[str, str]:
    """The operator's shell, pointed at moto and the simulator (nothing of ~/.aws)."""
    (tmp_path / "aws").write_text("")
    return operator_shell(
        tmp_path / "aws",
        tmp_path / "aws",
        aws_env,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        WHATSAPP_API_URL=simulator.graph_base_url(),
        **TOKENS,
    )


def _civicchat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CIVICCHAT), *args, "--stage", STAGE],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _deploy(env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = _civicchat(env, "deploy", "--emulator-template", "--config", str(config), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _stack() -> dict[str, Any]:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    return cloudformation.describe_stacks(StackName=NAMES.stack)["Stacks"][0]


def _parameters() -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack()["Parameters"]}


def _functions() -> list[dict[str, Any]]:
    functions = every(boto3.client("lambda", region_name=REGION), "list_functions", "Functions")
    return [f for f in functions if f["FunctionName"].startswith(f"{NAMES.stack}-")]


def _tables() -> list[str]:
    tables = every(boto3.client("dynamodb", region_name=REGION), "list_tables", "TableNames")
    return [t for t in tables if t.startswith(NAMES.table(""))]


def test_deploy_redeploy_rotate_and_destroy(operator_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "my-town.yaml"
    shutil.copy(BUNDLED_CONFIG, config)
    ssm = boto3.client("ssm", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    bucket = artifacts_bucket_name(NAMES, MOTO_ACCOUNT, REGION)

    first = _deploy(operator_env, config, "--admin-email", "It@Town.example")
    stored = read_parameters(NAMES.secrets_path, client=ssm)
    verify_token = stored["whatsapp/verify-token"].value
    pseudonym_key = stored["privacy/pseudonym-key"].value  # made up, stored, never printed
    assert len(pseudonym_key) >= 40 and pseudonym_key not in first.stdout + first.stderr
    assert stored["whatsapp/access-token"].value == TOKENS["WHATSAPP_ACCESS_TOKEN"]
    assert f"  Verify token   {verify_token}" in first.stdout
    assert "  WhatsApp number  15550001234 (CivicChat Simulator)" in first.stdout
    assert "CREATE_COMPLETE" in first.stdout
    assert "Message templates to have approved by Meta:" in first.stdout
    assert "Alarms go to it@town.example" in first.stdout
    assert _stack()["StackStatus"] == "CREATE_COMPLETE"
    assert _parameters() == {
        "AlarmEmail": "it@town.example",
        "SecretsVersion": secrets_version(stored),
    }

    # The functions run the bundle from the artifacts bucket, with the operator's file in it,
    # and find their secrets in SSM: no secret in their environment or in the template.
    functions = _functions()
    assert functions
    secrets = [*TOKENS.values(), verify_token, pseudonym_key]
    for function in functions:
        variables = function["Environment"]["Variables"]
        assert variables["CIVICCHAT_CONFIG"] == DEPLOYED_CONFIG_PATH
        assert variables["CIVICCHAT_SECRETS_PATH"] == NAMES.secrets_path
        assert not set(variables.values()) & set(secrets)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    (bundle_key,) = [key for key in keys if key.endswith(".zip")]
    bundle = s3.get_object(Bucket=bucket, Key=bundle_key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.read(BUNDLED_CONFIG_ENTRY) == config.read_bytes()
    for key in (key for key in keys if key.endswith(".json")):
        template = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert not any(secret in template for secret in secrets)
        assert json.loads(template)["Resources"]

    again = _deploy(operator_env, config)
    assert "Nothing to change" in again.stdout
    assert f"  Verify token   {verify_token}" in again.stdout
    assert "pseudonym key as stored" in again.stdout
    kept_key = read_parameters(NAMES.secrets_path, client=ssm)["privacy/pseudonym-key"]
    assert kept_key.value == pseudonym_key
    assert "civicchat config templates" in again.stdout

    rotated_env = {**operator_env, "WHATSAPP_ACCESS_TOKEN": "EAAG-rotated"}
    rotated = _civicchat(
        rotated_env, "deploy", "--emulator-template", "--config", str(config), "--skip-meta-check"
    )
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "UPDATE_COMPLETE" in rotated.stdout
    stored = read_parameters(NAMES.secrets_path, client=ssm)
    assert stored["whatsapp/access-token"].version == 2
    assert _parameters()["SecretsVersion"] == secrets_version(stored)
    assert _parameters()["AlarmEmail"] == "it@town.example"  # kept from the first deploy
    for function in _functions():  # a new environment: no warm function keeps the old token
        variables = function["Environment"]["Variables"]
        assert variables["CIVICCHAT_SECRETS_VERSION"] == secrets_version(stored)

    tables = _tables()
    assert len(tables) == len(data_template(NAMES)["Resources"]) - 9  # 8 queues, 1 bucket
    kept = _civicchat(operator_env, "destroy", "--yes")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "DELETE_COMPLETE" in kept.stdout
    assert "Kept, with the residents' data and the agents' sign-ins:" in kept.stdout
    # The audit log's pseudonym key stays with the data it names residents in.
    left = read_parameters(NAMES.secrets_path, client=ssm)
    assert {name: p.value for name, p in left.items()} == {"privacy/pseudonym-key": pseudonym_key}
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert _tables() == tables
    assert _functions() == []

    gone = _civicchat(operator_env, "destroy", "--yes", "--delete-data")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert _tables() == []
    assert read_parameters(NAMES.secrets_path, client=ssm) == {}
    media = NAMES.media_bucket(MOTO_ACCOUNT, REGION)
    assert media not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    nothing = _civicchat(operator_env, "destroy", "--yes")
    assert nothing.stdout.startswith("Nothing to destroy")


def test_destroy_without_a_terminal_asks_for_yes(operator_env: dict[str, str]) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(
        Name=NAMES.secret_parameter("whatsapp_app_secret"), Value="x", Type="SecureString"
    )
    refused = _civicchat(operator_env, "destroy")
    assert refused.returncode == 2
    assert "type the stage name in a terminal to confirm, or add --yes" in refused.stderr
    assert read_parameters(NAMES.secrets_path, client=ssm)  # still there
    ssm.delete_parameter(Name=NAMES.secret_parameter("whatsapp_app_secret"))


def test_the_first_administrator_is_made_once(aws_env: str) -> None:
    names = ResourceNames("adminstage")
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=names.stack, TemplateBody=json.dumps(data_template(names))
    )
    pool_id, client_id = provision_agent_directory(aws_env, names, REGION)
    outputs = {"AgentsUserPoolId": pool_id, "AgentsUserPoolClientId": client_id}
    target = moto_target(REGION)
    from chalicelib.adapters.config_file import load_municipality_file

    definition = load_municipality_file(BUNDLED_CONFIG)
    lines: list[str] = []
    first_admin(target, names, definition, outputs, "it@town.example", lines.append)
    assert lines[0] == "First administrator:"
    assert lines[1].startswith("  agent it@town.example created: admin, teams ")
    assert any(line.startswith("      temporary password: ") for line in lines)
    user = boto3.client("cognito-idp", region_name=REGION).admin_get_user(
        UserPoolId=pool_id, Username="it@town.example"
    )
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"

    lines.clear()
    first_admin(target, names, definition, outputs, "other@town.example", lines.append)
    assert lines == [f"Agents: 1 (`civicchat agent list --stage {names.stage}`)."]


def _by_hand(stage: str, teams: Any) -> str:
    return (
        f"Make one with `civicchat agent create --stage {stage} --email it@town.example "
        f"--role admin {' '.join(f'--team {team}' for team in teams)}`"
    )


def test_a_first_administrator_dynamodb_refuses_is_reported_not_raised(aws_env: str) -> None:
    """After a successful stack, a refusal is one line saying what to do, not a traceback."""
    from chalicelib.adapters.config_file import load_municipality_file

    names = ResourceNames("notables")  # a pool, but no tables
    pool_id, client_id = provision_agent_directory(aws_env, names, REGION)
    outputs = {"AgentsUserPoolId": pool_id, "AgentsUserPoolClientId": client_id}
    definition = load_municipality_file(BUNDLED_CONFIG)
    with pytest.raises(FirstAdminError) as failed:
        first_admin(moto_target(REGION), names, definition, outputs, "it@town.example", print)
    message = str(failed.value)
    assert message.startswith(
        "The stack is deployed, but the first administrator could not be made: "
    )
    assert "ResourceNotFoundException" in message
    assert message.endswith(_by_hand(names.stage, definition.teams))


def test_a_first_administrator_cognito_refuses_is_reported_not_raised(aws_env: str) -> None:
    from chalicelib.adapters.config_file import load_municipality_file

    names = ResourceNames("nopool")
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=names.stack, TemplateBody=json.dumps(data_template(names))
    )
    outputs = {"AgentsUserPoolId": "eu-west-1_gone", "AgentsUserPoolClientId": "gone"}
    definition = load_municipality_file(BUNDLED_CONFIG)
    with pytest.raises(FirstAdminError) as failed:
        first_admin(moto_target(REGION), names, definition, outputs, "it@town.example", print)
    # (The directory reads an unknown pool as a refusal of the user; any refusal will do here.)
    assert str(failed.value).startswith(
        "The stack is deployed, but the first administrator could not be made: "
    )
    assert str(failed.value).endswith(_by_hand(names.stage, definition.teams))


def test_a_first_administrator_the_agent_command_refuses_is_reported(aws_env: str) -> None:
    """`civicchat agent create` says why and returns non-zero: that is a failure too."""
    import dataclasses

    from chalicelib.adapters.config_file import load_municipality_file

    names = ResourceNames("noteams")
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=names.stack, TemplateBody=json.dumps(data_template(names))
    )
    pool_id, client_id = provision_agent_directory(aws_env, names, REGION)
    outputs = {"AgentsUserPoolId": pool_id, "AgentsUserPoolClientId": client_id}
    definition = dataclasses.replace(load_municipality_file(BUNDLED_CONFIG), teams={})
    lines: list[str] = []
    with pytest.raises(FirstAdminError) as failed:
        first_admin(
            moto_target(REGION), names, definition, outputs, "it@town.example", lines.append
        )
    assert str(failed.value) == (
        "The stack is deployed, but the first administrator could not be made: a new agent "
        "needs --team. Make one with `civicchat agent create --stage noteams --email "
        "it@town.example --role admin --team ...`"
    )
