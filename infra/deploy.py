"""`civicchat deploy`: the whole stage in the municipality's own AWS account, with nothing but
this repository's dependencies and the user's AWS credentials (`civicchat destroy`:
infra/destroy.py).

Preflight (infra/deploy_preflight.py: reads only) → the WhatsApp secrets into SSM → `chalice
package` with the municipality's configuration inside the bundle → the artifacts bucket
(infra/artifacts.py) → CloudFormation change sets with progress (infra/stack_deployment.py): on
an existing stack one GSI per table at a time (infra/index_steps.py), on a new one first an
import of the data an earlier stack kept (infra/stage_data.py) → the first admin and what to
paste into Meta's dashboard.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG
from infra.deploy_preflight import (
    PREFLIGHT_EXIT_CODE,
    Ask,
    AwsTarget,
    PreflightError,
    WhatsAppSecrets,
    aws_target,
    check_bucket_names,
    check_whatsapp_number,
    concurrency_advice,
    email_address,
    lambda_concurrency_limit,
    municipality_config,
    stored_secrets,
    whatsapp_secrets,
)
from infra.stack_deployment import (
    NEVER_CREATED,
    StackFailed,
    StackState,
    Waiting,
    is_busy,
    stack_state,
)
from infra.stage_data import StageData

FAILED_EXIT_CODE = 1
WEBHOOK_ROUTE = "webhooks/whatsapp"
CONSOLE_ROUTE = "console"
_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")  # it names S3 buckets: lower case, short
_SOURCES = {
    "flag": "from the command line",
    "environment": "from the environment",
    "stored": "as stored",
    "typed": "as typed",
    "new": "newly made",
}


@dataclass(frozen=True, slots=True)
class Console:
    """How the commands talk to the operator. `ask`/`confirm` are None without a terminal."""

    out: Callable[[str], None]
    err: Callable[[str], None]
    ask: Ask | None = None
    confirm: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployRequest:
    stage: str
    profile: str | None = None
    region: str | None = None
    config: str | None = None
    secret_flags: Mapping[str, str | None] = field(default_factory=dict)
    admin_email: str | None = None
    alarm_email: str | None = None
    meta_check: bool = True
    # Test seam, hidden from --help: moto's CloudFormation cannot run the SAM transform, so the
    # packaged template is expanded here (infra/sam_translation.py) and its API part, which
    # moto cannot create either, left out. Everything else runs as it does against AWS.
    emulator_template: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What preflight established; nothing has changed yet."""

    names: ResourceNames
    target: AwsTarget
    config_path: Path
    definition: Any  # MunicipalityDefinition
    state: StackState | None
    secrets: WhatsAppSecrets
    admin_email: str | None
    alarm_email: str
    whatsapp_number: str | None
    kept: StageData | None = None  # data of an earlier stack of the stage, to take back
    warnings: tuple[str, ...] = ()  # said before deploying; they do not stop it

    @property
    def first_deploy(self) -> bool:
        return _never_created(self.state)


def _never_created(state: StackState | None) -> bool:
    """No stack, one only planned (a change set never executed), or one whose first creation
    was rolled back: nothing of it runs."""
    return state is None or state.status == "REVIEW_IN_PROGRESS" or state.status in NEVER_CREATED


class DeployError(Exception):
    """A step after preflight failed (packaging, S3, ...)."""


class FirstAdminError(Exception):
    """The stack is deployed, but the console's first administrator could not be made."""


def deploy(
    request: DeployRequest,
    environ: Mapping[str, str],
    console: Console,
    *,
    waiting: Waiting | None = None,
) -> int:
    """Exit code: 0 deployed (or nothing to change), 1 failed on the way, 2 refused before any
    change (PREFLIGHT_EXIT_CODE)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        plan = preflight(request, environ, console)
    except PreflightError as error:
        console.err(f"civicchat deploy: {error}")
        return PREFLIGHT_EXIT_CODE
    _describe(plan, console.out)
    try:
        _deploy(plan, request, console.out, waiting or Waiting())
    except StackFailed as error:
        console.err(f"civicchat deploy: {error}")
        if error.failures:
            console.err("What failed:")
            for line in error.failures:
                console.err(f"  {line}")
        state = _quiet_state(plan)
        if state is not None and state.status in NEVER_CREATED:
            console.err(
                "Nothing of the new stack is left running; the next `civicchat deploy` deletes "
                "its remains and starts again."
            )
        elif state is not None and state.status == "UPDATE_ROLLBACK_COMPLETE":
            console.err("The stack is back as it was before this deploy, and keeps running.")
        return FAILED_EXIT_CODE
    except DeployError as error:
        console.err(f"civicchat deploy: {error}")
        return FAILED_EXIT_CODE
    except FirstAdminError as error:
        console.err(str(error))
        return FAILED_EXIT_CODE
    except (Boto3Error, BotoCoreError, ClientError) as error:
        console.err(f"civicchat deploy: AWS refused a step: {error}")
        return FAILED_EXIT_CODE
    return 0


def preflight(request: DeployRequest, environ: Mapping[str, str], console: Console) -> Plan:
    """Every check before a change; raises PreflightError."""
    if not _STAGE.match(request.stage):
        raise PreflightError(
            f"stage {request.stage!r} must be lower-case letters, digits and dashes, starting "
            "with a letter, at most 20 characters (it names the stack and its buckets)"
        )
    names = ResourceNames(request.stage)
    config_path, definition = municipality_config(request.config, environ)
    target = aws_target(request.profile, request.region, environ)
    check_bucket_names(names, target.account_id, target.region)
    state = _current_stack(target, names)
    secrets = whatsapp_secrets(
        request.secret_flags,
        environ,
        stored_secrets(target, names.secrets_path),
        console.ask,
    )
    admin_email = email_address(request.admin_email, "--admin-email")
    alarm_email = email_address(request.alarm_email, "--alarm-email")
    kept = _kept_data(target, names) if _never_created(state) else None
    if _never_created(state) and admin_email is None and not (kept and kept.user_pool):
        raise PreflightError(
            "the first deployment needs --admin-email: the console's first administrator "
            "(the alarms go there too, unless --alarm-email says otherwise)"
        )
    previous_alarm_email = state.parameters.get("AlarmEmail", "") if state else ""
    number = None
    if request.meta_check:
        number = check_whatsapp_number(
            environ.get("WHATSAPP_API_URL"),
            secrets.values["whatsapp_phone_number_id"],
            secrets.values["whatsapp_access_token"],
        )
    return Plan(
        names=names,
        target=target,
        config_path=config_path,
        definition=definition,
        state=state,
        secrets=secrets,
        admin_email=admin_email,
        alarm_email=alarm_email or previous_alarm_email or admin_email or "",
        whatsapp_number=number,
        warnings=tuple(
            advice
            for advice in (concurrency_advice(lambda_concurrency_limit(target), target.region),)
            if advice
        ),
        kept=kept,
    )


def _kept_data(target: AwsTarget, names: ResourceNames) -> StageData | None:
    """What an earlier stack of the stage left (destroy keeps the data; a failed first create
    keeps what it made of it): CloudFormation cannot create it again, so it is imported."""
    from botocore.exceptions import BotoCoreError, ClientError

    from infra.stage_data import stage_data

    try:
        data = stage_data(target, names)
    except (BotoCoreError, ClientError) as error:
        raise PreflightError(f"cannot look for the stage's kept data: {error}") from error
    return data if data.lines() else None


def idle_stack(target: AwsTarget, names: ResourceNames) -> StackState | None:
    """The stage's stack, None when there is none; PreflightError while CloudFormation is
    working on it (deploy and destroy both wait for it to finish)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        state = stack_state(target.client("cloudformation"), names.stack)
    except (BotoCoreError, ClientError) as error:
        raise PreflightError(f"cannot read the stack {names.stack}: {error}") from error
    if state is not None and is_busy(state.status):
        raise PreflightError(
            f"the stack {names.stack} is busy ({state.status}): wait until CloudFormation "
            "finishes, then run this again"
        )
    return state


def _current_stack(target: AwsTarget, names: ResourceNames) -> StackState | None:
    state = idle_stack(target, names)
    if state is None:
        return None
    if state.status in ("UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "IMPORT_ROLLBACK_FAILED"):
        raise PreflightError(
            f"the stack {names.stack} is {state.status}: {state.reason or 'see its events'}; "
            "repair it in the CloudFormation console (continue the rollback, or delete it), "
            "then run this again"
        )
    return state


def _describe(plan: Plan, out: Callable[[str], None]) -> None:
    target = plan.target
    out(
        f"Deploying civicchat stage {plan.names.stage} to AWS account {target.account_id}, "
        f"{target.region}, with {target.credentials_label}."
    )
    example = " (the bundled example town: --config names yours)"
    out(
        f"  configuration    {plan.config_path}{example if plan.config_path == BUNDLED_CONFIG else ''}"
    )
    number = plan.whatsapp_number or "not checked with Meta (--skip-meta-check)"
    out(f"  WhatsApp number  {number}")
    sources = plan.secrets.sources
    out(
        "  secrets          "
        + ", ".join(
            f"{label} {_SOURCES[sources[field_name]]}"
            for field_name, label in (
                ("whatsapp_access_token", "access token"),
                ("whatsapp_app_secret", "app secret"),
                ("whatsapp_verify_token", "verify token"),
                ("pseudonym_key", "pseudonym key"),
            )
        )
    )
    out(f"  stack            {plan.names.stack} ({plan.state.status if plan.state else 'new'})")
    for warning in plan.warnings:
        out(f"  WARNING: {warning}")
    if plan.kept is not None:
        out("  kept data        taken back into the stack (a CloudFormation import):")
        for line in plan.kept.lines():
            out(f"                     {line}")


def _deploy(
    plan: Plan, request: DeployRequest, out: Callable[[str], None], waiting: Waiting
) -> None:
    from chalicelib.adapters.ssm_secrets import secrets_version, write_secrets

    target, names = plan.target, plan.names
    stored = write_secrets(names.secrets_path, plan.secrets.values, client=target.client("ssm"))
    version = secrets_version(stored)
    out(f"Secrets stored in SSM Parameter Store under {names.secrets_path} (version {version}).")
    with tempfile.TemporaryDirectory(prefix="civicchat-deploy-") as build:
        template, bundle = _package(plan, Path(build), out)
        steps = _upload(plan, template, bundle, request, out)
    parameters = {"AlarmEmail": plan.alarm_email, "SecretsVersion": version}
    _apply(plan, steps, parameters, out, waiting)
    state = stack_state(target.client("cloudformation"), names.stack)
    outputs = state.outputs if state else {}
    has_alarms = any("AlarmEmail" in step.declared_parameters for step in steps)
    _report(plan, outputs, out, has_alarms=has_alarms)


def _package(plan: Plan, build: Path, out: Callable[[str], None]) -> tuple[dict[str, Any], Path]:
    from infra.app_package import PackagingError, package_app
    from infra.artifacts import bundle_config, with_bundled_config

    out("Packaging the app with Chalice ...")
    try:
        template = package_app(
            plan.names.stage, build, region=plan.target.region, config_path=plan.config_path
        )
    except PackagingError as error:
        raise DeployError(str(error)) from error
    bundle = build / "deployment.zip"
    bundle_config(bundle, plan.config_path)
    return with_bundled_config(template), bundle


def _upload(
    plan: Plan,
    template: dict[str, Any],
    bundle: Path,
    request: DeployRequest,
    out: Callable[[str], None],
) -> list[Step]:
    """Put the bundle and the template(s) in the artifacts bucket; returns the steps to deploy,
    in order."""
    from infra.artifacts import (
        artifacts_bucket_name,
        ensure_artifacts_bucket,
        keep_alive,
        template_url,
        upload_artifact,
        upload_file,
    )
    from infra.sam_translation import with_code_at

    target = plan.target
    s3 = target.client("s3")
    bucket = artifacts_bucket_name(plan.names, target.account_id, target.region)
    if ensure_artifacts_bucket(s3, bucket, target.region):
        out(f"Artifacts bucket {bucket} created (private, encrypted).")
    cloudformation = target.client("cloudformation")
    deployed_template: dict[str, Any] = {}
    if not plan.first_deploy:
        deployed = cloudformation.get_template(StackName=plan.names.stack, TemplateStage="Original")
        deployed_template = _template_body(deployed.get("TemplateBody"))
        keep_alive(s3, bucket, deployed_template)
    code_key = upload_file(s3, bucket, bundle, ".zip")
    out(f"Code bundle uploaded: s3://{bucket}/{code_key}")
    template = with_code_at(template, bucket, code_key)
    if request.emulator_template:
        from infra.sam_translation import translate, without_api

        template = without_api(
            translate(template, region=target.region, account_id=target.account_id)
        )
    from infra.index_steps import IndexStepsError, index_steps, update_steps
    from infra.stage_data import adoption

    imports: list[dict[str, Any]] | None = None
    adopted = adoption(template, plan.kept) if plan.kept is not None else None
    try:
        if adopted is not None:
            imports = adopted.resources_to_import
            steps_after = index_steps(
                template, adopted.deployed_indexes, deployed_template=adopted.template
            )
            templates = [adopted.template, *steps_after]
        elif plan.first_deploy:
            templates = [template]
        else:
            templates = update_steps(
                template, deployed_indexes(target, plan.names.stack), deployed_template
            )
    except IndexStepsError as error:
        raise DeployError(
            f"cannot take the tables' indexes to this version one at a time: {error}. Delete "
            "those indexes by hand (DynamoDB console > the table > Indexes), one at a time, then "
            "run this again"
        ) from error
    steps = []
    for number, step in enumerate(templates):
        key = upload_artifact(s3, bucket, json.dumps(step).encode(), ".json")
        steps.append(
            Step(
                template_url(bucket, target.region, key),
                set(step.get("Parameters", {})),
                imports if number == 0 else None,
            )
        )
    return steps


def _template_body(body: Any) -> dict[str, Any]:
    """GetTemplate's TemplateBody: boto3 decodes a JSON template itself, or leaves the text."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as error:
            raise DeployError(
                f"the deployed template is not JSON ({error}): it was not deployed by "
                "`civicchat deploy`"
            ) from error
    return dict(body or {})


@dataclass(frozen=True, slots=True)
class Step:
    """One stack operation: its template, the parameters it declares (CloudFormation refuses
    others), and for an import, what it takes in."""

    template_url: str
    declared_parameters: set[str]
    resources_to_import: list[dict[str, Any]] | None = None


def deployed_indexes(target: AwsTarget, stack: str) -> dict[str, set[str]]:
    """{table's logical id: names of its GSIs now} for the stack's tables that exist."""
    cloudformation = target.client("cloudformation")
    dynamodb = target.client("dynamodb")
    indexes: dict[str, set[str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            table = resource.get("PhysicalResourceId")
            if resource["ResourceType"] != "AWS::DynamoDB::Table" or not table:
                continue
            try:
                described = dynamodb.describe_table(TableName=table)["Table"]
            except dynamodb.exceptions.ResourceNotFoundException:
                continue
            indexes[resource["LogicalResourceId"]] = {
                index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])
            }
    return indexes


def _apply(
    plan: Plan,
    steps: list[Step],
    parameters: dict[str, str],
    out: Callable[[str], None],
    waiting: Waiting,
) -> None:
    from infra.stack_deployment import deploy_template

    cloudformation = plan.target.client("cloudformation")
    changed = False
    indexed = [step for step in steps if not step.resources_to_import]
    for step in steps:
        if step.resources_to_import:
            out(f"CloudFormation: taking the kept data into {plan.names.stack} (an import) ...")
        else:
            if len(indexed) > 1:
                out(
                    f"Step {indexed.index(step) + 1} of {len(indexed)} (DynamoDB adds or removes "
                    "one index per table at a time):"
                )
            verb = "creating" if plan.first_deploy and plan.kept is None else "updating"
            out(f"CloudFormation: {verb} {plan.names.stack} ...")
        changed = (
            deploy_template(
                cloudformation,
                stack=plan.names.stack,
                template_url=step.template_url,
                # CloudFormation refuses a parameter the template does not declare.
                parameters={k: v for k, v in parameters.items() if k in step.declared_parameters},
                out=out,
                waiting=waiting,
                resources_to_import=step.resources_to_import,
            )
            or changed
        )
    if not changed:
        out("Nothing to change: the stack already runs this code, configuration and secrets.")


def _report(
    plan: Plan, outputs: Mapping[str, str], out: Callable[[str], None], *, has_alarms: bool
) -> None:
    endpoint = outputs.get("EndpointURL", "")
    base = endpoint if endpoint.endswith("/") else f"{endpoint}/"
    out("")
    out(f"civicchat is deployed: stage {plan.names.stage}, {plan.target.region}.")
    out("")
    out("In Meta's app dashboard, WhatsApp > Configuration > Webhook, paste:")
    if endpoint:
        out(f"  Callback URL   {base}{WEBHOOK_ROUTE}")
    else:
        out("  Callback URL   (this template has no API: nothing to paste)")
    out(f"  Verify token   {plan.secrets.values['whatsapp_verify_token']}")
    out("  then subscribe to the webhook field 'messages'.")
    out("")
    if endpoint:
        out(f"Agents' console  {base}{CONSOLE_ROUTE}")
    no_admin: FirstAdminError | None = None
    try:
        first_admin(plan.target, plan.names, plan.definition, outputs, plan.admin_email, out)
    except FirstAdminError as error:
        no_admin = error  # said last, after the rest of what the operator needs
    if has_alarms and plan.alarm_email:
        out(
            f"Alarms go to {plan.alarm_email}: AWS sends it an e-mail 'AWS Notification - "
            "Subscription Confirmation'; until its link is followed, no alarm arrives."
        )
    out("")
    _templates(plan, out)
    out("")
    out("Next: send a WhatsApp message to the number; `civicchat agent create --stage ...` adds")
    out("agents; running `civicchat deploy` again updates this stage in place.")
    if no_admin is not None:
        raise no_admin


def first_admin(
    target: AwsTarget,
    names: ResourceNames,
    definition: Any,
    outputs: Mapping[str, str],
    admin_email: str | None,
    out: Callable[[str], None],
) -> None:
    """Make the console's first administrator (admin of every team) when there is no agent
    yet, as `civicchat agent create` does; Cognito e-mails nothing, so the temporary password
    is shown here, once. The pool is the stack's (its outputs). Raises FirstAdminError when
    DynamoDB or Cognito refuse (the stack itself is deployed by then)."""
    import argparse

    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.adapters.cognito_directory import CognitoDirectory, DirectoryError
    from chalicelib.agent_commands import AgentTarget
    from chalicelib.agent_commands import run as agent_command
    from chalicelib.operator_commands import Target
    from infra.agent_directory import CLIENT_RESOURCE_ID, POOL_RESOURCE_ID

    pool_id = outputs.get(f"{POOL_RESOURCE_ID}Id")
    client_id = outputs.get(f"{CLIENT_RESOURCE_ID}Id")
    if not pool_id or not client_id:
        out("This stack has no agents' user pool: no administrator was made.")
        return
    agents = AgentTarget(
        ports=Target(names, target.region, phone_number_id="").console_ports,
        directory=CognitoDirectory(
            pool_id, client_id, region=target.region, client=target.client("cognito-idp")
        ),
        definition=definition,
    )
    teams = list(definition.teams)
    by_hand = " ".join(
        [
            f"civicchat agent create --stage {names.stage}",
            f"--email {admin_email or 'ADDRESS'} --role admin",
            *(f"--team {team}" for team in teams or ["..."]),
        ]
    )
    refused = (PynamoDBException, DirectoryError, BotoCoreError, ClientError)
    try:
        existing = agents.agents.list_all()
    except refused as error:
        raise _no_first_admin(str(error), by_hand) from error
    if existing:
        out(f"Agents: {len(existing)} (`civicchat agent list --stage {names.stage}`).")
        return
    if admin_email is None:
        out(
            "There is no agent yet: run this again with --admin-email, or "
            f"`civicchat agent create --stage {names.stage} --role admin ...`."
        )
        return
    out("First administrator:")
    args = argparse.Namespace(
        action="create",
        email=admin_email,
        role="admin",
        teams=teams,
        name=None,
        capacity=None,
        password=None,
        update=False,
    )
    said: list[str] = []

    def say(line: str) -> None:  # as it comes: a temporary password must not be lost
        said.append(line)
        out(f"  {line}" if line else "")

    try:
        code = agent_command(args, out=say, target=agents)
    except refused as error:
        raise _no_first_admin(str(error), by_hand) from error
    if code != 0:
        complaints = [
            line.removeprefix("civicchat: ") for line in said if line.startswith("civicchat: ")
        ]
        reason = (
            complaints[-1] if complaints else f"`civicchat agent create` ended with code {code}"
        )
        raise _no_first_admin(reason, by_hand)


def _no_first_admin(reason: str, by_hand: str) -> FirstAdminError:
    return FirstAdminError(
        "The stack is deployed, but the first administrator could not be made: "
        f"{reason.rstrip('.')}. Make one with `{by_hand}`"
    )


def _templates(plan: Plan, out: Callable[[str], None]) -> None:
    """In full after the first deploy; later, where to find them (they may have changed)."""
    from chalicelib.config_commands import templates_to_submit

    if not plan.first_deploy:
        names = ", ".join(plan.definition.templates) or "none"
        out(f"Message templates the configuration uses (Meta must approve each): {names}")
        out(f"  `civicchat config templates {plan.config_path}` says what to submit.")
        return
    out("Message templates to have approved by Meta:")
    for line in templates_to_submit(plan.definition):
        out(f"  {line}" if line else "")


def _quiet_state(plan: Plan) -> StackState | None:
    try:
        return stack_state(plan.target.client("cloudformation"), plan.names.stack)
    except Exception:
        return None
