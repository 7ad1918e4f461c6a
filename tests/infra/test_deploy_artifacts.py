"""What the deploy hands CloudFormation: a private, encrypted artifacts bucket whose old objects
expire; a code bundle carrying the municipality's configuration, byte for byte the same when
nothing changed (so its key, named by its SHA-256, is too); the bundles a stack runs on kept
from expiring; buckets emptied, versions and all, before they are deleted."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.settings import BUNDLED_CONFIG
from infra.artifacts import (
    ARTIFACT_EXPIRY_DAYS,
    BUNDLED_CONFIG_ENTRY,
    DEPLOYED_CONFIG_PATH,
    bundle_config,
    delete_bucket,
    ensure_artifacts_bucket,
    keep_alive,
    upload_artifact,
    upload_file,
    with_bundled_config,
)

REGION = "eu-west-1"


@pytest.fixture
def s3(aws_env: str) -> Any:
    return boto3.client("s3", region_name=REGION)


def test_the_artifacts_bucket_is_private_encrypted_and_expires_old_artifacts(s3: Any) -> None:
    bucket = "civicchat-arttest-deploy-123456789012-eu-west-1"
    assert ensure_artifacts_bucket(s3, bucket, REGION) is True
    assert ensure_artifacts_bucket(s3, bucket, REGION) is False
    blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(blocked.values()) and len(blocked) == 4
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"]["Days"] == ARTIFACT_EXPIRY_DAYS
    assert rule["Filter"]["Prefix"] == "artifacts/"
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION


def test_artifacts_are_named_by_their_content(s3: Any, tmp_path: Path) -> None:
    bucket = "civicchat-arttest2-deploy-123456789012-eu-west-1"
    ensure_artifacts_bucket(s3, bucket, REGION)
    bundle = tmp_path / "deployment.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("app.py", "app = None\n")
    key = upload_file(s3, bucket, bundle, ".zip")
    assert key == upload_file(s3, bucket, bundle, ".zip")
    assert upload_artifact(s3, bucket, b"{}", ".json") != upload_artifact(
        s3, bucket, b"[]", ".json"
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bundle.read_bytes()


def test_the_configuration_travels_inside_the_bundle_deterministically(tmp_path: Path) -> None:
    bundles = []
    for name in ("first.zip", "second.zip"):
        bundle = tmp_path / name
        with zipfile.ZipFile(bundle, "w") as archive:
            archive.writestr(zipfile.ZipInfo("app.py", date_time=(1980, 1, 1, 0, 0, 0)), "x = 1\n")
        bundle_config(bundle, BUNDLED_CONFIG)
        bundles.append(bundle.read_bytes())
    assert bundles[0] == bundles[1]
    other = tmp_path / "other.yaml"
    other.write_text(BUNDLED_CONFIG.read_text() + "\n# changed\n")
    bundle = tmp_path / "first.zip"
    bundle_config(bundle, other)  # a second configuration replaces the first
    with zipfile.ZipFile(bundle) as archive:
        assert archive.namelist().count(BUNDLED_CONFIG_ENTRY) == 1
        assert archive.read(BUNDLED_CONFIG_ENTRY) == other.read_bytes()
        assert archive.read("app.py") == b"x = 1\n"


def test_every_function_reads_the_bundled_configuration() -> None:
    template = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "Worker": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Environment": {"Variables": {"CIVICCHAT_STAGE": "prod"}}},
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        }
    }
    patched = with_bundled_config(template)
    for function in ("Api", "Worker"):
        variables = patched["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["CIVICCHAT_CONFIG"] == DEPLOYED_CONFIG_PATH
    assert (
        patched["Resources"]["Worker"]["Properties"]["Environment"]["Variables"]["CIVICCHAT_STAGE"]
        == "prod"
    )
    assert "Environment" not in patched["Resources"]["Queue"]["Properties"]
    assert "Environment" not in template["Resources"]["Api"]["Properties"]  # a copy
    assert f"/var/task/{BUNDLED_CONFIG_ENTRY}" == DEPLOYED_CONFIG_PATH


def test_the_bundle_a_stack_runs_on_is_kept_from_expiring(s3: Any) -> None:
    bucket = "civicchat-arttest3-deploy-123456789012-eu-west-1"
    ensure_artifacts_bucket(s3, bucket, REGION)
    key = upload_artifact(s3, bucket, b"old code", ".zip")
    other = upload_artifact(s3, bucket, b"older code", ".zip")
    uploaded = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    time.sleep(1.1)  # S3 times are to the second
    deployed = {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": {"Bucket": bucket, "Key": key}},
            },
            "Gone": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": {"Bucket": bucket, "Key": "artifacts/expired.zip"}},
            },
        }
    }
    keep_alive(s3, bucket, deployed)
    assert s3.head_object(Bucket=bucket, Key=key)["LastModified"] > uploaded
    assert s3.head_object(Bucket=bucket, Key=other)["LastModified"] <= uploaded
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"old code"


def test_a_bucket_is_emptied_of_every_version_before_it_is_deleted(s3: Any) -> None:
    bucket = "civicchat-arttest4-media-123456789012-eu-west-1"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for number in range(3):
        s3.put_object(Bucket=bucket, Key="residents/a/photo", Body=str(number).encode())
    s3.delete_object(Bucket=bucket, Key="residents/a/photo")  # a delete marker
    assert delete_bucket(s3, bucket) is True
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert delete_bucket(s3, bucket) is False
