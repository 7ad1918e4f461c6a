"""Package the Chalice app for CloudFormation and patch what Chalice cannot express.

`chalice package --merge-template` renders the functions, API and event sources and merges in
the data template (tables, queues). Two things are then fixed in the merged template:

* every SQS event source gets `FunctionResponseTypes: [ReportBatchItemFailures]`, without which
  Lambda ignores the `batchItemFailures` our consumers return and deletes failed messages;
* an event source on one of our own queues points at it with `Fn::GetAtt`, so CloudFormation
  creates the queue before the mapping instead of racing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames
from infra.data_resources import QUEUE_RESOURCE_IDS
from infra.template import data_template

PROJECT_DIR = Path(__file__).resolve().parents[1]
PARTIAL_BATCH_RESPONSES = ["ReportBatchItemFailures"]


class PackagingError(Exception):
    pass


def package_app(stage: str, out_dir: Path, *, region: str = "eu-west-1") -> dict[str, Any]:
    """Write `sam.json` and `deployment.zip` into `out_dir`; returns the patched template."""
    names = ResourceNames(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    merge = out_dir / "data-template.json"
    merge.write_text(json.dumps(data_template(names), indent=2))
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


def patch_template(template: dict[str, Any], names: ResourceNames) -> dict[str, Any]:
    queue_ids = {
        getattr(names, attr): resource_id for resource_id, attr in QUEUE_RESOURCE_IDS.items()
    }
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "SQS":
                continue
            properties = event["Properties"]
            properties["FunctionResponseTypes"] = list(PARTIAL_BATCH_RESPONSES)
            queue_id = queue_ids.get(_queue_name(properties.get("Queue")))
            if queue_id is not None:
                properties["Queue"] = {"Fn::GetAtt": [queue_id, "Arn"]}
    return template


def _queue_name(queue_arn: Any) -> str | None:
    """The queue name at the end of Chalice's `Fn::Sub` ARN (or of a plain ARN string)."""
    if isinstance(queue_arn, dict):
        queue_arn = queue_arn.get("Fn::Sub")
    if not isinstance(queue_arn, str):
        return None
    return queue_arn.rsplit(":", 1)[-1]
