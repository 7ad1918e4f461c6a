"""Deploying a stage again after `civicchat destroy` kept its data: CloudFormation cannot create
tables, a bucket and a user pool that exist, so the deploy imports them into the new stack
first. What it imports is checked here against moto (whose CloudFormation cannot run imports):
the kept resources found by name, described as they are — a table's indexes as they are now,
from which the index steps then lead to the template's."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.resource_names import ResourceNames
from infra.agent_directory import (
    POOL_RESOURCE_ID,
    pool_name,
    provision_agent_directory,
    with_agent_directory,
)
from infra.deploy_preflight import PreflightError
from infra.index_steps import index_steps
from infra.stage_data import adoption, stage_data
from infra.template import data_template
from tests.infra.deploy_helpers import MOTO_ACCOUNT, moto_target

REGION = "eu-west-1"


def _table_with_indexes(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in template["Resources"].items():
        if len(resource.get("Properties", {}).get("GlobalSecondaryIndexes", [])) >= 2:
            return logical_id, resource
    raise AssertionError("no table with two indexes")


def test_kept_data_is_imported_as_it_is(aws_env: str) -> None:
    names = ResourceNames("adopt")
    template = with_agent_directory(data_template(names), names)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName=names.stack, TemplateBody=json.dumps(data_template(names))
    )
    pool_id, _ = provision_agent_directory(aws_env, names, REGION)
    cloudformation.delete_stack(StackName=names.stack)  # its data has DeletionPolicy Retain
    # An older version of the app had one index fewer on this table.
    logical_id, resource = _table_with_indexes(template)
    table = resource["Properties"]["TableName"]
    dropped = resource["Properties"]["GlobalSecondaryIndexes"][-1]["IndexName"]
    boto3.client("dynamodb", region_name=REGION).update_table(
        TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": dropped}}]
    )

    data = stage_data(moto_target(REGION), names)
    assert len(data.tables) == 13  # with issue 8's broadcasts and audit tables
    assert data.media_bucket == names.media_bucket(MOTO_ACCOUNT, REGION)
    assert data.user_pool == pool_id
    adopted = adoption(template, data)
    assert adopted is not None

    tables = {
        lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"
    }
    assert set(adopted.template["Resources"]) == tables | {"MediaBucket", POOL_RESOURCE_ID}
    assert "Outputs" not in adopted.template and "Transform" not in adopted.template
    identifiers = {
        item["LogicalResourceId"]: item["ResourceIdentifier"]
        for item in adopted.resources_to_import
    }
    assert identifiers[logical_id] == {"TableName": table}
    assert identifiers["MediaBucket"] == {"BucketName": data.media_bucket}
    assert identifiers[POOL_RESOURCE_ID] == {"UserPoolId": pool_id}
    # Imported under its literal name, not the template's Fn::Sub of account and region.
    bucket = adopted.template["Resources"]["MediaBucket"]["Properties"]["BucketName"]
    assert bucket == names.media_bucket(MOTO_ACCOUNT, REGION)
    for kept in adopted.template["Resources"].values():
        assert kept["DeletionPolicy"] == "Retain"  # CloudFormation imports nothing without it

    expected = {i["IndexName"] for i in resource["Properties"]["GlobalSecondaryIndexes"]}
    imported = adopted.template["Resources"][logical_id]["Properties"]["GlobalSecondaryIndexes"]
    assert {i["IndexName"] for i in imported} == expected - {dropped}
    assert adopted.deployed_indexes[logical_id] == expected - {dropped}
    steps = index_steps(template, adopted.deployed_indexes)
    assert steps[-1] == template


def test_nothing_kept_nothing_imported(aws_env: str) -> None:
    names = ResourceNames("fresh")
    data = stage_data(moto_target(REGION), names)
    assert data.lines() == []
    assert adoption(with_agent_directory(data_template(names), names), data) is None


def test_a_kept_pool_is_found_without_its_app_client(aws_env: str) -> None:
    """`destroy` keeps the pool but its client goes with the stack: the next deploy must take
    the pool back (the update then makes a new client), not create a second one."""
    names = ResourceNames("noclient")
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool_id = cognito.create_user_pool(PoolName=pool_name(names))["UserPool"]["Id"]

    data = stage_data(moto_target(REGION), names)
    assert data.user_pool == pool_id
    adopted = adoption(with_agent_directory(data_template(names), names), data)
    assert adopted is not None
    assert {
        "ResourceType": "AWS::Cognito::UserPool",
        "LogicalResourceId": POOL_RESOURCE_ID,
        "ResourceIdentifier": {"UserPoolId": pool_id},
    } in adopted.resources_to_import


def test_two_pools_of_the_stages_name_are_refused(aws_env: str) -> None:
    names = ResourceNames("twopools")
    cognito = boto3.client("cognito-idp", region_name=REGION)
    ids = [cognito.create_user_pool(PoolName=pool_name(names))["UserPool"]["Id"] for _ in "ab"]

    with pytest.raises(PreflightError) as refused:
        stage_data(moto_target(REGION), names)
    assert f"2 Cognito user pools are named {pool_name(names)} ({', '.join(ids)})" in str(
        refused.value
    )
