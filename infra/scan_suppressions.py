"""The checkov checks the packaged template fails on purpose, each with its reason, in one place.

`annotate` writes them into each resource's `Metadata.checkov.skip`, where checkov reads them
(and reports them as skipped, with the reason). Everything else checkov checks must pass
(tests/infra/test_template_checks.py).
"""

from __future__ import annotations

from typing import Any

_RESERVED_CONCURRENCY = (
    "Reserved concurrency comes out of the account's pool, of which AWS keeps 10 unreserved: a "
    "new account's whole quota is 10, so any reservation fails the deploy. The SQS consumers are "
    "capped by their event sources' ScalingConfig.MaximumConcurrency instead (which checkov does "
    "not read); the scheduled functions run once per tick."
)
_FUNCTION_DEAD_LETTER_QUEUE = (
    "A function's dead-letter queue only catches failed asynchronous invocations. The SQS "
    "consumers dead-letter through their queues' redrive policies (every queue has one), the "
    "API handler is invoked synchronously, and a failed scheduled run is made good by the next "
    "one (each picks up whatever is due), so a parked schedule event would hold nothing to replay."
)
_VPC = (
    "Inside a VPC the functions would need a NAT gateway (a fixed monthly cost per zone) to reach "
    "the WhatsApp Cloud API on graph.facebook.com. Every AWS service they use (DynamoDB, SQS, S3, "
    "SSM, Cognito) is reached over TLS and authorised by IAM; nothing in a VPC is theirs to reach."
)
_ENVIRONMENT_KEY = (
    "The environment holds names and ids only (tables, queues, bucket, user pool, the secrets' "
    "SSM path and version); the secrets are SecureStrings in SSM. Lambda encrypts environments at "
    "rest with an AWS-managed key; a customer-managed key would add cost and a key policy to keep."
)
_CUSTOMER_MANAGED_KEY = (
    "Encrypted at rest with the AWS-managed KMS key (SSESpecification.SSEEnabled). A "
    "customer-managed key costs a monthly fee plus requests, and one disabled or deleted by "
    "mistake makes the residents' data unreadable: more risk than a small team gains."
)
_SQS_MANAGED_ENCRYPTION = (
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled: true); checkov only "
    "recognises a KMS key, which would add a cost per request and a key policy that Lambda's "
    "event sources and the senders must all be granted."
)
_BUCKET_ACCESS_LOGS = (
    "Server access logs need a second bucket to hold, protect and expire. This bucket is private "
    "(public access blocked, no ACLs), only the stack's role may read it, and the console's links "
    "to media are presigned for five minutes."
)
_BUCKET_VERSIONING = (
    "Unversioned on purpose: when a resident's media is erased, or expires after the config's "
    "retention, it must be gone, not kept as a previous version."
)
_LOG_GROUP_KEY = (
    "CloudWatch Logs encrypts every log group at rest; a customer-managed key would add cost and "
    "a key policy for the logs service. Residents' phone numbers are masked in the logs "
    "(chalicelib/observability.py) and the logs expire after 90 days."
)
_ALARM_TOPIC_KEY = (
    "CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed aws/sns key (its "
    "key policy cannot be changed to let CloudWatch use it), and a customer-managed key costs a "
    "monthly fee. Alarm messages carry alarm names and metric values, no personal data."
)
_API_TRACING = (
    "The functions do not trace (Tracing: PassThrough; the X-Ray SDK costs cold-start time), so "
    "traces of the API alone would show little; failures are watched by the 5xx alarm and the "
    "API handler's logs."
)
_API_ACCESS_LOGS = (
    "API Gateway writes access logs only through an account-wide CloudWatch role "
    "(AWS::ApiGateway::Account, one setting per region for every API in the account), which one "
    "app's stack should not own. The API handler logs its failures; the 5xx alarm watches them."
)
_API_CACHE = (
    "Every answer depends on who asks (WhatsApp's signed webhook, a signed-in agent, an API key): "
    "a cache would hand one caller's answer to another, and is billed by the hour."
)

# Resource type → {check id: reason}.
SUPPRESSIONS: dict[str, dict[str, str]] = {
    "AWS::Serverless::Function": {
        "CKV_AWS_115": _RESERVED_CONCURRENCY,
        "CKV_AWS_116": _FUNCTION_DEAD_LETTER_QUEUE,
        "CKV_AWS_117": _VPC,
        "CKV_AWS_173": _ENVIRONMENT_KEY,
    },
    "AWS::Serverless::Api": {
        "CKV_AWS_73": _API_TRACING,
        "CKV_AWS_76": _API_ACCESS_LOGS,
        "CKV_AWS_120": _API_CACHE,
    },
    "AWS::DynamoDB::Table": {"CKV_AWS_119": _CUSTOMER_MANAGED_KEY},
    "AWS::SQS::Queue": {"CKV_AWS_27": _SQS_MANAGED_ENCRYPTION},
    "AWS::S3::Bucket": {"CKV_AWS_18": _BUCKET_ACCESS_LOGS, "CKV_AWS_21": _BUCKET_VERSIONING},
    "AWS::Logs::LogGroup": {"CKV_AWS_158": _LOG_GROUP_KEY},
    "AWS::SNS::Topic": {"CKV_AWS_26": _ALARM_TOPIC_KEY},
}


def annotate(template: dict[str, Any]) -> None:
    """Write the suppressions into the template's resources (in place)."""
    for resource in template.get("Resources", {}).values():
        checks = SUPPRESSIONS.get(resource.get("Type", ""))
        if not checks:
            continue
        checkov = resource.setdefault("Metadata", {}).setdefault("checkov", {})
        checkov["skip"] = [
            {"id": check_id, "comment": reason} for check_id, reason in sorted(checks.items())
        ]
