"""CloudFormation resources for the stage's data: the DynamoDB tables, the SQS queues and the
private S3 bucket of residents' media.

Tables are derived from the PynamoDB models (keys, attribute definitions, indexes, projections,
TTL attribute): the models are the one definition, and AWS, moto and the code cannot disagree.
"""

from __future__ import annotations

import math
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
from chalicelib.domain.bot.definition import MunicipalityDefinition, Period
from chalicelib.resource_names import ResourceNames

# Per queue: AWS advises at least six times the consuming function's timeout (.chalice/config.json),
# or a batch still being worked on is delivered again (tests/infra/test_data_resources.py checks).
QUEUE_VISIBILITY_TIMEOUT_SECONDS = {
    "InboundQueue": 180,  # inbound_worker: 30 s
    "OutboundRepliesQueue": 180,  # reply_sender: 30 s
    "OutboundBulkQueue": 180,  # bulk_sender: 30 s
    "MediaQueue": 720,  # media_fetcher: 120 s (downloads from Meta)
}
MAX_RECEIVE_COUNT = 5
# Outbound senders count their own failed attempts and dead-letter with a reason; SQS also counts
# every deferral (pacing, a paused sender), so its own redrive is only a last resort there:
# 100 receives at the paused sender's 3-minute recheck is about five hours of pause.
OUTBOUND_MAX_RECEIVE_COUNT = 100
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600  # the longest SQS allows: time to look

Resources = dict[str, dict[str, Any]]


def table_resource_id(model: type[Model]) -> str:
    """The table's logical id in the template: ResidentsTable, ConversationsTable, ..."""
    return f"{model.logical_name.title()}Table"  # type: ignore[attr-defined]


# The queues as (resource id, name of the queue in ResourceNames).
QUEUE_RESOURCE_IDS = {
    "InboundQueue": "inbound_queue",
    "OutboundRepliesQueue": "outbound_replies_queue",
    "OutboundBulkQueue": "outbound_bulk_queue",
    "MediaQueue": "media_queue",
}
MEDIA_BUCKET_RESOURCE_ID = "MediaBucket"


def dead_letter_resource_id(queue_resource_id: str) -> str:
    return queue_resource_id.removesuffix("Queue") + "DeadLetterQueue"


def data_resources(names: ResourceNames, *, media_retention_days: int | None = None) -> Resources:
    """`media_retention_days`: how long residents' media is kept (the config's
    `retention.messages`, see `retention_days`); None keeps it until deleted."""
    resources: Resources = {}
    for model in MODEL_CLASSES:
        resources[table_resource_id(model)] = table_resource(model, names)
    for resource_id, attribute in QUEUE_RESOURCE_IDS.items():
        resources.update(queue_with_dead_letter(resource_id, getattr(names, attribute), names))
    resources[MEDIA_BUCKET_RESOURCE_ID] = media_bucket_resource(names, media_retention_days)
    return resources


def media_bucket_resource(names: ResourceNames, retention_days: int | None) -> dict[str, Any]:
    """Residents' photos, documents and voice notes: never public, encrypted at rest, and
    expired after the retention."""
    properties: dict[str, Any] = {
        "BucketName": {"Fn::Sub": names.media_bucket("${AWS::AccountId}", "${AWS::Region}")},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        # No VersioningConfiguration: unversioned, so deleting an object really deletes it.
    }
    if retention_days is not None:
        if retention_days < 1:
            raise ValueError(f"media retention must be at least one day, not {retention_days}")
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {
                    "Id": "expire-residents-media",
                    "Status": "Enabled",
                    "ExpirationInDays": retention_days,
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        }
    return {
        "Type": "AWS::S3::Bucket",
        # Like the tables: residents' data outlives the stack.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


_DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}


def media_retention_days(definition: MunicipalityDefinition) -> int | None:
    """How long the municipality keeps residents' media: its `retention.messages` in days."""
    retention = definition.retention
    if retention is None or retention.messages is None:
        return None
    return retention_days(retention.messages)


def retention_days(period: Period) -> int:
    """A calendar period as whole days for S3 (which only counts days): "24 months" → 731.
    Rounded up, so nothing is deleted before its period is over."""
    return math.ceil(period.amount * _DAYS_PER_UNIT[period.unit])


def table_resource(model: type[Model], names: ResourceNames) -> dict[str, Any]:
    schema = model._get_schema()
    properties: dict[str, Any] = {
        "TableName": names.table(model.logical_name),  # type: ignore[attr-defined]
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [dict(item) for item in schema["attribute_definitions"]],
        "KeySchema": _hash_first(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    indexes = [
        {
            "IndexName": index["index_name"],
            "KeySchema": _hash_first(index["key_schema"]),
            "Projection": dict(index["projection"]),
        }
        for index in schema["global_secondary_indexes"]
    ]
    if indexes:
        properties["GlobalSecondaryIndexes"] = indexes
    if schema["local_secondary_indexes"]:
        raise NotImplementedError(f"{model.__name__}: local secondary indexes are not mapped")
    ttl = ttl_attribute_name(model)
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        # Residents' data outlives the stack: deleting or replacing it must be deliberate.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _hash_first(key_schema: Any) -> list[dict[str, str]]:
    # DynamoDB wants the HASH element first; PynamoDB lists index keys alphabetically by
    # attribute name (and sorts them the same way in its own create_table).
    return sorted((dict(item) for item in key_schema), key=lambda item: item["KeyType"])


def ttl_attribute_name(model: type[Model]) -> str | None:
    for attribute in model.get_attributes().values():
        if isinstance(attribute, TTLAttribute):
            return attribute.attr_name
    return None


def queue_with_dead_letter(resource_id: str, queue_name: str, names: ResourceNames) -> Resources:
    fifo = queue_name.endswith(".fifo")
    max_receive_count = (
        OUTBOUND_MAX_RECEIVE_COUNT if resource_id.startswith("Outbound") else MAX_RECEIVE_COUNT
    )
    dlq_id = dead_letter_resource_id(resource_id)
    fifo_properties: dict[str, Any] = (
        {"FifoQueue": True, "ContentBasedDeduplication": False} if fifo else {}
    )
    dead_letter = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": names.dead_letter_queue(queue_name),
            **fifo_properties,
            "MessageRetentionPeriod": DEAD_LETTER_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
        },
    }
    queue = {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": queue_name,
            **fifo_properties,
            "VisibilityTimeout": QUEUE_VISIBILITY_TIMEOUT_SECONDS[resource_id],
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                "maxReceiveCount": max_receive_count,
            },
        },
    }
    return {resource_id: queue, dlq_id: dead_letter}
