"""The data stack of one stage as a complete CloudFormation template."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
from chalicelib.resource_names import ResourceNames
from infra.data_resources import (
    MEDIA_BUCKET_RESOURCE_ID,
    QUEUE_RESOURCE_IDS,
    data_resources,
    dead_letter_resource_id,
    table_resource_id,
)


def data_template(
    names: ResourceNames, *, media_retention_days: int | None = None
) -> dict[str, Any]:
    """`media_retention_days` comes from the municipality config (`retention.messages`, see
    `data_resources.retention_days`); without it media is kept until deleted."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"civicchat {names.stage}: DynamoDB tables, SQS queues, media bucket",
        "Resources": data_resources(names, media_retention_days=media_retention_days),
        "Outputs": data_outputs(),
    }


def data_outputs() -> dict[str, Any]:
    """`<Table>Name`/`<Table>Arn` per table; `<Queue>Url`/`<Queue>Arn` per queue and DLQ;
    `MediaBucketName`/`MediaBucketArn`."""
    outputs: dict[str, Any] = {}
    for model in MODEL_CLASSES:
        table_id = table_resource_id(model)
        outputs[f"{table_id}Name"] = {"Value": {"Ref": table_id}}
        outputs[f"{table_id}Arn"] = {"Value": {"Fn::GetAtt": [table_id, "Arn"]}}
    for queue_id in QUEUE_RESOURCE_IDS:
        for resource_id in (queue_id, dead_letter_resource_id(queue_id)):
            outputs[f"{resource_id}Url"] = {"Value": {"Ref": resource_id}}
            outputs[f"{resource_id}Arn"] = {"Value": {"Fn::GetAtt": [resource_id, "Arn"]}}
    bucket = MEDIA_BUCKET_RESOURCE_ID
    outputs[f"{bucket}Name"] = {"Value": {"Ref": bucket}}
    outputs[f"{bucket}Arn"] = {"Value": {"Fn::GetAtt": [bucket, "Arn"]}}
    return outputs
