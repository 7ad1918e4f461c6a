"""The template `make deploy` submits, as AWS and the linters see it: cfn-lint and checkov pass,
data is protected, the role grants what the app calls and nothing more, the alarms watch what
must not go unnoticed, and no secret is in it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.observability import METRICS_NAMESPACE, SERVICE, STAGE_DIMENSION
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import SECRETS_PATH_VARIABLE, SECRETS_VERSION_VARIABLE
from infra.alarms import ALARM_TOPIC_ID, HAS_ALARM_EMAIL
from infra.app_package import package_app
from infra.function_logs import LOG_RETENTION_DAYS
from infra.scan_suppressions import SUPPRESSIONS
from tests.infra.deploy_helpers import of_type

STAGE = "prod"  # the stage whose per-function settings (.chalice/config.json) are deployed
NAMES = ResourceNames(STAGE)
PROJECT_DIR = Path(__file__).resolve().parents[2]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CHECKOV = Path(sys.executable).parent.parent / "tools" / "checkov" / "bin" / "checkov"
CHECKOV_OPTIONS = ["--framework", "cloudformation", "--output", "json", "--skip-download"]
# Made-up secrets in the packaging environment: none may end up in the template or the bundle.
PLANTED_SECRETS = {
    "WHATSAPP_ACCESS_TOKEN": "EAAplantedaccesstoken4711",
    "WHATSAPP_APP_SECRET": "plantedappsecret0815",
    "WHATSAPP_VERIFY_TOKEN": "plantedverifytoken1234",
}
SECRET_VARIABLES = set(PLANTED_SECRETS)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = Path(tmp_path_factory.mktemp("package"))
    with pytest.MonkeyPatch.context() as environment:
        for name, value in PLANTED_SECRETS.items():
            environment.setenv(name, value)
        package_app(STAGE, out_dir)
    return out_dir


@pytest.fixture(scope="module")
def template(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "sam.json").read_text())


def statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for role in of_type(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            yield from policy["PolicyDocument"]["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the linters --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linter_reports(out_dir: Path) -> dict[str, Any]:
    """cfn-lint's and checkov's JSON reports on sam.json (the two run side by side)."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make install`")
    sam = str(out_dir / "sam.json")
    cfn_lint = subprocess.Popen(
        [str(CFN_LINT), "--format", "json", sam],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkov = subprocess.Popen(
        [str(CHECKOV), "--file", sam, *CHECKOV_OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Offline and quiet: no Prisma Cloud mapping download, no package scan.
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(out_dir),
            "BC_SKIP_MAPPING": "TRUE",
            "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        },
    )
    cfn_lint_out, cfn_lint_err = cfn_lint.communicate(timeout=240)
    checkov_out, _ = checkov.communicate(timeout=240)
    assert cfn_lint_err.strip() == "", cfn_lint_err
    checkov_report = json.loads(checkov_out)
    if isinstance(checkov_report, list):  # one report per framework
        (checkov_report,) = [r for r in checkov_report if r.get("check_type") == "cloudformation"]
    return {"cfn-lint": json.loads(cfn_lint_out or "[]"), "checkov": checkov_report}


def test_cfn_lint_finds_no_errors(linter_reports: dict[str, Any]) -> None:
    errors = [m for m in linter_reports["cfn-lint"] if m["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=2)


@pytest.fixture(scope="module")
def checkov_results(linter_reports: dict[str, Any]) -> dict[str, Any]:
    return linter_reports["checkov"]


def test_checkov_fails_no_check(checkov_results: dict[str, Any]) -> None:
    assert checkov_results["summary"]["parsing_errors"] == 0
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in checkov_results["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov_results["summary"]["passed"] > 0


def test_every_skipped_check_is_one_of_ours_with_its_reason(
    checkov_results: dict[str, Any],
) -> None:
    skipped: dict[str, set[str]] = {}
    for check in checkov_results["results"]["skipped_checks"]:
        resource_type = check["resource"].rsplit(".", 1)[0]
        assert (
            check["check_result"]["suppress_comment"]
            == SUPPRESSIONS[resource_type][check["check_id"]]
        )
        skipped.setdefault(resource_type, set()).add(check["check_id"])
    # Each suppression names a check checkov really runs on that type (a mistyped id would
    # suppress nothing and go unnoticed).
    assert skipped == {kind: set(checks) for kind, checks in SUPPRESSIONS.items()}


# --- data -----------------------------------------------------------------------------------------


def test_every_table_has_point_in_time_recovery_and_encryption(template: dict[str, Any]) -> None:
    tables = of_type(template, "AWS::DynamoDB::Table")
    assert len(tables) >= 11
    for table in tables.values():
        properties = table["Properties"]
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_every_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    dead_letter_ids = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    working = set(queues) - dead_letter_ids
    assert len(working) == len(dead_letter_ids) == 4
    for queue_id in working:
        redrive = queues[queue_id]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][1] == "Arn"
        assert redrive["maxReceiveCount"] >= 1
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_every_sqs_event_source_reports_failures_and_is_capped(template: dict[str, Any]) -> None:
    events = [
        event["Properties"]
        for function in of_type(template, "AWS::Serverless::Function").values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]
    assert len(events) == 4
    for event in events:
        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 2 <= event["ScalingConfig"]["MaximumConcurrency"] <= 10


def test_no_function_reserves_concurrency(template: dict[str, Any]) -> None:
    for function in of_type(template, "AWS::Serverless::Function").values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]
    assert "reserved_concurrency" not in (PROJECT_DIR / ".chalice" / "config.json").read_text()


# --- permissions --------------------------------------------------------------------------------

_DATA_SERVICES = ("dynamodb", "sqs", "s3", "ssm")


def test_one_role_for_every_function(template: dict[str, Any]) -> None:
    roles = {
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in of_type(template, "AWS::Serverless::Function").values()
    }
    assert roles == set(of_type(template, "AWS::IAM::Role")) == {"DefaultRole"}


def test_no_statement_grants_everything(template: dict[str, Any]) -> None:
    all_statements = list(statements(template))
    assert all_statements
    for statement in all_statements:
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, statement
        resources = as_list(statement["Resource"])
        for resource in resources:
            if isinstance(resource, str):
                assert resource != "*" and not resource.startswith("arn:*"), statement
        if any(action.split(":")[0] in _DATA_SERVICES for action in actions):
            assert all(isinstance(r, dict) for r in resources), statement  # the stack's own


def _granted(template: dict[str, Any]) -> dict[str, list[Any]]:
    granted: dict[str, list[Any]] = {}
    for statement in statements(template):
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def test_the_role_reaches_the_stages_own_resources(template: dict[str, Any]) -> None:
    granted = _granted(template)
    tables = set(of_type(template, "AWS::DynamoDB::Table"))
    queues = set(of_type(template, "AWS::SQS::Queue"))
    get_atts = {r["Fn::GetAtt"][0] for r in granted["dynamodb:GetItem"] if "Fn::GetAtt" in r}
    assert get_atts == tables
    assert {f"${{{table}.Arn}}/index/*" for table in tables} <= {
        r.get("Fn::Sub") for r in granted["dynamodb:Query"]
    }
    assert {r["Fn::GetAtt"][0] for r in granted["sqs:SendMessage"]} == queues
    assert granted["s3:GetObject"] == [{"Fn::Sub": "${MediaBucket.Arn}/*"}]
    assert granted["s3:DeleteObject"] == [{"Fn::Sub": "${MediaBucket.Arn}/*"}]
    assert granted["s3:ListBucket"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]}]
    parameter = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    assert granted["ssm:GetParametersByPath"] == [
        {"Fn::Sub": f"{parameter}/civicchat-prod"},
        {"Fn::Sub": f"{parameter}/civicchat-prod/*"},
    ]
    log_groups = set(of_type(template, "AWS::Logs::LogGroup"))
    assert {r["Fn::GetAtt"][0] for r in granted["logs:PutLogEvents"]} == log_groups
    assert not any(action.startswith("cognito-idp:") for action in granted)


# What IAM checks for an API operation, where it is not the operation's own name.
_IAM_ACTION_OF = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "TransactGetItems": "GetItem",
    "HeadObject": "GetObject",
    "ListObjectsV2": "ListBucket",
}
# PynamoDB's model and transaction calls, and the actions IAM checks for them.
_PYNAMODB_ACTIONS = {
    r"\.batch_get\(": ["GetItem", "BatchGetItem"],
    r"\.batch_write\(": ["BatchWriteItem"],
    r"\bTransactWrite\b": ["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"],
    r"\bTransactGet\b": ["GetItem"],
    r"\.scan\(": ["Scan"],
    r"\.query\(": ["Query"],
    r"\.describe_table\(": ["DescribeTable"],
}
# Calls in the adapters that only the operator's command line makes, with the operator's
# credentials: `civicchat deploy` writes the secrets, `civicchat destroy` deletes them.
_OPERATOR_ONLY = {"ssm:PutParameter": "ssm_secrets.py", "ssm:DeleteParameters": "ssm_secrets.py"}
_ADAPTER_SERVICES = {"dynamodb_": "dynamodb", "sqs_": "sqs", "s3_": "s3", "ssm_": "ssm"}
# Cognito serves these to a public app client without IAM authorisation; the console API calls
# them. The Admin* operations are the operator's command line's, with the operator's credentials.
_COGNITO_WITHOUT_IAM = {"initiate_auth", "respond_to_auth_challenge", "revoke_token"}


def _api_operations(service: str, source: str) -> set[str]:
    """The service's API operations the source calls, as IAM names them."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    operations = {xform_name(name): name for name in model.operation_names}
    called = set(re.findall(r"\.([a-z][a-z0-9_]*)\(", source))
    called |= set(
        re.findall(r'(?:get_paginator|generate_presigned_url)\(\s*"([a-z_0-9]+)"', source)
    )
    found = {operations[name] for name in called if name in operations}
    return {_IAM_ACTION_OF.get(name, name) for name in found}


def test_the_role_grants_every_call_the_adapters_make(template: dict[str, Any]) -> None:
    granted = set(_granted(template))
    needed: dict[str, set[str]] = {}
    for path in sorted((PROJECT_DIR / "chalicelib" / "adapters").glob("*.py")):
        service = next(
            (s for prefix, s in _ADAPTER_SERVICES.items() if path.name.startswith(prefix)), None
        )
        if service is None:
            continue
        source = path.read_text()
        actions = _api_operations(service, source)
        if service == "dynamodb":
            for pattern, pynamodb_actions in _PYNAMODB_ACTIONS.items():
                if re.search(pattern, source):
                    actions.update(pynamodb_actions)
        for action in actions:
            if _OPERATOR_ONLY.get(f"{service}:{action}") != path.name:
                needed.setdefault(f"{service}:{action}", set()).add(path.name)
    missing = {action: files for action, files in needed.items() if action not in granted}
    assert missing == {}
    # The scan sees the calls (or it would prove nothing).
    assert {"dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem", "dynamodb:Query"} <= set(needed)
    assert {"sqs:SendMessage", "sqs:GetQueueUrl", "s3:PutObject", "s3:GetObject"} <= set(needed)
    assert "ssm:GetParametersByPath" in needed
    for action in _OPERATOR_ONLY:
        assert action not in granted


def test_the_console_calls_cognito_only_where_iam_does_not_apply() -> None:
    source = (PROJECT_DIR / "chalicelib" / "adapters" / "cognito_directory.py").read_text()
    operations = set(re.findall(r'_call\(\s*"([a-z_]+)"', source))
    assert operations >= _COGNITO_WITHOUT_IAM
    assert {op for op in operations - _COGNITO_WITHOUT_IAM if not op.startswith("admin_")} == set()
    console = "".join(p.read_text() for p in (PROJECT_DIR / "chalicelib" / "http").glob("*.py"))
    for admin_method in ("create_user", "set_password", "disable_user", "enable_user"):
        assert f"directory.{admin_method}(" not in console


# --- logs, secrets ------------------------------------------------------------------------------


def test_every_function_logs_to_its_own_expiring_group(template: dict[str, Any]) -> None:
    log_groups = of_type(template, "AWS::Logs::LogGroup")
    functions = of_type(template, "AWS::Serverless::Function")
    used = [f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] for f in functions.values()]
    assert sorted(used) == sorted(log_groups)
    names = {group["Properties"]["LogGroupName"] for group in log_groups.values()}
    assert "/aws/lambda/civicchat-prod-api_handler" in names
    assert "/aws/lambda/civicchat-prod-check_slas" in names
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == LOG_RETENTION_DAYS
        assert "DeletionPolicy" not in group  # destroyed with the stack


def test_every_function_is_told_where_its_secrets_are(template: dict[str, Any]) -> None:
    assert template["Parameters"]["SecretsVersion"] == {
        "Type": "String",
        "Default": "0",
        "Description": template["Parameters"]["SecretsVersion"]["Description"],
    }
    for function in of_type(template, "AWS::Serverless::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[SECRETS_PATH_VARIABLE] == "/civicchat-prod/"
        assert variables[SECRETS_VERSION_VARIABLE] == {"Ref": "SecretsVersion"}
        assert not SECRET_VARIABLES & set(variables)


def test_no_secret_value_in_the_template_or_the_bundle(out_dir: Path) -> None:
    text = (out_dir / "sam.json").read_text()
    for value in PLANTED_SECRETS.values():
        assert value not in text
    with zipfile.ZipFile(out_dir / "deployment.zip") as bundle:
        for member in bundle.namelist():
            content = bundle.read(member)
            for value in PLANTED_SECRETS.values():
                assert value.encode() not in content, member


# --- alarms -------------------------------------------------------------------------------------


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        resource_id: alarm["Properties"]
        for resource_id, alarm in of_type(template, "AWS::CloudWatch::Alarm").items()
    }


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_an_alarm_for_every_dead_letter_queue(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    dead_letter_names = {
        queues[q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]][
            "Properties"
        ]["QueueName"]
        for q in queues.values()
        if "RedrivePolicy" in q["Properties"]
    }
    watched = {
        _dimensions(alarm)["QueueName"]
        for alarm in _alarms(template).values()
        if alarm["Namespace"] == "AWS/SQS"
    }
    assert watched == dead_letter_names
    for alarm in _alarms(template).values():
        if alarm["Namespace"] == "AWS/SQS":
            assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
            assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
            # SQS stops publishing an idle queue's metrics after ~6 h while the messages stay:
            # missing data must not turn the alarm OK ("it's over").
            assert alarm["TreatMissingData"] == "ignore"


def test_an_alarm_for_the_apis_5xx_rate(template: dict[str, Any]) -> None:
    (api,) = of_type(template, "AWS::Serverless::Api").values()
    assert api["Properties"]["Name"] == api["Properties"]["DefinitionBody"]["info"]["title"]
    (alarm,) = [a for a in _alarms(template).values() if a["Namespace"] == "AWS/ApiGateway"]
    assert alarm["MetricName"] == "5XXError"
    assert _dimensions(alarm) == {"ApiName": api["Properties"]["Name"]}
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Average", 300, 0.05)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["SenderPaused", "SlaBreaches"])
def test_an_alarm_on_our_own_metric(template: dict[str, Any], metric: str) -> None:
    (alarm,) = [a for a in _alarms(template).values() if a["MetricName"] == metric]
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert _dimensions(alarm) == {"service": SERVICE, STAGE_DIMENSION: STAGE}
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_alarms_mail_the_topic_which_mails_the_given_address(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert len(alarms) == 4 + 1 + 2
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": ALARM_TOPIC_ID}]
        if alarm["Namespace"] != "AWS/SQS":  # the dead-letter queues': see above
            assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmName"].startswith("civicchat-prod")
        if alarm["MetricName"] != "SenderPaused":  # its metric going quiet is no all-clear
            assert alarm["OKActions"] == [{"Ref": ALARM_TOPIC_ID}]
    assert template["Resources"][ALARM_TOPIC_ID]["Type"] == "AWS::SNS::Topic"
    (subscription,) = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == HAS_ALARM_EMAIL
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"][HAS_ALARM_EMAIL] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
