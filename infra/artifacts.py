"""What `civicchat deploy` hands CloudFormation: the code bundle (with the municipality's
configuration inside) and the template, in a private bucket of the stage's own.

The template goes by URL because CloudFormation takes at most 51,200 bytes inline and ours is
larger. Objects are named by their SHA-256, so an unchanged bundle keeps its key and its
functions are not updated for nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames

# Inside the bundle, and where Lambda unpacks it: what every function's CIVICCHAT_CONFIG says.
BUNDLED_CONFIG_ENTRY = "chalicelib/config/municipality.yaml"
LAMBDA_TASK_ROOT = "/var/task"
DEPLOYED_CONFIG_PATH = f"{LAMBDA_TASK_ROOT}/{BUNDLED_CONFIG_ENTRY}"
ARTIFACTS_PREFIX = "artifacts/"
# Old bundles and templates go after this long; the ones the stack runs on are refreshed at
# every deploy (`keep_alive`), since CloudFormation needs them again to roll an update back.
ARTIFACT_EXPIRY_DAYS = 90
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # as Chalice's own entries: the same bytes, the same key


def artifacts_bucket_name(names: ResourceNames, account_id: str, region: str) -> str:
    return f"{names.prefix.lower()}-deploy-{account_id}-{region}"


def bundle_config(zip_path: Path, config_path: Path) -> None:
    """Put the municipality's configuration into the code bundle as BUNDLED_CONFIG_ENTRY."""
    content = config_path.read_bytes()
    with zipfile.ZipFile(zip_path) as bundle:
        present = BUNDLED_CONFIG_ENTRY in bundle.namelist()
    if present:  # a stale copy: write the bundle anew without it
        rewritten = zip_path.with_suffix(".tmp")
        with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(rewritten, "w") as target:
            for item in source.infolist():
                if item.filename != BUNDLED_CONFIG_ENTRY:
                    target.writestr(item, source.read(item.filename))
        shutil.move(rewritten, zip_path)
    entry = zipfile.ZipInfo(BUNDLED_CONFIG_ENTRY, date_time=_FIXED_ZIP_TIME)
    entry.external_attr = 0o644 << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(zip_path, "a") as bundle:
        bundle.writestr(entry, content)


def with_bundled_config(template: dict[str, Any]) -> dict[str, Any]:
    """Every function reads the configuration the bundle carries (a new dict)."""
    template = copy.deepcopy(template)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            environment = resource.setdefault("Properties", {}).setdefault("Environment", {})
            environment.setdefault("Variables", {})["CIVICCHAT_CONFIG"] = DEPLOYED_CONFIG_PATH
    return template


def ensure_artifacts_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the bucket unless it exists: private, encrypted, old artifacts expiring, and
    reachable over TLS only (when we reach it over TLS ourselves: an emulator's plain-HTTP
    endpoint would lock us out). Returns True when it was created."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    if region == "us-east-1":  # the one region that refuses its own name as a constraint
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-artifacts",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ARTIFACTS_PREFIX},
                    "Expiration": {"Days": ARTIFACT_EXPIRY_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    if str(s3.meta.endpoint_url).startswith("https://"):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_tls_only_policy(bucket)))
    return True


def upload_artifact(s3: Any, bucket: str, content: bytes, suffix: str) -> str:
    """Store `content` under its SHA-256 (again, if there: that restarts its expiry); returns
    the key."""
    key = f"{ARTIFACTS_PREFIX}{hashlib.sha256(content).hexdigest()}{suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=content)
    return key


def upload_file(s3: Any, bucket: str, path: Path, suffix: str) -> str:
    """Like upload_artifact, streaming a large file (the code bundle) in parts."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    key = f"{ARTIFACTS_PREFIX}{digest.hexdigest()}{suffix}"
    s3.upload_file(str(path), bucket, key)
    return key


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def keep_alive(s3: Any, bucket: str, deployed_template: Any) -> None:
    """Restart the expiry of the bundles the deployed stack runs on: if the coming update
    fails, CloudFormation rolls back to them."""
    from botocore.exceptions import ClientError

    for key in _code_keys(deployed_template, bucket):
        try:
            s3.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": bucket, "Key": key},
                MetadataDirective="REPLACE",
            )
        except ClientError:
            continue  # already gone: nothing to keep


def delete_bucket(s3: Any, bucket: str) -> bool:
    """Empty the bucket (every object version) and delete it; False when there was none."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    return True


def _code_keys(template: Any, bucket: str) -> set[str]:
    """Keys of the code bundles in `bucket` that a template's functions point at."""
    if isinstance(template, str):
        template = json.loads(template)
    keys: set[str] = set()
    for resource in (template or {}).get("Resources", {}).values():
        properties = resource.get("Properties", {})
        code_uri = properties.get("CodeUri")
        if isinstance(code_uri, dict) and code_uri.get("Bucket") == bucket:
            keys.add(str(code_uri.get("Key")))
        code = properties.get("Code")
        if isinstance(code, dict) and code.get("S3Bucket") == bucket:
            keys.add(str(code.get("S3Key")))
    return keys


def _tls_only_policy(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
