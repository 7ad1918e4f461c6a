"""The CloudFormation half of `civicchat deploy`, against moto's server with plain templates
(moto cannot run the SAM transform): a change set creates the stack and its events come out
as progress lines; an update happens in place; an unchanged template is "nothing to change";
a failing resource stops the deploy with its reason; deleting keeps what is retained.

moto executes a change set synchronously and has no per-resource events, so the report of
failed resources from AWS's events is checked on events shaped like AWS's."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.artifacts import ensure_artifacts_bucket, template_url, upload_artifact
from infra.stack_deployment import (
    StackFailed,
    Waiting,
    delete_stack,
    deploy_template,
    failure_lines,
    progress_line,
    stack_state,
)

REGION = "eu-west-1"
BUCKET = "civicchat-stacktest-deploy-123456789012-eu-west-1"
FAST = Waiting(poll_seconds=0.01, timeout_seconds=30)
_numbers = itertools.count()


def _template(*, queues: dict[str, dict[str, Any]], retained_table: bool = False) -> dict[str, Any]:
    resources: dict[str, Any] = {
        logical: {"Type": "AWS::SQS::Queue", "Properties": properties}
        for logical, properties in queues.items()
    }
    if retained_table:
        resources["KeptTable"] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "Properties": {
                "TableName": f"kept-{next(_numbers)}",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"SecretsVersion": {"Type": "String", "Default": "0"}},
        "Resources": resources,
        "Outputs": {"FirstQueueUrl": {"Value": {"Ref": next(iter(queues))}}},
    }


@pytest.fixture
def clients(aws_env: str) -> tuple[Any, Any]:
    s3 = boto3.client("s3", region_name=REGION)
    ensure_artifacts_bucket(s3, BUCKET, REGION)
    return boto3.client("cloudformation", region_name=REGION), s3


def _url(s3: Any, template: dict[str, Any]) -> str:
    return template_url(
        BUCKET, REGION, upload_artifact(s3, BUCKET, json.dumps(template).encode(), ".json")
    )


def _stack() -> str:
    return f"civicchat-stacktest-{next(_numbers)}"


def _deploy(
    clients: tuple[Any, Any],
    stack: str,
    template: dict[str, Any],
    parameters: dict[str, str],
    out: Callable[[str], None] = lambda _: None,
) -> bool:
    cloudformation, s3 = clients
    return deploy_template(
        cloudformation,
        stack=stack,
        template_url=_url(s3, template),
        parameters=parameters,
        out=out,
        waiting=FAST,
    )


def test_a_new_stack_is_created_and_its_events_are_progress_lines(clients: tuple[Any, Any]) -> None:
    cloudformation, _ = clients
    stack, lines = _stack(), []
    template = _template(queues={"Inbound": {"QueueName": f"{stack}-inbound"}})
    changed = _deploy(clients, stack, template, {"SecretsVersion": "abc"}, lines.append)
    assert changed is True
    state = stack_state(cloudformation, stack)
    assert state is not None
    assert state.status == "CREATE_COMPLETE"
    assert state.parameters == {"SecretsVersion": "abc"}
    # (moto leaves a stack made by a change set without outputs; AWS would list FirstQueueUrl.)
    assert lines[0].startswith("Change set civicchat-") and lines[0].endswith(": 1 to add")
    statuses = [line.split()[1] for line in lines[1:]]
    assert statuses == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_an_update_is_made_in_place_and_an_unchanged_template_changes_nothing(
    clients: tuple[Any, Any],
) -> None:
    cloudformation, _ = clients
    stack = _stack()
    first = _template(queues={"Inbound": {"QueueName": f"{stack}-inbound"}})
    second = _template(
        queues={
            "Inbound": {"QueueName": f"{stack}-inbound"},
            "Outbound": {"QueueName": f"{stack}-outbound"},
        }
    )
    for template in (first, second):
        assert _deploy(clients, stack, template, {"SecretsVersion": "v1"})
    state = stack_state(cloudformation, stack)
    assert state is not None and state.status == "UPDATE_COMPLETE"
    stack_ids = {
        r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    }
    assert len(stack_ids) == 2

    lines: list[str] = []
    unchanged = _deploy(clients, stack, second, {"SecretsVersion": "v1"}, lines.append)
    assert unchanged is False
    assert lines == []
    # A rotated secret alone is a change: every function's environment moves with it.
    assert _deploy(clients, stack, second, {"SecretsVersion": "v2"})
    assert stack_state(cloudformation, stack).parameters == {"SecretsVersion": "v2"}  # type: ignore[union-attr]


def test_a_failing_resource_stops_the_deploy_with_its_reason(clients: tuple[Any, Any]) -> None:
    stack = _stack()
    # A FIFO queue's name must end in .fifo: CloudFormation (here moto) refuses to create it.
    template = _template(queues={"Inbound": {"QueueName": f"{stack}-inbound", "FifoQueue": True}})
    lines: list[str] = []
    with pytest.raises(StackFailed) as failed:
        _deploy(clients, stack, template, {}, lines.append)
    assert "Queue name must end in .fifo for FIFO queues" in str(failed.value)
    assert not any("CREATE_COMPLETE" in line for line in lines)


def test_deleting_the_stack_keeps_retained_resources(clients: tuple[Any, Any]) -> None:
    cloudformation, _ = clients
    stack = _stack()
    template = _template(queues={"Inbound": {"QueueName": f"{stack}-inbound"}}, retained_table=True)
    _deploy(clients, stack, template, {})
    table = template["Resources"]["KeptTable"]["Properties"]["TableName"]
    lines: list[str] = []
    delete_stack(cloudformation, stack=stack, out=lines.append, waiting=FAST)
    assert stack_state(cloudformation, stack) is None
    assert [line.split()[1] for line in lines] == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
    sqs = boto3.client("sqs", region_name=REGION)
    assert f"{stack}-inbound" not in str(sqs.list_queues().get("QueueUrls", []))
    assert boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)


def _event(
    logical: str, kind: str, status: str, reason: str = "", second: int = 0
) -> dict[str, Any]:
    return {
        "EventId": f"{logical}-{status}",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
        "Timestamp": datetime(2026, 3, 2, 9, 0, second, tzinfo=UTC),
    }


def test_the_report_names_the_failed_resources_not_the_ones_cancelled_because_of_them() -> None:
    # The shape of AWS's events for a first deploy whose IAM role was refused.
    events = [
        _event(
            "civicchat-prod", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"
        ),
        _event("DefaultRole", "AWS::IAM::Role", "CREATE_IN_PROGRESS", second=1),
        _event("InboundQueue", "AWS::SQS::Queue", "CREATE_IN_PROGRESS", second=1),
        _event(
            "DefaultRole",
            "AWS::IAM::Role",
            "CREATE_FAILED",
            'Resource handler returned message: "User: arn:aws:iam::1:user/deployer is not '
            'authorized to perform: iam:CreateRole" (HandlerErrorCode: AccessDenied)',
            second=3,
        ),
        _event(
            "InboundQueue", "AWS::SQS::Queue", "CREATE_FAILED", "Resource creation cancelled", 4
        ),
        _event(
            "civicchat-prod",
            "AWS::CloudFormation::Stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [InboundQueue, DefaultRole].",
            5,
        ),
        _event("civicchat-prod", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", second=9),
    ]
    assert failure_lines(events) == [
        'DefaultRole (AWS::IAM::Role): Resource handler returned message: "User: '
        'arn:aws:iam::1:user/deployer is not authorized to perform: iam:CreateRole" '
        "(HandlerErrorCode: AccessDenied)"
    ]
    assert progress_line(events[3]).startswith("  09:00:03  CREATE_FAILED")
    assert progress_line(events[1]) == "  09:00:01  CREATE_IN_PROGRESS           DefaultRole"
