"""The data stack: tables derived from the models, queues with dead-letter queues, and the same
template provisioned into moto through its CloudFormation API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

import infra.data_resources as data_resources_module
from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
from chalicelib.resource_names import ResourceNames
from infra.data_resources import (
    MAX_RECEIVE_COUNT,
    OUTBOUND_MAX_RECEIVE_COUNT,
    QUEUE_RESOURCE_IDS,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    data_resources,
    table_resource_id,
)
from infra.local_emulator import provision
from infra.template import data_template
from tests.infra.deploy_helpers import of_type

NAMES = ResourceNames("prod")
PROJECT_DIR = Path(__file__).resolve().parents[2]
CHALICE_DEFAULT_TIMEOUT_SECONDS = 60
REGION = "eu-west-1"

# The design, written out by hand: a model drifting from it must fail here, not in production.
EXPECTED_TABLES = {
    "civicchat-prod-residents": {"keys": {"resident_key": "HASH"}, "indexes": {}},
    "civicchat-prod-conversations": {
        "keys": {"conversation_id": "HASH"},
        "indexes": {
            "by_resident": ({"resident_key": "HASH", "opened_at": "RANGE"}, "ALL"),
            # The console's, all sparse: an item is in one only while it belongs there.
            "team_inbox": ({"inbox_team": "HASH", "urgency": "RANGE"}, "ALL"),
            "team_queue": ({"queue_team": "HASH", "urgency": "RANGE"}, "ALL"),
            "agent_inbox": ({"open_assignee": "HASH", "urgency": "RANGE"}, "ALL"),
            "all_open": ({"open_marker": "HASH", "urgency": "RANGE"}, "ALL"),
            "sla_checks": ({"sla_marker": "HASH", "sla_check_key": "RANGE"}, "ALL"),
            "by_opened_day": ({"opened_day": "HASH", "opened_at": "RANGE"}, "ALL"),
        },
    },
    "civicchat-prod-messages": {
        "keys": {"message_id": "HASH"},
        "indexes": {
            "by_wamid": ({"wamid": "HASH"}, "KEYS_ONLY"),
            "by_conversation": ({"conversation_id": "HASH", "created_at": "RANGE"}, "ALL"),
            "queued_since": ({"queued_marker": "HASH", "created_at": "RANGE"}, "ALL"),
            # A resident's export and erasure; a broadcast's progress (sparse).
            "by_resident": ({"resident_key": "HASH", "created_at": "RANGE"}, "KEYS_ONLY"),
            "by_broadcast": ({"broadcast_id": "HASH"}, "INCLUDE"),
        },
    },
    "civicchat-prod-pacing": {"keys": {"limit_key": "HASH"}, "indexes": {}},
    "civicchat-prod-tickets": {
        "keys": {"reference": "HASH"},
        "indexes": {"by_resident": ({"resident_key": "HASH", "created_at": "RANGE"}, "ALL")},
    },
    "civicchat-prod-obligations": {
        "keys": {"external_id": "HASH"},
        "indexes": {"by_resident": ({"resident_key": "HASH", "due_date": "RANGE"}, "ALL")},
    },
    # Keys by their sha256; `name#<name>` items keep names unique (no index needed).
    "civicchat-prod-apikeys": {"keys": {"key_hash": "HASH"}, "indexes": {}},
    "civicchat-prod-reminders": {
        "keys": {"reminder_id": "HASH"},
        "indexes": {"due": ({"due_slot": "HASH", "send_at": "RANGE"}, "ALL")},
    },
    "civicchat-prod-notifications": {
        "keys": {"external_id": "HASH"},
        "indexes": {
            "due": ({"due_slot": "HASH", "send_at": "RANGE"}, "ALL"),
            # A resident's export and erasure.
            "by_resident": ({"resident_key": "HASH", "created_at": "RANGE"}, "KEYS_ONLY"),
        },
    },
    # Agents by id, plus `#team#<team>` / `#all` items listing members (no index needed).
    "civicchat-prod-agents": {"keys": {"agent_id": "HASH"}, "indexes": {}},
    "civicchat-prod-search": {
        "keys": {"term": "HASH", "entry": "RANGE"},
        "indexes": {"by_conversation": ({"conversation_id": "HASH"}, "KEYS_ONLY")},
    },
    "civicchat-prod-broadcasts": {
        "keys": {"broadcast_id": "HASH"},
        "indexes": {
            # Sparse: what the broadcasts job still has work on; and all of them, newest first.
            "settling": ({"settling_marker": "HASH", "send_at": "RANGE"}, "ALL"),
            "by_created": ({"listed_marker": "HASH", "created_at": "RANGE"}, "ALL"),
        },
    },
    # Keyed by the resident's pseudonym, never their number (it outlives an erasure).
    "civicchat-prod-audit": {
        "keys": {"resident_ref": "HASH", "entry": "RANGE"},
        # Everyone's events newest first (one marker partition, as `all_open`).
        "indexes": {"recent": ({"log": "HASH", "entry": "RANGE"}, "ALL")},
    },
}


def keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    assert key_schema[0]["KeyType"] == "HASH", "DynamoDB wants the partition key first"
    return {element["AttributeName"]: element["KeyType"] for element in key_schema}


@pytest.fixture
def template() -> dict[str, Any]:
    return data_template(NAMES)


def test_the_template_is_plain_json(template: dict[str, Any]) -> None:
    assert json.loads(json.dumps(template)) == template
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Description"]


def test_tables_are_the_designed_ones(template: dict[str, Any]) -> None:
    tables = {
        t["Properties"]["TableName"]: t for t in of_type(template, "AWS::DynamoDB::Table").values()
    }
    assert set(tables) == set(EXPECTED_TABLES)
    for name, expected in EXPECTED_TABLES.items():
        properties = tables[name]["Properties"]
        assert keys(properties["KeySchema"]) == expected["keys"]
        indexes = {
            index["IndexName"]: (keys(index["KeySchema"]), index["Projection"]["ProjectionType"])
            for index in properties.get("GlobalSecondaryIndexes", [])
        }
        assert indexes == expected["indexes"]
        # Exactly the key attributes are defined, each once, as strings.
        key_attributes = set(expected["keys"]).union(
            *(index_keys for index_keys, _ in expected["indexes"].values())
        )
        definitions = properties["AttributeDefinitions"]
        assert sorted(d["AttributeName"] for d in definitions) == sorted(key_attributes)
        assert {d["AttributeType"] for d in definitions} == {"S"}


def test_tables_are_derived_from_the_models(template: dict[str, Any]) -> None:
    for model in MODEL_CLASSES:
        schema = model._get_schema()
        properties = template["Resources"][table_resource_id(model)]["Properties"]
        assert keys(properties["KeySchema"]) == keys(
            sorted(schema["key_schema"], key=lambda k: k["KeyType"])
        )
        assert {i["IndexName"] for i in properties.get("GlobalSecondaryIndexes", [])} == {
            i["index_name"] for i in schema["global_secondary_indexes"]
        }


def test_every_table_is_protected(template: dict[str, Any]) -> None:
    tables = of_type(template, "AWS::DynamoDB::Table")
    assert len(tables) == len(EXPECTED_TABLES)
    for table in tables.values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_messages_search_terms_and_rate_limits_expire_by_ttl(template: dict[str, Any]) -> None:
    ttl = {
        t["Properties"]["TableName"]: t["Properties"].get("TimeToLiveSpecification")
        for t in of_type(template, "AWS::DynamoDB::Table").values()
    }
    assert ttl == {
        "civicchat-prod-residents": None,
        "civicchat-prod-conversations": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-tickets": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-obligations": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-apikeys": None,
        # `expires_at` there is a reminder's own "never send after": the TTL is `purge_at`.
        "civicchat-prod-reminders": {"AttributeName": "purge_at", "Enabled": True},
        "civicchat-prod-notifications": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-agents": None,
        "civicchat-prod-broadcasts": None,
        "civicchat-prod-audit": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-search": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-messages": {"AttributeName": "expires_at", "Enabled": True},
        "civicchat-prod-pacing": {"AttributeName": "expires_at", "Enabled": True},
    }


def test_every_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    queues = of_type(template, "AWS::SQS::Queue")
    with_redrive = {rid: q for rid, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    dead_letter_ids = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in with_redrive.values()
    }
    # Each queue either has its own dead-letter queue or is one; none is shared.
    assert len(dead_letter_ids) == len(with_redrive) == 4
    assert set(queues) == set(with_redrive) | dead_letter_ids
    for queue_id, queue in with_redrive.items():
        properties = queue["Properties"]
        redrive = properties["RedrivePolicy"]
        dead_letter = queues[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][1] == "Arn"
        assert redrive["maxReceiveCount"] == expected_max_receive_count(properties["QueueName"])
        assert properties["VisibilityTimeout"] == QUEUE_VISIBILITY_TIMEOUT_SECONDS[queue_id]
        assert dead_letter.get("FifoQueue", False) == properties.get("FifoQueue", False)
        assert dead_letter["QueueName"] == NAMES.dead_letter_queue(properties["QueueName"])
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_each_queue_outwaits_six_times_its_consumers_timeout(template: dict[str, Any]) -> None:
    """AWS's advice for a Lambda consumer (a shorter visibility timeout delivers a batch again
    while it is still being worked on), for every stage of .chalice/config.json; the consumers
    are app.py's SQS handlers."""
    from chalice.app import SQSEventConfig

    import app as app_module

    consumers = {
        source.queue: source.name
        for source in app_module.app.event_sources
        if isinstance(source, SQSEventConfig)
    }
    consumer_of = {
        queue_id: consumers[getattr(app_module._names, attribute)]  # the stage app.py named
        for queue_id, attribute in QUEUE_RESOURCE_IDS.items()
    }
    assert consumer_of["MediaQueue"] == "media_fetcher"
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    default_timeout = config.get("lambda_timeout", CHALICE_DEFAULT_TIMEOUT_SECONDS)
    queues = of_type(template, "AWS::SQS::Queue")
    for stage, stage_config in config["stages"].items():
        functions = stage_config.get("lambda_functions", {})
        for queue_id, function in consumer_of.items():
            timeout = functions.get(function, {}).get(
                "lambda_timeout", stage_config.get("lambda_timeout", default_timeout)
            )
            visibility = queues[queue_id]["Properties"]["VisibilityTimeout"]
            assert visibility >= 6 * timeout, f"{stage}: {queue_id} ({function}, {timeout} s)"


def test_queue_names_and_fifo(template: dict[str, Any]) -> None:
    queues = {
        q["Properties"]["QueueName"]: q["Properties"]
        for q in of_type(template, "AWS::SQS::Queue").values()
    }
    inbound = queues[NAMES.inbound_queue]
    assert (inbound["FifoQueue"], inbound["ContentBasedDeduplication"]) == (True, False)
    for name in (NAMES.outbound_replies_queue, NAMES.outbound_bulk_queue, NAMES.media_queue):
        assert "FifoQueue" not in queues[name]


def test_outputs_name_existing_resources(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for output in template["Outputs"].values():
        value = output["Value"]
        target = value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]
        assert target in resources
    assert {"ResidentsTableName", "InboundQueueUrl", "OutboundBulkQueueArn"} <= set(
        template["Outputs"]
    )


def test_resources_depend_only_on_the_stage() -> None:
    assert data_resources(ResourceNames("prod")) == data_resources(ResourceNames("prod"))
    # Every table, every queue and its dead-letter queue, the media bucket.
    named = len(MODEL_CLASSES) + 2 * len(QUEUE_RESOURCE_IDS) + 1
    assert json.dumps(data_resources(ResourceNames("dev"))).count("civicchat-dev-") == named


def test_provision_creates_everything_in_moto(moto_endpoint: str, aws_env: str) -> None:
    names = ResourceNames(f"t{uuid.uuid4().hex[:8]}")
    provision(moto_endpoint, names, REGION)
    template = data_template(names)

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for table in of_type(template, "AWS::DynamoDB::Table").values():
        expected = table["Properties"]
        described = dynamodb.describe_table(TableName=expected["TableName"])["Table"]
        assert described["KeySchema"] == expected["KeySchema"]
        assert {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in described.get("GlobalSecondaryIndexes", [])
        } == {
            index["IndexName"]: (index["KeySchema"], index["Projection"])
            for index in expected.get("GlobalSecondaryIndexes", [])
        }

    sqs = boto3.client("sqs", region_name=REGION)
    for queue in of_type(template, "AWS::SQS::Queue").values():
        expected = queue["Properties"]
        url = sqs.get_queue_url(QueueName=expected["QueueName"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes.get("FifoQueue", "false") == str(expected.get("FifoQueue", False)).lower()
        if "RedrivePolicy" in expected:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"].endswith(
                f":{names.dead_letter_queue(expected['QueueName'])}"
            )
            assert int(redrive["maxReceiveCount"]) == expected_max_receive_count(
                expected["QueueName"]
            )

    provision(moto_endpoint, names, REGION)  # the same template again: nothing to do
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    stack = cloudformation.describe_stacks(StackName=names.stack)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_provision_updates_a_changed_stack_in_place(
    moto_endpoint: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ResourceNames(f"t{uuid.uuid4().hex[:8]}")
    provision(moto_endpoint, names, REGION)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.put_item(TableName=names.table("residents"), Item={"resident_key": {"S": "wa:1"}})
    monkeypatch.setitem(
        data_resources_module.QUEUE_VISIBILITY_TIMEOUT_SECONDS, "OutboundBulkQueue", 90
    )

    provision(moto_endpoint, names, REGION)

    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=names.outbound_bulk_queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "90"
    assert dynamodb.scan(TableName=names.table("residents"))["Count"] == 1


def expected_max_receive_count(queue_name: str) -> int:
    """Senders dead-letter by their own attempt count; the inbound worker relies on SQS's."""
    return OUTBOUND_MAX_RECEIVE_COUNT if "-outbound-" in queue_name else MAX_RECEIVE_COUNT
