"""The media bucket and the media queue in the data template, and how the deployment patch
hands the bucket to the functions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import Period
from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG
from infra.app_package import patch_template
from infra.data_resources import MAX_RECEIVE_COUNT, media_retention_days, retention_days
from infra.template import data_template

NAMES = ResourceNames("prod")
LONGEST_REGION = "ap-southeast-5"  # S3 names are at most 63 characters


@pytest.fixture
def template() -> dict[str, Any]:
    return data_template(NAMES)


@pytest.fixture
def bucket(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["MediaBucket"]


def test_the_bucket_is_private(bucket: dict[str, Any]) -> None:
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["Properties"]["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]  # no ACLs at all
    }


def test_the_bucket_is_encrypted_and_unversioned(bucket: dict[str, Any]) -> None:
    properties = bucket["Properties"]
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert "VersioningConfiguration" not in properties  # a deleted object is gone


def test_the_bucket_outlives_the_stack(bucket: dict[str, Any]) -> None:
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_bucket_name_is_unique_to_the_account_and_region(bucket: dict[str, Any]) -> None:
    assert bucket["Properties"]["BucketName"] == {
        "Fn::Sub": "civicchat-prod-media-${AWS::AccountId}-${AWS::Region}"
    }
    concrete = ResourceNames("staging").media_bucket("123456789012", LONGEST_REGION)
    assert concrete == "civicchat-staging-media-123456789012-ap-southeast-5"
    assert len(concrete) <= 63
    assert (
        ResourceNames("QA")
        .media_bucket("123456789012", "eu-west-1")
        .startswith("civicchat-qa-media-")
    )


def test_without_a_retention_media_are_kept(bucket: dict[str, Any]) -> None:
    assert "LifecycleConfiguration" not in bucket["Properties"]


def test_with_a_retention_media_expire(template: dict[str, Any]) -> None:
    bucket = data_template(NAMES, media_retention_days=731)["Resources"]["MediaBucket"]
    assert bucket["Properties"]["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "expire-residents-media",
                "Status": "Enabled",
                "ExpirationInDays": 731,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }
    # Everything else is the same template.
    without = copy.deepcopy(bucket)
    del without["Properties"]["LifecycleConfiguration"]
    assert without == template["Resources"]["MediaBucket"]
    with pytest.raises(ValueError):
        data_template(NAMES, media_retention_days=0)


@pytest.mark.parametrize(
    ("period", "days"),
    [
        (Period(30, "days"), 30),
        (Period(2, "weeks"), 14),
        (Period(1, "months"), 31),
        (Period(24, "months"), 731),
        (Period(1, "years"), 366),
        (Period(5, "years"), 1827),
    ],
)
def test_a_retention_in_days_is_never_shorter_than_its_period(period: Period, days: int) -> None:
    assert retention_days(period) == days


def test_the_bundled_configs_message_retention_applies() -> None:
    definition = load_municipality_file(BUNDLED_CONFIG)
    assert media_retention_days(definition) == 731  # retention.messages: 24 months


def test_the_media_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["MediaQueue"]["Properties"]
    dead_letter = resources["MediaDeadLetterQueue"]["Properties"]
    assert queue["QueueName"] == "civicchat-prod-inbound-media"
    assert dead_letter["QueueName"] == "civicchat-prod-inbound-media-dlq"
    assert "FifoQueue" not in queue
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["MediaDeadLetterQueue", "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert queue["SqsManagedSseEnabled"] is dead_letter["SqsManagedSseEnabled"] is True


def test_outputs_name_the_bucket(template: dict[str, Any]) -> None:
    assert template["Outputs"]["MediaBucketName"] == {"Value": {"Ref": "MediaBucket"}}
    assert template["Outputs"]["MediaBucketArn"] == {
        "Value": {"Fn::GetAtt": ["MediaBucket", "Arn"]}
    }
    assert {"MediaQueueUrl", "MediaQueueArn", "MediaDeadLetterQueueArn"} <= set(template["Outputs"])


def _packaged(names: ResourceNames) -> dict[str, Any]:
    """The shape `chalice package --merge-template` produces, cut down to what is patched."""
    template = data_template(names)
    template["Resources"].update(
        {
            "DefaultRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyName": "DefaultRolePolicy",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": []},
                        }
                    ]
                },
            },
            "MediaFetcher": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "app.media_fetcher",
                    "Role": {"Fn::GetAtt": ["DefaultRole", "Arn"]},
                    "Environment": {"Variables": {"LOG_LEVEL": "INFO"}},
                    "Events": {
                        "MediaFetcherSqsEventSource": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {
                                    "Fn::Sub": (
                                        "arn:${AWS::Partition}:sqs:${AWS::Region}:"
                                        f"${{AWS::AccountId}}:{names.media_queue}"
                                    )
                                },
                                "BatchSize": 5,
                            },
                        }
                    },
                },
            },
            "APIHandler": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "app.app"},
            },
        }
    )
    return template


def test_the_patch_points_the_media_fetcher_at_its_queue_and_bucket() -> None:
    patched = patch_template(_packaged(NAMES), NAMES)
    fetcher = patched["Resources"]["MediaFetcher"]["Properties"]
    event = fetcher["Events"]["MediaFetcherSqsEventSource"]["Properties"]
    assert event["Queue"] == {"Fn::GetAtt": ["MediaQueue", "Arn"]}
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert fetcher["Environment"]["Variables"] == {
        "LOG_LEVEL": "INFO",
        "CIVICCHAT_MEDIA_BUCKET": {"Ref": "MediaBucket"},
        "CIVICCHAT_SECRETS_PATH": "/civicchat-prod/",
        "CIVICCHAT_SECRETS_VERSION": {"Ref": "SecretsVersion"},
    }
    api = patched["Resources"]["APIHandler"]["Properties"]
    assert api["Environment"]["Variables"]["CIVICCHAT_MEDIA_BUCKET"] == {"Ref": "MediaBucket"}
    statements = patched["Resources"]["DefaultRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    media = {
        s["Sid"]: (s["Action"], s["Resource"]) for s in statements if s["Sid"].startswith("Media")
    }
    assert media == {
        "MediaObjects": (
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [{"Fn::Sub": "${MediaBucket.Arn}/*"}],
        ),
        "MediaBucket": (["s3:ListBucket"], [{"Fn::GetAtt": ["MediaBucket", "Arn"]}]),
    }
