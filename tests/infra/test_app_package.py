"""Package the real app with `chalice package` and check the template Lambda will run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.app_package import package_app

STAGE = "pkgtest"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return package_app(STAGE, Path(tmp_path_factory.mktemp("package")))


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _sqs_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{function}.{event_name}": event
        for function, resource in _functions(template).items()
        for event_name, event in resource["Properties"].get("Events", {}).items()
        if event["Type"] == "SQS"
    }


def test_every_sqs_event_source_reports_batch_item_failures(template: dict[str, Any]) -> None:
    events = _sqs_events(template)
    assert set(events) == {
        "InboundWorker.InboundWorkerSqsEventSource",
        "ReplySender.ReplySenderSqsEventSource",
        "BulkSender.BulkSenderSqsEventSource",
        "MediaFetcher.MediaFetcherSqsEventSource",
    }
    for event in events.values():
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_no_batching_window_on_the_fifo_queue(template: dict[str, Any]) -> None:
    """Lambda refuses MaximumBatchingWindowInSeconds on a FIFO queue's event source."""
    windows = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: event["Properties"].get(
            "MaximumBatchingWindowInSeconds"
        )
        for event in _sqs_events(template).values()
    }
    fifo = {
        queue_id
        for queue_id in windows
        if template["Resources"][queue_id]["Properties"].get("FifoQueue")
    }
    assert fifo == {"InboundQueue"}
    assert windows["InboundQueue"] is None
    assert all(isinstance(windows[queue_id], int) for queue_id in set(windows) - fifo)


def test_event_sources_point_at_the_stacks_own_queues(template: dict[str, Any]) -> None:
    queues = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0] for event in _sqs_events(template).values()
    }
    assert queues == {"InboundQueue", "OutboundRepliesQueue", "OutboundBulkQueue", "MediaQueue"}
    for queue_id in queues:
        assert template["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"


def test_the_data_resources_are_merged_in(template: dict[str, Any]) -> None:
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) >= 3
    assert all(t["Properties"]["PointInTimeRecoverySpecification"] for t in tables)


def test_every_function_is_told_the_media_bucket(template: dict[str, Any]) -> None:
    for function in _functions(template).values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["CIVICCHAT_MEDIA_BUCKET"] == {"Ref": "MediaBucket"}
    assert template["Resources"]["MediaBucket"]["Type"] == "AWS::S3::Bucket"


def test_the_functions_may_use_media_objects_and_nothing_else_in_s3(
    template: dict[str, Any],
) -> None:
    roles = {
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in _functions(template).values()
    }
    for role_id in roles:
        statements = [
            statement
            for policy in template["Resources"][role_id]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]
        media = [s for s in statements if any(a.startswith("s3:") for a in s["Action"])]
        assert media == [
            {
                "Sid": "MediaObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [{"Fn::Sub": "${MediaBucket.Arn}/*"}],
            },
            {
                # So that a missing object answers 404, not 403.
                "Sid": "MediaBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [{"Fn::GetAtt": ["MediaBucket", "Arn"]}],
            },
        ]


def test_schedule_rules_are_named_like_the_local_stacks(template: dict[str, Any]) -> None:
    rules = {
        event["Properties"]["Name"]
        for function in _functions(template).values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Schedule"
    }
    assert rules == {
        f"civicchat-{STAGE}-{name}"
        for name in ("requeue_stalled_outbound", "run_reminders", "check_slas", "run_broadcasts")
    }


def test_consumers_are_capped_by_their_event_source_not_reserved_concurrency(
    template: dict[str, Any],
) -> None:
    caps = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: event["Properties"]["ScalingConfig"]
        for event in _sqs_events(template).values()
    }
    assert caps == {
        "InboundQueue": {"MaximumConcurrency": 5},
        "OutboundRepliesQueue": {"MaximumConcurrency": 3},
        "OutboundBulkQueue": {"MaximumConcurrency": 2},
        "MediaQueue": {"MaximumConcurrency": 2},
    }
    for function in _functions(template).values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]


def test_media_expire_after_the_configs_message_retention(template: dict[str, Any]) -> None:
    rules = template["Resources"]["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    # example-town.yaml: retention.messages = 24 months
    assert [(rule["Status"], rule["ExpirationInDays"]) for rule in rules] == [("Enabled", 731)]
