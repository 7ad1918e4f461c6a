"""Index changes go out one GSI per table per deploy, removals first, the rest of the template
as it will be."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.index_steps import IndexStepsError, index_steps, update_steps, with_deployed_code


def index(name: str, *keys: str) -> dict[str, Any]:
    key_schema = [{"AttributeName": keys[0], "KeyType": "HASH"}]
    key_schema += [{"AttributeName": key, "KeyType": "RANGE"} for key in keys[1:]]
    return {"IndexName": name, "KeySchema": key_schema, "Projection": {"ProjectionType": "ALL"}}


def table(name: str, key: str, *indexes: dict[str, Any]) -> dict[str, Any]:
    used = [key] + [e["AttributeName"] for i in indexes for e in i["KeySchema"]]
    properties: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"} for attribute in dict.fromkeys(used)
        ],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if indexes:
        properties["GlobalSecondaryIndexes"] = list(indexes)
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "Properties": properties}


def template(**tables: dict[str, Any]) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            **tables,
            "Worker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.worker", "CodeUri": "./deployment.zip"},
            },
            "InboundQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
        },
        "Outputs": {"WorkerArn": {"Value": {"Fn::GetAtt": ["Worker", "Arn"]}}},
    }


BY_RESIDENT = index("by_resident", "resident_key", "opened_at")
BY_DAY = index("by_day", "opened_day", "opened_at")
BY_TEAM = index("by_team", "team", "urgency")
BY_WAMID = index("by_wamid", "wamid")


def index_names(step: dict[str, Any], table_id: str) -> list[str]:
    properties = step["Resources"][table_id]["Properties"]
    return [i["IndexName"] for i in properties.get("GlobalSecondaryIndexes", [])]


def assert_deployable_in_order(
    steps: list[dict[str, Any]], target: dict[str, Any], deployed: dict[str, set[str]]
) -> None:
    """What CloudFormation and DynamoDB ask of every step."""
    assert steps[-1] == target
    previous = dict(deployed)
    for step in steps:
        for table_id, resource in step["Resources"].items():
            if resource["Type"] != "AWS::DynamoDB::Table":
                assert resource == target["Resources"][table_id]
                continue
            properties = resource["Properties"]
            names = set(index_names(step, table_id))
            if table_id in previous:
                assert len(names ^ previous[table_id]) <= 1, f"{table_id}: {names} after {previous}"
            previous[table_id] = names
            keys = [e for i in properties.get("GlobalSecondaryIndexes", []) for e in i["KeySchema"]]
            used = {e["AttributeName"] for e in properties["KeySchema"] + keys}
            defined = [d["AttributeName"] for d in properties["AttributeDefinitions"]]
            assert sorted(defined) == sorted(used), "DynamoDB wants exactly the key attributes"
            unchanged = {k: v for k, v in properties.items() if k not in _INDEX_PROPERTIES}
            target_properties = target["Resources"][table_id]["Properties"]
            assert unchanged == {
                k: v for k, v in target_properties.items() if k not in _INDEX_PROPERTIES
            }
        assert {k: v for k, v in step.items() if k != "Resources"} == {
            k: v for k, v in target.items() if k != "Resources"
        }


_INDEX_PROPERTIES = {"GlobalSecondaryIndexes", "AttributeDefinitions"}


def test_nothing_to_change_is_one_step() -> None:
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY))
    steps = index_steps(target, {"ConversationsTable": {"by_resident", "by_day"}})
    assert steps == [target]


def test_a_new_table_gets_all_its_indexes_at_once() -> None:
    target = template(
        ResidentsTable=table("r", "key"),
        ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY, BY_TEAM),
    )
    assert index_steps(target, {"ResidentsTable": set()}) == [target]
    assert index_steps(target, {}) == [target]


def test_indexes_are_added_one_per_step_in_template_order() -> None:
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY, BY_TEAM))
    deployed = {"ConversationsTable": {"by_resident"}}
    steps = index_steps(target, deployed)
    assert [index_names(step, "ConversationsTable") for step in steps] == [
        ["by_resident", "by_day"],
        ["by_resident", "by_day", "by_team"],
    ]
    first = steps[0]["Resources"]["ConversationsTable"]["Properties"]
    assert first["AttributeDefinitions"] == [
        {"AttributeName": name, "AttributeType": "S"}
        for name in ("id", "resident_key", "opened_at", "opened_day")
    ]
    assert_deployable_in_order(steps, target, deployed)


def test_removals_come_first_and_keep_the_deployed_definitions() -> None:
    deployed_template = template(
        ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY, BY_TEAM, BY_WAMID)
    )
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT, index("all", "marker")))
    deployed = {"ConversationsTable": {"by_resident", "by_day", "by_team", "by_wamid"}}
    steps = index_steps(target, deployed, deployed_template=deployed_template)
    assert [index_names(step, "ConversationsTable") for step in steps] == [
        ["by_resident", "by_team", "by_wamid"],
        ["by_resident", "by_wamid"],
        ["by_resident"],
        ["by_resident", "all"],
    ]
    kept = steps[1]["Resources"]["ConversationsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert kept[1] == BY_WAMID
    assert_deployable_in_order(steps, target, deployed)


def test_one_removal_needs_no_deployed_template() -> None:
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT, BY_TEAM))
    deployed = {"ConversationsTable": {"by_resident", "by_day"}}
    steps = index_steps(target, deployed)
    assert [index_names(step, "ConversationsTable") for step in steps] == [
        ["by_resident"],
        ["by_resident", "by_team"],
    ]
    assert_deployable_in_order(steps, target, deployed)


def test_removing_two_indexes_of_unknown_definition_is_refused() -> None:
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT))
    deployed = {"ConversationsTable": {"by_resident", "by_day", "by_team"}}
    with pytest.raises(IndexStepsError, match="ConversationsTable loses the indexes"):
        index_steps(target, deployed)


def test_removing_every_index_drops_the_property() -> None:
    deployed_template = template(MessagesTable=table("m", "id", BY_WAMID, BY_DAY))
    target = template(MessagesTable=table("m", "id"))
    deployed = {"MessagesTable": {"by_wamid", "by_day"}}
    steps = index_steps(target, deployed, deployed_template=deployed_template)
    assert [index_names(step, "MessagesTable") for step in steps] == [["by_wamid"], []]
    assert "GlobalSecondaryIndexes" not in steps[-1]["Resources"]["MessagesTable"]["Properties"]
    assert_deployable_in_order(steps, target, deployed)


def test_tables_change_side_by_side_each_one_index_per_step() -> None:
    target = template(
        ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY, BY_TEAM),
        MessagesTable=table("m", "id", BY_WAMID),
        TicketsTable=table("t", "ref", BY_RESIDENT),
        SearchTable=table("s", "term"),
    )
    deployed = {"ConversationsTable": set(), "MessagesTable": set(), "TicketsTable": set()}
    steps = index_steps(target, deployed)
    assert len(steps) == 3
    assert [index_names(step, "MessagesTable") for step in steps] == [["by_wamid"]] * 3
    assert [index_names(step, "ConversationsTable") for step in steps] == [
        ["by_resident"],
        ["by_resident", "by_day"],
        ["by_resident", "by_day", "by_team"],
    ]
    assert_deployable_in_order(steps, target, deployed)


def test_the_inputs_are_left_alone() -> None:
    deployed_template = template(ConversationsTable=table("c", "id", BY_DAY, BY_TEAM, BY_WAMID))
    target = template(ConversationsTable=table("c", "id", BY_RESIDENT))
    before = (copy.deepcopy(target), copy.deepcopy(deployed_template))
    deployed = {"ConversationsTable": {"by_day", "by_team", "by_wamid"}}
    steps = index_steps(target, deployed, deployed_template=deployed_template)
    assert len(steps) == 4
    assert (target, deployed_template) == before
    assert steps[-1] is not target
    assert_deployable_in_order(steps, target, deployed)


OLD_CODE = {"Bucket": "artifacts", "Key": "artifacts/old.zip"}
NEW_CODE = {"Bucket": "artifacts", "Key": "artifacts/new.zip"}


def with_code(step: dict[str, Any], code: dict[str, Any]) -> dict[str, Any]:
    step = copy.deepcopy(step)
    step["Resources"]["Worker"]["Properties"]["CodeUri"] = code
    return step


def test_the_new_code_runs_only_once_the_last_index_step_is_in() -> None:
    """The new code may query an index a later step makes: the steps before keep the code that
    runs now, and only the last one deploys the new bundle."""
    deployed_template = with_code(
        template(ConversationsTable=table("c", "id", BY_RESIDENT)), OLD_CODE
    )
    target = with_code(
        template(ConversationsTable=table("c", "id", BY_RESIDENT, BY_DAY, BY_TEAM)), NEW_CODE
    )
    steps = update_steps(target, {"ConversationsTable": {"by_resident"}}, deployed_template)
    assert [index_names(step, "ConversationsTable") for step in steps] == [
        ["by_resident", "by_day"],
        ["by_resident", "by_day", "by_team"],
    ]
    assert [step["Resources"]["Worker"]["Properties"]["CodeUri"] for step in steps] == [
        OLD_CODE,
        NEW_CODE,
    ]
    assert steps[-1] == target


def test_one_step_carries_the_new_code() -> None:
    deployed_template = with_code(template(ConversationsTable=table("c", "id")), OLD_CODE)
    target = with_code(template(ConversationsTable=table("c", "id", BY_DAY)), NEW_CODE)
    assert update_steps(target, {"ConversationsTable": set()}, deployed_template) == [target]


def test_deployed_code_replaces_only_the_code_of_functions_already_deployed() -> None:
    step = with_code(template(), NEW_CODE)
    step["Resources"]["NewWorker"] = copy.deepcopy(step["Resources"]["Worker"])
    step["Resources"]["Plain"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": "app.plain", "Code": {"S3Bucket": "a", "S3Key": "new.zip"}},
    }
    deployed_template = with_code(template(), OLD_CODE)
    deployed_template["Resources"]["Plain"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": "app.plain", "Code": {"S3Bucket": "a", "S3Key": "old.zip"}},
    }

    kept = with_deployed_code(step, deployed_template)
    resources = kept["Resources"]
    assert resources["Worker"]["Properties"]["CodeUri"] == OLD_CODE
    assert resources["NewWorker"]["Properties"]["CodeUri"] == NEW_CODE  # nothing deployed yet
    assert resources["Plain"]["Properties"]["Code"]["S3Key"] == "old.zip"
    assert {k: v for k, v in kept.items() if k != "Resources"} == {
        k: v for k, v in step.items() if k != "Resources"
    }
    assert step["Resources"]["Worker"]["Properties"]["CodeUri"] == NEW_CODE  # left alone
