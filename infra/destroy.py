"""`civicchat destroy`: remove a stage from the AWS account, keeping the residents' data unless
told otherwise.

The stack goes (functions, API, queues, alarms, log groups); its tables, media bucket and the
agents' user pool have DeletionPolicy Retain, so CloudFormation leaves them, and they are
deleted here only with `--delete-data`. The stage's secrets and artifacts bucket go too, but
for the audit log's pseudonym key, which stays with the data (KEPT_WITH_THE_DATA).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.resource_names import SECRET_PARAMETERS, ResourceNames
from infra.deploy import FAILED_EXIT_CODE, Console, idle_stack
from infra.deploy_preflight import PREFLIGHT_EXIT_CODE, AwsTarget, PreflightError, aws_target
from infra.stack_deployment import Output, StackFailed, StackState, Waiting, delete_stack
from infra.stage_data import StageData, stage_data

NOT_CONFIRMED_EXIT_CODE = 1
# Secrets that stay while the data does: the kept audit log names residents by pseudonyms made
# with this key, and a new one (made up by the next deploy) would cut them off their history.
KEPT_WITH_THE_DATA = (SECRET_PARAMETERS["pseudonym_key"],)


@dataclass(frozen=True, slots=True, kw_only=True)
class DestroyRequest:
    stage: str
    profile: str | None = None
    region: str | None = None
    delete_data: bool = False
    yes: bool = False


def destroy(
    request: DestroyRequest,
    environ: Mapping[str, str],
    console: Console,
    *,
    waiting: Waiting | None = None,
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    out = console.out
    try:
        target = aws_target(request.profile, request.region, environ)
        names = ResourceNames(request.stage)
        state = idle_stack(target, names)
        data = stage_data(target, names)
        kept_secrets = () if request.delete_data else KEPT_WITH_THE_DATA
        secrets = [s for s in _secret_names(target, names) if s not in kept_secrets]
        artifacts = _artifacts_bucket(target, names)
    except PreflightError as error:
        console.err(f"civicchat destroy: {error}")
        return PREFLIGHT_EXIT_CODE
    except (BotoCoreError, ClientError) as error:
        console.err(f"civicchat destroy: cannot look at stage {request.stage}: {error}")
        return PREFLIGHT_EXIT_CODE
    if (
        state is None
        and not secrets
        and not artifacts
        and not (request.delete_data and data.lines())
    ):
        out(
            f"Nothing to destroy: stage {names.stage} has no stack, secrets or artifacts in "
            f"account {target.account_id}, {target.region}."
        )
        _print_kept(data, names, out)
        return 0
    _describe(request, target, names, state, data, secrets, artifacts, out)
    if not request.yes:
        if console.confirm is None:
            console.err(
                "civicchat destroy: nothing deleted: type the stage name in a terminal to "
                "confirm, or add --yes"
            )
            return PREFLIGHT_EXIT_CODE
        if (
            console.confirm(f"Type the stage name ({names.stage}) to go on: ").strip()
            != names.stage
        ):
            out("Not confirmed: nothing was deleted.")
            return NOT_CONFIRMED_EXIT_CODE
    try:
        if state is not None:
            out(f"CloudFormation: deleting {names.stack} ...")
            delete_stack(
                target.client("cloudformation"),
                stack=names.stack,
                out=out,
                waiting=waiting or Waiting(),
            )
        if request.delete_data:
            _delete_data(target, data, out)
        _delete_stage_extras(target, names, secrets, artifacts, out, keep=kept_secrets)
    except StackFailed as error:
        console.err(f"civicchat destroy: {error}")
        for line in error.failures:
            console.err(f"  {line}")
        return FAILED_EXIT_CODE
    except (BotoCoreError, ClientError) as error:
        console.err(f"civicchat destroy: AWS refused a step: {error}")
        return FAILED_EXIT_CODE
    out(f"Stage {names.stage} is destroyed.")
    if not request.delete_data:
        _print_kept(data, names, out)
    return 0


def _secret_names(target: AwsTarget, names: ResourceNames) -> list[str]:
    from chalicelib.adapters.ssm_secrets import SecretsUnavailableError, read_parameters

    try:
        stored = read_parameters(names.secrets_path, client=target.client("ssm"))
    except SecretsUnavailableError as error:
        raise PreflightError(str(error)) from error
    return sorted(stored)


def _artifacts_bucket(target: AwsTarget, names: ResourceNames) -> str | None:
    from botocore.exceptions import ClientError

    from infra.artifacts import artifacts_bucket_name

    bucket = artifacts_bucket_name(names, target.account_id, target.region)
    try:
        target.client("s3").head_bucket(Bucket=bucket)
    except ClientError:
        return None
    return bucket


def _describe(
    request: DestroyRequest,
    target: AwsTarget,
    names: ResourceNames,
    state: StackState | None,
    data: StageData,
    secrets: list[str],
    artifacts: str | None,
    out: Output,
) -> None:
    out(
        f"This destroys civicchat stage {names.stage} in AWS account {target.account_id}, "
        f"{target.region}, with {target.credentials_label}:"
    )
    if state is not None:
        out(f"  the stack {names.stack}: functions, API, queues and their messages, alarms, logs")
    if secrets:
        out(f"  the WhatsApp secrets under {names.secrets_path}")
    if artifacts:
        out(f"  the deployment artifacts in {artifacts}")
    if request.delete_data and data.lines():
        out("and DELETES the residents' data and the agents' sign-ins, for good:")
        for line in data.lines():
            out(f"  {line}")
    elif data.lines():
        out("Kept (add --delete-data to delete them too):")
        for line in data.lines():
            out(f"  {line}")


def _delete_data(target: AwsTarget, data: StageData, out: Output) -> None:
    from infra.artifacts import delete_bucket

    dynamodb = target.client("dynamodb")
    for table in data.tables:
        dynamodb.delete_table(TableName=table)
        out(f"Deleted table {table}.")
    if data.media_bucket and delete_bucket(target.client("s3"), data.media_bucket):
        out(f"Deleted media bucket {data.media_bucket} and every file in it.")
    if data.user_pool:
        target.client("cognito-idp").delete_user_pool(UserPoolId=data.user_pool)
        out(f"Deleted the agents' user pool {data.user_pool}.")


def _delete_stage_extras(
    target: AwsTarget,
    names: ResourceNames,
    secrets: list[str],
    artifacts: str | None,
    out: Output,
    *,
    keep: tuple[str, ...] = (),
) -> None:
    from chalicelib.adapters.ssm_secrets import delete_secrets
    from infra.artifacts import delete_bucket

    if secrets:
        deleted = delete_secrets(names.secrets_path, client=target.client("ssm"), keep=keep)
        out(f"Deleted {len(deleted)} parameter(s) under {names.secrets_path}.")
    if artifacts and delete_bucket(target.client("s3"), artifacts):
        out(f"Deleted artifacts bucket {artifacts}.")


def _print_kept(data: StageData, names: ResourceNames, out: Output) -> None:
    if not data.lines():
        return
    out("Kept, with the residents' data and the agents' sign-ins:")
    for line in data.lines():
        out(f"  {line}")
    out(f"  the pseudonym key of the audit log, {names.secrets_path}{KEPT_WITH_THE_DATA[0]}")
    out(f"`civicchat destroy --stage {names.stage} --delete-data` deletes them for good.")
