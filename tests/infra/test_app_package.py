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
    }
    for event in events.values():
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_event_sources_point_at_the_stacks_own_queues(template: dict[str, Any]) -> None:
    queues = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0] for event in _sqs_events(template).values()
    }
    assert queues == {"InboundQueue", "OutboundRepliesQueue", "OutboundBulkQueue"}
    for queue_id in queues:
        assert template["Resources"][queue_id]["Type"] == "AWS::SQS::Queue"


def test_the_data_resources_are_merged_in(template: dict[str, Any]) -> None:
    tables = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert len(tables) >= 3
    assert all(t["Properties"]["PointInTimeRecoverySpecification"] for t in tables)
