"""The residents' data of a stage that outlives its stack: the tables, the media bucket and the
agents' user pool (DeletionPolicy Retain). `civicchat destroy` keeps them unless told otherwise;
a later `civicchat deploy` takes them back into the new stack with a CloudFormation import,
instead of failing to create what already exists."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from chalicelib.resource_names import ResourceNames
from infra.agent_directory import POOL_RESOURCE_ID
from infra.data_resources import MEDIA_BUCKET_RESOURCE_ID
from infra.deploy_preflight import AwsTarget, PreflightError

_TABLE = "AWS::DynamoDB::Table"


@dataclass(frozen=True, slots=True)
class StageData:
    """The stage's data resources that exist, found by the names infra/ gives them."""

    names: ResourceNames
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → DescribeTable
    media_bucket: str | None = None
    user_pool: str | None = None  # its id

    def lines(self) -> list[str]:
        found = []
        if self.tables:
            prefix = self.names.table("")
            short = ", ".join(table.removeprefix(prefix) for table in self.tables)
            found.append(f"{len(self.tables)} tables {prefix}*: {short}")
        if self.media_bucket:
            found.append(f"media bucket {self.media_bucket}")
        if self.user_pool:
            found.append(f"agents' user pool {self.user_pool} (their sign-ins)")
        return found


@dataclass(frozen=True, slots=True)
class Adoption:
    """An IMPORT change set bringing kept data into a new stack: its template (the kept
    resources only, as they are: an import may neither create nor change anything), the
    identifiers, and the kept tables' indexes, from which the index steps start."""

    template: dict[str, Any]
    resources_to_import: list[dict[str, Any]]
    deployed_indexes: dict[str, set[str]]


def stage_data(target: AwsTarget, names: ResourceNames) -> StageData:
    """Raises PreflightError when the user pool cannot be told apart from another."""
    from botocore.exceptions import ClientError

    from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
    from infra.agent_directory import AmbiguousUserPoolError, find_user_pool

    dynamodb = target.client("dynamodb")
    tables = {}
    for model in MODEL_CLASSES:
        table = names.table(model.logical_name)  # type: ignore[attr-defined]
        try:
            tables[table] = dynamodb.describe_table(TableName=table)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            continue
    bucket: str | None = names.media_bucket(target.account_id, target.region)
    try:
        target.client("s3").head_bucket(Bucket=bucket)
    except ClientError:
        bucket = None
    try:
        user_pool = find_user_pool(target.client("cognito-idp"), names)
    except AmbiguousUserPoolError as error:
        raise PreflightError(str(error)) from error
    return StageData(names, tables, bucket, user_pool)


def adoption(template: dict[str, Any], data: StageData) -> Adoption | None:
    """What to import of `data` into a stack of `template`; None when nothing of it is in the
    template. A kept table is described with its indexes as they are, so that the index steps
    (infra/index_steps.py) then take it to the template's, one index at a time."""
    resources = template.get("Resources", {})
    table_ids = {
        resource["Properties"]["TableName"]: logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == _TABLE
        and isinstance(resource.get("Properties", {}).get("TableName"), str)
    }
    kept: dict[str, Any] = {}
    to_import: list[dict[str, Any]] = []
    indexes: dict[str, set[str]] = {}
    for table, described in data.tables.items():
        logical_id = table_ids.get(table)
        if logical_id is None:
            continue  # a table this version no longer has: left as it is
        resource = copy.deepcopy(resources[logical_id])
        properties = resource["Properties"]
        properties["AttributeDefinitions"] = described["AttributeDefinitions"]
        current = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
            }
            for index in described.get("GlobalSecondaryIndexes", [])
        ]
        if current:
            properties["GlobalSecondaryIndexes"] = current
        else:
            properties.pop("GlobalSecondaryIndexes", None)
        kept[logical_id] = resource
        to_import.append(_import(_TABLE, logical_id, {"TableName": table}))
        indexes[logical_id] = {index["IndexName"] for index in current}
    for logical_id, identifier in (
        (MEDIA_BUCKET_RESOURCE_ID, {"BucketName": data.media_bucket}),
        (POOL_RESOURCE_ID, {"UserPoolId": data.user_pool}),
    ):
        if logical_id in resources and all(identifier.values()):
            kept[logical_id] = copy.deepcopy(resources[logical_id])
            to_import.append(_import(resources[logical_id]["Type"], logical_id, identifier))
    if MEDIA_BUCKET_RESOURCE_ID in kept:
        # The name as it is (the template's is an Fn::Sub of the account and region): an
        # import must name exactly the bucket it takes in.
        kept[MEDIA_BUCKET_RESOURCE_ID]["Properties"]["BucketName"] = data.media_bucket
    if not kept:
        return None
    return Adoption(
        template={
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"civicchat {data.names.stage}: the data kept from an earlier stack",
            "Resources": kept,
        },
        resources_to_import=to_import,
        deployed_indexes=indexes,
    )


def _import(resource_type: str, logical_id: str, identifier: dict[str, Any]) -> dict[str, Any]:
    return {
        "ResourceType": resource_type,
        "LogicalResourceId": logical_id,
        "ResourceIdentifier": identifier,
    }
