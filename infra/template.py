"""The data stack of one stage as a complete CloudFormation template."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
from chalicelib.resource_names import ResourceNames
from infra.data_resources import (
    QUEUE_RESOURCE_IDS,
    data_resources,
    dead_letter_resource_id,
    table_resource_id,
)


def data_template(names: ResourceNames) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"civicchat {names.stage}: DynamoDB tables and SQS queues",
        "Resources": data_resources(names),
        "Outputs": data_outputs(),
    }


def data_outputs() -> dict[str, Any]:
    """`<Table>Name`/`<Table>Arn` per table; `<Queue>Url`/`<Queue>Arn` per queue and DLQ."""
    outputs: dict[str, Any] = {}
    for model in MODEL_CLASSES:
        table_id = table_resource_id(model)
        outputs[f"{table_id}Name"] = {"Value": {"Ref": table_id}}
        outputs[f"{table_id}Arn"] = {"Value": {"Fn::GetAtt": [table_id, "Arn"]}}
    for queue_id in QUEUE_RESOURCE_IDS:
        for resource_id in (queue_id, dead_letter_resource_id(queue_id)):
            outputs[f"{resource_id}Url"] = {"Value": {"Ref": resource_id}}
            outputs[f"{resource_id}Arn"] = {"Value": {"Fn::GetAtt": [resource_id, "Arn"]}}
    return outputs
