"""The packaged app, translated from SAM offline and created in moto's CloudFormation, makes the
same tables, queues, schedule rules and media bucket as `civicchat run`'s emulator provisioning.

One stage, two regions: moto's servers in one process share their accounts and regions, so the
deployed stack and the local stack each get a region of their own. Their descriptions then agree
once the region in names and ARNs, timestamps and generated ids are set aside. Where moto's
CloudFormation accepts a property without applying it (MOTO_IGNORES), no description can show
it, so the two stacks' definitions of the data resources are compared as well.
"""

from __future__ import annotations

import ast
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.local_stack.aws_emulator import AwsEmulator
from chalicelib.local_stack.stack import app_schedules
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG, MEDIA_BUCKET_VARIABLE, SECRETS_VERSION_VARIABLE
from infra.app_package import package_app
from infra.data_resources import media_retention_days
from infra.sam_translation import translate, with_code_at, without_api
from infra.stack_deployment import Waiting, failed_resources, wait_for_stack
from tests.conftest import FAKE_AWS
from tests.infra.deploy_helpers import every, of_type

STAGE = "emutest"
REGION = "eu-west-1"
LOCAL_REGION = "eu-north-1"
NAMES = ResourceNames(STAGE)
CODE_BUCKET = f"{NAMES.prefix}-artifacts"
CODE_KEY = "deployment.zip"
STACK_PARAMETERS = {"AlarmEmail": "alerts@example.org", "SecretsVersion": "3"}

# Resource types moto 5.2.5's CloudFormation has no model for: it skips them (warning "No Moto
# CloudFormation support for <type>") and lists a nameless CREATE_COMPLETE resource instead.
# The alarms are made here through the CloudWatch API instead (`alarms` fixture).
MOTO_CANNOT_CREATE = {"AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}
# Properties moto 5.2.5's CloudFormation accepts and does not apply (on both stacks alike).
MOTO_IGNORES = {
    "AWS::DynamoDB::Table": (
        "PointInTimeRecoverySpecification",  # not read
        "TimeToLiveSpecification",  # not read
        "SSESpecification",  # read as the API's {"Enabled"}, not the template's {"SSEEnabled"}
    ),
    "AWS::S3::Bucket": (  # only BucketEncryption and Tags are applied
        "PublicAccessBlockConfiguration",
        "OwnershipControls",
        "LifecycleConfiguration",
    ),
    # Only Code, FunctionName, Handler, Role, Runtime, Description, MemorySize, Publish,
    # Timeout, VpcConfig, Environment and ReservedConcurrentExecutions are passed on.
    "AWS::Lambda::Function": ("LoggingConfig", "TracingConfig", "Architectures", "Tags"),
}
# What `without_api` leaves out: moto has no Cognito resources, and its RestApi ignores the
# OpenAPI `Body`, so the API has no methods and its Deployment fails.
API_TYPE_PREFIXES = ("AWS::ApiGateway::", "AWS::Cognito::")
API_FUNCTION = "APIHandler"  # Chalice's one function behind every route
DATA_RESOURCE_TYPES = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::S3::Bucket")
# The data resources' definitions differ only in these, and in `Metadata` (checkov's
# suppressions with their reasons, infra/scan_suppressions.py: nothing CloudFormation creates).
VOLATILE_KEYS = {"TableId", "ResponseMetadata"}
VOLATILE_SUFFIXES = ("DateTime", "Timestamp")
# Said of MOTO_CANNOT_CREATE; any other type moto skips fails the first test below.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto")


@dataclass(frozen=True)
class Emulator:
    endpoint: str
    region: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)


@dataclass(frozen=True)
class Deployment(Emulator):
    full_template: dict[str, Any]  # translated, with the API
    template: dict[str, Any]  # as created in moto

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return of_type(self.template, resource_type)

    def physical_ids(self) -> dict[str, str]:
        summaries = self.client("cloudformation").list_stack_resources(StackName=NAMES.stack)
        return {
            summary["LogicalResourceId"]: summary.get("PhysicalResourceId", "")
            for summary in summaries["StackResourceSummaries"]
        }


@pytest.fixture(scope="module")
def fake_aws() -> Iterator[None]:
    """Both servers take any credentials; nothing here may reach a real account."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def deployment(
    fake_aws: None, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    out_dir = Path(tmp_path_factory.mktemp("package"))
    packaged = with_code_at(package_app(STAGE, out_dir, region=REGION), CODE_BUCKET, CODE_KEY)
    full_template = translate(packaged, region=REGION)
    deployment = Deployment(moto_endpoint, REGION, full_template, without_api(full_template))
    s3 = deployment.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.upload_file(str(out_dir / "deployment.zip"), CODE_BUCKET, CODE_KEY)
    cloudformation = deployment.client("cloudformation")
    cloudformation.create_stack(
        StackName=NAMES.stack,
        TemplateBody=json.dumps(deployment.template),
        Parameters=_parameters(deployment.template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    _wait_for_stack(cloudformation)
    yield deployment
    # moto's state outlives its servers (it is the process's): let the seven copies of the
    # code bundle go.
    cloudformation.delete_stack(StackName=NAMES.stack)
    s3.delete_object(Bucket=CODE_BUCKET, Key=CODE_KEY)


def _parameters(template: dict[str, Any]) -> list[dict[str, str]]:
    declared = template.get("Parameters", {})
    unknown = [n for n, p in declared.items() if "Default" not in p and n not in STACK_PARAMETERS]
    assert not unknown, f"give the test a value for the template's parameters {unknown}"
    return [
        {"ParameterKey": name, "ParameterValue": value}
        for name, value in STACK_PARAMETERS.items()
        if name in declared
    ]


def _wait_for_stack(cloudformation: Any) -> None:
    waiting = Waiting(poll_seconds=0.1, timeout_seconds=60)
    status = wait_for_stack(cloudformation, NAMES.stack, None, out=lambda _: None, waiting=waiting)
    assert status == "CREATE_COMPLETE", failed_resources(cloudformation, NAMES.stack, None)


@pytest.fixture(scope="module")
def local_stack(fake_aws: None) -> Iterator[Emulator]:
    """What `civicchat run` provisions, with the app's schedules as it reads them."""
    emulator = AwsEmulator(port=0)
    endpoint = emulator.start()
    schedules = [(name, expression) for name, expression, _ in app_schedules(_app())]
    definition = load_municipality_file(BUNDLED_CONFIG)
    emulator.provision(
        NAMES, LOCAL_REGION, schedules, media_retention_days=media_retention_days(definition)
    )
    yield Emulator(endpoint, LOCAL_REGION)
    emulator.stop()


@pytest.fixture(scope="module")
def alarms(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The template's alarms, made through the CloudWatch API (moto's CloudFormation cannot):
    the property names are PutMetricAlarm's own, so botocore checks them against the API."""
    physical_ids = deployment.physical_ids()
    cloudwatch = deployment.client("cloudwatch")
    for resource in deployment.resources("AWS::CloudWatch::Alarm").values():
        cloudwatch.put_metric_alarm(**_resolve_refs(resource["Properties"], physical_ids))
    return {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=NAMES.prefix)["MetricAlarms"]
    }


def _resolve_refs(value: Any, physical_ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return physical_ids[value["Ref"]]
        assert not any(key.startswith("Fn::") for key in value), f"resolve {value} too"
        return {key: _resolve_refs(item, physical_ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(item, physical_ids) for item in value]
    return value


def _app() -> Any:
    return importlib.import_module("app")


def stable(value: Any, region: str) -> Any:
    """`value` without what differs between two creations of the same thing, and with
    `region` (in names and ARNs) written as REGION."""
    if isinstance(value, dict):
        return {
            key: stable(item, region)
            for key, item in value.items()
            if key not in VOLATILE_KEYS and not key.endswith(VOLATILE_SUFFIXES)
        }
    if isinstance(value, list):
        return [stable(item, region) for item in value]
    if isinstance(value, str):
        return value.replace(region, REGION)
    return value


def tables(emulator: Emulator) -> dict[str, Any]:
    dynamodb = emulator.client("dynamodb")
    names = every(dynamodb, "list_tables", "TableNames")
    return {
        name: stable(
            {
                "table": dynamodb.describe_table(TableName=name)["Table"],
                "backups": dynamodb.describe_continuous_backups(TableName=name),
                "ttl": dynamodb.describe_time_to_live(TableName=name),
            },
            emulator.region,
        )
        for name in names
        if name.startswith(f"{NAMES.prefix}-")
    }


def queues(emulator: Emulator) -> dict[str, Any]:
    sqs = emulator.client("sqs")
    return {
        url.rsplit("/", 1)[-1]: stable(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"],
            emulator.region,
        )
        for url in sqs.list_queues(QueueNamePrefix=f"{NAMES.prefix}-")["QueueUrls"]
    }


def schedule_rules(emulator: Emulator) -> dict[str, tuple[str, str]]:
    rules = emulator.client("events").list_rules(NamePrefix=f"{NAMES.prefix}-")["Rules"]
    return {rule["Name"]: (rule["ScheduleExpression"], rule["State"]) for rule in rules}


def media_bucket(emulator: Emulator) -> dict[str, Any]:
    """What moto applies of the bucket's properties (see MOTO_IGNORES)."""
    s3 = emulator.client("s3")
    bucket = media_bucket_name(emulator)
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    return stable({"encryption": encryption, "versioning": versioning}, emulator.region)


def media_bucket_name(emulator: Emulator) -> str:
    account_id = emulator.client("sts").get_caller_identity()["Account"]
    return NAMES.media_bucket(account_id, emulator.region)


def stack_template(emulator: Emulator) -> dict[str, Any]:
    body = emulator.client("cloudformation").get_template(StackName=NAMES.stack)["TemplateBody"]
    return json.loads(body if isinstance(body, str) else json.dumps(body))


def definitions(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The resources without their `Metadata`."""
    return {
        resource_id: {key: value for key, value in resource.items() if key != "Metadata"}
        for resource_id, resource in resources.items()
    }


def test_the_stack_creates_every_resource_moto_can(deployment: Deployment) -> None:
    created = {logical_id for logical_id in deployment.physical_ids() if logical_id}
    expected = {
        resource_id
        for resource_id, resource in deployment.template["Resources"].items()
        if resource["Type"] not in MOTO_CANNOT_CREATE
    }
    assert created == expected


def test_only_the_api_and_the_agents_pool_are_left_out(deployment: Deployment) -> None:
    left_out = {
        resource_id: resource["Type"]
        for resource_id, resource in deployment.full_template["Resources"].items()
        if resource_id not in deployment.template["Resources"]
    }
    assert API_FUNCTION in left_out
    for resource_id, resource_type in left_out.items():
        assert resource_type.startswith(API_TYPE_PREFIXES) or resource_id.startswith(
            API_FUNCTION
        ), f"{resource_id} ({resource_type}) should not need the API"
    functions = set(deployment.resources("AWS::Lambda::Function"))
    assert functions == set(of_type(deployment.full_template, "AWS::Lambda::Function")) - {
        API_FUNCTION
    }


def test_tables_are_the_local_stacks(deployment: Deployment, local_stack: Emulator) -> None:
    deployed = tables(deployment)
    assert len(deployed) == len(deployment.resources("AWS::DynamoDB::Table"))
    assert deployed == tables(local_stack)


def test_queues_are_the_local_stacks(deployment: Deployment, local_stack: Emulator) -> None:
    deployed = queues(deployment)
    assert len(deployed) == len(deployment.resources("AWS::SQS::Queue"))
    assert all("RedrivePolicy" in q for name, q in deployed.items() if "-dlq" not in name)
    assert deployed == queues(local_stack)


def test_the_media_bucket_is_the_local_stacks(
    deployment: Deployment, local_stack: Emulator
) -> None:
    deployed = media_bucket(deployment)
    [rule] = deployed["encryption"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert deployed == media_bucket(local_stack)


@pytest.mark.parametrize("resource_type", DATA_RESOURCE_TYPES)
def test_data_resources_are_defined_as_in_the_local_stack(
    deployment: Deployment, local_stack: Emulator, resource_type: str
) -> None:
    local = of_type(stack_template(local_stack), resource_type)
    deployed = deployment.resources(resource_type)
    assert deployed
    assert definitions(deployed) == definitions(local)


def test_media_expire_after_the_configs_retention_in_both(
    deployment: Deployment, local_stack: Emulator
) -> None:
    local = stack_template(local_stack)["Resources"]["MediaBucket"]["Properties"]
    deployed = deployment.template["Resources"]["MediaBucket"]["Properties"]
    # example-town.yaml: retention.messages = 24 months
    for properties in (local, deployed):
        assert properties["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 731


def test_schedule_rules_are_the_local_stacks(deployment: Deployment, local_stack: Emulator) -> None:
    deployed = schedule_rules(deployment)
    assert set(deployed) == {NAMES.schedule_rule(name) for name, _, _ in app_schedules(_app())}
    assert deployed == schedule_rules(local_stack)


def test_schedule_rules_run_the_stacks_functions(deployment: Deployment) -> None:
    events = deployment.client("events")
    functions = {
        function["FunctionArn"]
        for function in every(deployment.client("lambda"), "list_functions", "Functions")
    }
    for rule in schedule_rules(deployment):
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert [target["Arn"] in functions for target in targets] == [True], rule


def test_every_queue_consumer_reports_partial_batch_failures(deployment: Deployment) -> None:
    physical_ids = deployment.physical_ids()
    mappings = every(
        deployment.client("lambda"), "list_event_source_mappings", "EventSourceMappings"
    )
    by_uuid = {mapping["UUID"]: mapping for mapping in mappings}
    sources = deployment.resources("AWS::Lambda::EventSourceMapping")
    assert len(sources) == len([s for s in _app().app.event_sources if hasattr(s, "queue")])
    for resource_id, resource in sources.items():
        mapping = by_uuid[physical_ids[resource_id]]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.get("ScalingConfig") == resource["Properties"].get("ScalingConfig")


def test_functions_get_every_variable_resolved(deployment: Deployment) -> None:
    physical_ids = deployment.physical_ids()
    aws_lambda = deployment.client("lambda")
    for resource_id, resource in deployment.resources("AWS::Lambda::Function").items():
        configuration = aws_lambda.get_function(FunctionName=physical_ids[resource_id])
        variables = configuration["Configuration"]["Environment"]["Variables"]
        declared = resource["Properties"]["Environment"]["Variables"]
        assert set(variables) == set(declared), resource_id
        assert not [value for value in variables.values() if value.startswith("{")], resource_id
        assert variables[MEDIA_BUCKET_VARIABLE] == media_bucket_name(deployment)
        if SECRETS_VERSION_VARIABLE in declared:
            assert variables[SECRETS_VERSION_VARIABLE] == STACK_PARAMETERS["SecretsVersion"]


def test_every_function_logs_into_a_log_group_of_the_stack(deployment: Deployment) -> None:
    physical_ids = deployment.physical_ids()
    logs = deployment.client("logs")
    log_groups = deployment.resources("AWS::Logs::LogGroup")
    for resource_id, resource in deployment.resources("AWS::Lambda::Function").items():
        group_id = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        name = physical_ids[group_id]
        described = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        retention = log_groups[group_id]["Properties"]["RetentionInDays"]
        assert [(g["logGroupName"], g.get("retentionInDays")) for g in described] == [
            (name, retention)
        ], resource_id


def test_the_role_names_only_the_stacks_own_resources(deployment: Deployment) -> None:
    iam = deployment.client("iam")
    physical_ids = deployment.physical_ids()
    arns = {
        f"arn:aws:dynamodb:{REGION}:123456789012:table/{physical_ids[table_id]}"
        for table_id in deployment.resources("AWS::DynamoDB::Table")
    } | {
        f"arn:aws:sqs:{REGION}:123456789012:{physical_ids[queue_id].rsplit('/', 1)[-1]}"
        for queue_id in deployment.resources("AWS::SQS::Queue")
    }
    checked: set[str] = set()
    for role_id in deployment.resources("AWS::IAM::Role"):
        role = physical_ids[role_id]
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            for statement in _policy_document(document)["Statement"]:
                targets = statement["Resource"]
                for target in targets if isinstance(targets, list) else [targets]:
                    assert target.startswith("arn:aws:"), (policy, target)
                    if target.split(":")[2] in ("dynamodb", "sqs"):
                        assert target.split("/index/")[0] in arns, (policy, target)
                        checked.add(target.split(":")[2])
    assert checked == {"dynamodb", "sqs"}  # the role was read, resolved, and checked


def _policy_document(document: Any) -> dict[str, Any]:
    """moto 5.2.5 keeps a CloudFormation role's inline policy as the Python repr of the dict
    (quotes and all), and returns that text rather than the JSON IAM returns."""
    if isinstance(document, dict):
        return document
    try:
        return dict(json.loads(document))
    except json.JSONDecodeError:
        return dict(ast.literal_eval(document))


def test_alarms_reach_the_stacks_topic(
    deployment: Deployment, alarms: dict[str, dict[str, Any]]
) -> None:
    topics = deployment.resources("AWS::SNS::Topic")
    declared = deployment.resources("AWS::CloudWatch::Alarm")
    assert declared
    topic_arns = set(deployment.physical_ids()[topic_id] for topic_id in topics)
    listed = {t["TopicArn"] for t in every(deployment.client("sns"), "list_topics", "Topics")}
    assert topic_arns and topic_arns <= listed
    assert set(alarms) == {alarm["Properties"]["AlarmName"] for alarm in declared.values()}
    for name, alarm in alarms.items():
        assert set(alarm["AlarmActions"]) <= topic_arns, name
        assert set(alarm["OKActions"]) <= topic_arns, name
