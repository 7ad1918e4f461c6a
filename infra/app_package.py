"""Package the Chalice app for CloudFormation and patch what Chalice cannot express.

`chalice package --merge-template` renders the functions, API and event sources and merges in
the data template (tables, queues, the media bucket, whose media expire after the municipality
config's `retention.messages`). Then the merged template is patched:

* every SQS event source gets `FunctionResponseTypes: [ReportBatchItemFailures]`, without which
  Lambda ignores the `batchItemFailures` our consumers return and deletes failed messages;
* an event source on one of our own queues points at it with `Fn::GetAtt`, so CloudFormation
  creates the queue before the mapping instead of racing it;
* the console's Cognito authorizer points at the stack's user pool, and every function is told
  the pool's and its app client's ids (infra/agent_directory.py);
* every function gets the media bucket's name in `CIVICCHAT_MEDIA_BUCKET` (the name holds the
  account id, known only to CloudFormation), and the role may read and write its objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames
from chalicelib.settings import BUNDLED_CONFIG, MEDIA_BUCKET_VARIABLE
from infra.agent_directory import point_at_agent_directory, with_agent_directory
from infra.data_resources import MEDIA_BUCKET_RESOURCE_ID, QUEUE_RESOURCE_IDS, retention_days
from infra.template import data_template

PROJECT_DIR = Path(__file__).resolve().parents[1]
PARTIAL_BATCH_RESPONSES = ["ReportBatchItemFailures"]


class PackagingError(Exception):
    pass


def package_app(
    stage: str, out_dir: Path, *, region: str = "eu-west-1", config_path: Path = BUNDLED_CONFIG
) -> dict[str, Any]:
    """Write `sam.json` and `deployment.zip` into `out_dir`; returns the patched template.
    `config_path` is the municipality config the functions run with (the bundled one unless
    the stage sets CIVICCHAT_CONFIG); its retention decides when media expire."""
    names = ResourceNames(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    merge = out_dir / "data-template.json"
    template = with_agent_directory(
        data_template(names, media_retention_days=media_retention_days(config_path)), names
    )
    merge.write_text(json.dumps(template, indent=2))
    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "CIVICCHAT_STAGE": stage, "AWS_DEFAULT_REGION": region}
    result = subprocess.run(  # noqa: S603 - our own venv's chalice, fixed arguments
        [str(chalice), "package", "--stage", stage, "--merge-template", str(merge), str(out_dir)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PackagingError(f"chalice package failed:\n{result.stdout}\n{result.stderr}")
    sam = out_dir / "sam.json"
    template = patch_template(json.loads(sam.read_text()), names)
    sam.write_text(json.dumps(template, indent=2))
    return template


def media_retention_days(config_path: Path) -> int | None:
    from chalicelib.adapters.config_file import load_municipality_file

    retention = load_municipality_file(config_path).retention
    if retention is None or retention.messages is None:
        return None
    return retention_days(retention.messages)


def patch_template(template: dict[str, Any], names: ResourceNames) -> dict[str, Any]:
    queue_ids = {
        getattr(names, attr): resource_id for resource_id, attr in QUEUE_RESOURCE_IDS.items()
    }
    resources = template.get("Resources", {})
    has_media_bucket = MEDIA_BUCKET_RESOURCE_ID in resources
    for resource in resources.values():
        if resource.get("Type") == "AWS::IAM::Role" and has_media_bucket:
            _grant_media_bucket(resource)
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if has_media_bucket:
            environment = resource.setdefault("Properties", {}).setdefault("Environment", {})
            variables = environment.setdefault("Variables", {})
            variables[MEDIA_BUCKET_VARIABLE] = {"Ref": MEDIA_BUCKET_RESOURCE_ID}
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") == "Schedule":
                # Named as the local stack names it (rather than a generated name).
                handler = resource["Properties"]["Handler"].rsplit(".", 1)[-1]
                event["Properties"]["Name"] = names.schedule_rule(handler)
            if event.get("Type") != "SQS":
                continue
            properties = event["Properties"]
            properties["FunctionResponseTypes"] = list(PARTIAL_BATCH_RESPONSES)
            queue_id = queue_ids.get(_queue_name(properties.get("Queue")))
            if queue_id is not None:
                properties["Queue"] = {"Fn::GetAtt": [queue_id, "Arn"]}
    point_at_agent_directory(template)
    return template


def _grant_media_bucket(role: dict[str, Any]) -> None:
    """Objects of the media bucket only: no listing, no bucket settings, no deletes."""
    statement = {
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": {"Fn::Sub": f"${{{MEDIA_BUCKET_RESOURCE_ID}.Arn}}/*"},
    }
    policies = role.setdefault("Properties", {}).setdefault("Policies", [])
    if policies:
        policies[0]["PolicyDocument"]["Statement"].append(statement)
    else:
        policies.append(
            {
                "PolicyName": "MediaBucketObjects",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            }
        )


def _queue_name(queue_arn: Any) -> str | None:
    """The queue name at the end of Chalice's `Fn::Sub` ARN (or of a plain ARN string)."""
    if isinstance(queue_arn, dict):
        queue_arn = queue_arn.get("Fn::Sub")
    if not isinstance(queue_arn, str):
        return None
    return queue_arn.rsplit(":", 1)[-1]
