"""Package the Chalice app for CloudFormation and patch what Chalice cannot express.

`chalice package --merge-template` renders the functions, API and event sources and merges in
the data template (tables, queues, the media bucket, whose media expire after the municipality
config's `retention.messages`) and the agents' user pool. Then the merged template is patched:

* every SQS event source gets `FunctionResponseTypes: [ReportBatchItemFailures]`, without which
  Lambda ignores the `batchItemFailures` our consumers return and deletes failed messages, and
  a `ScalingConfig.MaximumConcurrency` (CONSUMER_CONCURRENCY), the cap that replaces reserved
  concurrency (a new account has 10 concurrent executions in all; reserving any fails the deploy);
  a FIFO queue's loses the `MaximumBatchingWindowInSeconds` Chalice writes, which Lambda refuses;
* an event source on one of our own queues points at it with `Fn::GetAtt`, so CloudFormation
  creates the queue before the mapping instead of racing it;
* schedule rules are named as the local stack names them (`ResourceNames.schedule_rule`);
* the console's Cognito authorizer points at the stack's user pool, and every function is told
  the pool's and its app client's ids (infra/agent_directory.py);
* every function is told the media bucket's name in `CIVICCHAT_MEDIA_BUCKET` (the name holds the
  account id, known only to CloudFormation), and where its secrets are: the SSM path
  (`CIVICCHAT_SECRETS_PATH`) and their version (`CIVICCHAT_SECRETS_VERSION`, the `SecretsVersion`
  parameter, which `civicchat deploy` sets to a fingerprint of the secrets' SSM versions: a new
  secret changes the functions' configuration, so no warm function keeps the old one). No
  secret value is in the template;
* the role's policy is ours (infra/permissions.py): Chalice's grants no DynamoDB (it cannot see
  PynamoDB) and SQS on every queue of the account;
* each function logs to a log group of the stack with a retention (infra/function_logs.py);
* the REST API is named (`infra.alarms.api_name`), so its 5xx alarm can find its metrics, and the
  alarms with their SNS topic and the `AlarmEmail` parameter are added (infra/alarms.py);
* checkov's deliberate exceptions are written into the resources (infra/scan_suppressions.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.resource_names import ResourceNames
from chalicelib.settings import (
    BUNDLED_CONFIG,
    MEDIA_BUCKET_VARIABLE,
    SECRETS_PATH_VARIABLE,
    SECRETS_VERSION_VARIABLE,
)
from infra import scan_suppressions
from infra.agent_directory import point_at_agent_directory, with_agent_directory
from infra.alarms import alarm_conditions, alarm_parameters, alarm_resources, api_name
from infra.data_resources import (
    MEDIA_BUCKET_RESOURCE_ID,
    QUEUE_RESOURCE_IDS,
    media_retention_days,
)
from infra.function_logs import add_function_log_groups, function_name
from infra.permissions import replace_role_policies
from infra.template import data_template

PROJECT_DIR = Path(__file__).resolve().parents[1]
PARTIAL_BATCH_RESPONSES = ["ReportBatchItemFailures"]
SECRETS_VERSION_PARAMETER = "SecretsVersion"
# Most concurrent invocations per SQS event source (Lambda's minimum is 2). The inbound FIFO
# queue is the busiest (one message group per resident); the senders are paced by the rate
# limiter, so more of them would only wait on each other; media downloads are rare.
CONSUMER_CONCURRENCY = {
    "InboundQueue": 5,
    "OutboundRepliesQueue": 3,
    "OutboundBulkQueue": 2,
    "MediaQueue": 2,
}


class PackagingError(Exception):
    pass


def package_app(
    stage: str, out_dir: Path, *, region: str = "eu-west-1", config_path: Path = BUNDLED_CONFIG
) -> dict[str, Any]:
    """Write `sam.json` and `deployment.zip` into `out_dir`; returns the patched template.
    `config_path` is the municipality config the functions run with (the bundled one unless
    the stage sets CIVICCHAT_CONFIG); its retention decides when media expire."""
    from chalicelib.adapters.config_file import load_municipality_file

    names = ResourceNames(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    merge = out_dir / "data-template.json"
    retention = media_retention_days(load_municipality_file(config_path))
    template = with_agent_directory(data_template(names, media_retention_days=retention), names)
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


def patch_template(template: dict[str, Any], names: ResourceNames) -> dict[str, Any]:
    """Patch the merged template in place (see the module's docstring); returns it."""
    resources = template.setdefault("Resources", {})
    template["Description"] = (
        f"civicchat {names.stage}: the WhatsApp helpdesk's functions, API, data, sign-in and alarms"
    )
    template.setdefault("Parameters", {}).update({**deployment_parameters(), **alarm_parameters()})
    template.setdefault("Conditions", {}).update(alarm_conditions())
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::Function":
            _patch_function(resource, names)
    point_at_agent_directory(template)
    has_api = _name_api(resources, names)
    log_groups = add_function_log_groups(template, names)
    replace_role_policies(template, names, log_groups)
    resources.update(alarm_resources(names, with_api=has_api))
    scan_suppressions.annotate(template)
    return template


def deployment_parameters() -> dict[str, Any]:
    return {
        SECRETS_VERSION_PARAMETER: {
            "Type": "String",
            "Default": "0",
            "Description": "A fingerprint of the secrets' versions in SSM, set by `civicchat "
            "deploy`: when a secret changes, every function restarts and reads the new one",
        }
    }


def _patch_function(function: dict[str, Any], names: ResourceNames) -> None:
    properties = function.setdefault("Properties", {})
    variables = properties.setdefault("Environment", {}).setdefault("Variables", {})
    variables[MEDIA_BUCKET_VARIABLE] = {"Ref": MEDIA_BUCKET_RESOURCE_ID}
    variables[SECRETS_PATH_VARIABLE] = names.secrets_path
    variables[SECRETS_VERSION_VARIABLE] = {"Ref": SECRETS_VERSION_PARAMETER}
    queue_ids = {
        getattr(names, attr): resource_id for resource_id, attr in QUEUE_RESOURCE_IDS.items()
    }
    for event in properties.get("Events", {}).values():
        if event.get("Type") == "Schedule":
            # Named as the local stack names it (rather than a generated name).
            event["Properties"]["Name"] = names.schedule_rule(function_name(function))
        if event.get("Type") != "SQS":
            continue
        event_properties = event["Properties"]
        event_properties["FunctionResponseTypes"] = list(PARTIAL_BATCH_RESPONSES)
        queue_name = _queue_name(event_properties.get("Queue"))
        if queue_name is not None and queue_name.endswith(".fifo"):
            # Chalice always writes a batching window; Lambda refuses one on a FIFO queue.
            event_properties.pop("MaximumBatchingWindowInSeconds", None)
        queue_id = queue_ids.get(queue_name)
        if queue_id is not None:
            event_properties["Queue"] = {"Fn::GetAtt": [queue_id, "Arn"]}
            event_properties["ScalingConfig"] = {
                "MaximumConcurrency": CONSUMER_CONCURRENCY[queue_id]
            }


def _name_api(resources: dict[str, Any], names: ResourceNames) -> bool:
    """Name the REST API (`Name`, and the title of its OpenAPI body, which API Gateway may take
    instead when both are given); False when the template has none."""
    apis = [r for r in resources.values() if r.get("Type") == "AWS::Serverless::Api"]
    for api in apis:
        properties = api.setdefault("Properties", {})
        properties["Name"] = api_name(names)
        info = properties.get("DefinitionBody", {}).get("info")
        if isinstance(info, dict):
            info["title"] = api_name(names)
    return bool(apis)


def _queue_name(queue_arn: Any) -> str | None:
    """The queue name at the end of Chalice's `Fn::Sub` ARN (or of a plain ARN string)."""
    if isinstance(queue_arn, dict):
        queue_arn = queue_arn.get("Fn::Sub")
    if not isinstance(queue_arn, str):
        return None
    return queue_arn.rsplit(":", 1)[-1]
