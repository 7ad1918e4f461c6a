"""The policy of the functions' one IAM role: what the app calls inside Lambda, on this stage's
own resources only.

Chalice writes the role's policy from the boto3 calls it can see in app.py. It cannot see
PynamoDB's, so it grants no DynamoDB at all, and it grants SQS on every queue of the account.
The packaged template gets this policy instead (infra/app_package.py). What runs in Lambda:

* DynamoDB, through PynamoDB (chalicelib/adapters/dynamodb_*.py): GetItem, PutItem, UpdateItem,
  DeleteItem (the sender's pause switch), BatchGetItem, BatchWriteItem (erasing a resident),
  Query (tables and indexes), Scan (the API keys list; the pacing table when erasing a
  resident) and TransactWriteItems, which IAM authorises item by item as
  PutItem/UpdateItem/DeleteItem/ConditionCheckItem (there is no Transact* action). Nothing
  calls DescribeTable.
* SQS (sqs_queues.py, sqs_media_queue.py): GetQueueUrl, SendMessage (SendMessageBatch is
  authorised as SendMessage), ReceiveMessage/ChangeMessageVisibility/DeleteMessage (the
  senders' backoff and the outbound dead-letter queues), and Lambda's own polling of the event
  sources (ReceiveMessage, DeleteMessage, GetQueueAttributes).
* S3 (s3_media_archive.py): PutObject, GetObject (also what a presigned link is checked
  against: it is signed with the role's credentials), DeleteObject (erasing a resident), and
  ListBucket on the bucket itself, without which S3 answers a missing object with 403 instead
  of 404 and the archive could not tell "gone" (expired by the retention) from "refused".
* SSM Parameter Store: the stage's secrets under `ResourceNames.secrets_path`
  (chalicelib/adapters/ssm_secrets.py reads them with GetParametersByPath). They are
  SecureStrings under the AWS-managed aws/ssm key, whose key policy lets any principal of the
  account decrypt through SSM: no KMS statement.
* CloudWatch Logs: streams in the functions' own log groups, which the stack creates
  (infra/function_logs.py), hence no CreateLogGroup.
* Cognito: nothing. The console API calls InitiateAuth, RespondToAuthChallenge and RevokeToken
  for the public app client, which Cognito serves without IAM authorisation; the Admin* calls
  are made by the operator's command line with the operator's credentials.
* Metrics are log lines in the embedded metric format (no PutMetricData); tracing is off.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamodb_models import MODEL_CLASSES
from chalicelib.resource_names import ResourceNames
from infra.data_resources import (
    MEDIA_BUCKET_RESOURCE_ID,
    QUEUE_RESOURCE_IDS,
    dead_letter_resource_id,
    table_resource_id,
)

POLICY_NAME = "DefaultRolePolicy"

DYNAMODB_ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:Scan",
]
DYNAMODB_INDEX_ACTIONS = ["dynamodb:Query", "dynamodb:Scan"]
SQS_ACTIONS = [
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
]
S3_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
S3_BUCKET_ACTIONS = ["s3:ListBucket"]
SSM_ACTIONS = ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"]
LOGS_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]


def role_policy(names: ResourceNames, log_group_ids: list[str]) -> dict[str, Any]:
    """The role's one inline policy. `log_group_ids`: the functions' log groups in the
    template (their `Arn` attribute covers the streams in them)."""
    tables = [table_resource_id(model) for model in MODEL_CLASSES]
    queues = [
        resource_id
        for queue_id in QUEUE_RESOURCE_IDS
        for resource_id in (queue_id, dead_letter_resource_id(queue_id))
    ]
    statements = [
        _allow("Tables", DYNAMODB_ITEM_ACTIONS, [_arn(table) for table in tables]),
        _allow(
            "TableIndexes",
            DYNAMODB_INDEX_ACTIONS,
            [{"Fn::Sub": f"${{{table}.Arn}}/index/*"} for table in tables],
        ),
        _allow("Queues", SQS_ACTIONS, [_arn(queue) for queue in queues]),
        _allow(
            "MediaObjects",
            S3_OBJECT_ACTIONS,
            [{"Fn::Sub": f"${{{MEDIA_BUCKET_RESOURCE_ID}.Arn}}/*"}],
        ),
        _allow("MediaBucket", S3_BUCKET_ACTIONS, [_arn(MEDIA_BUCKET_RESOURCE_ID)]),
        _allow("Secrets", SSM_ACTIONS, secret_parameter_arns(names)),
        _allow("Logs", LOGS_ACTIONS, [_arn(log_group) for log_group in log_group_ids]),
    ]
    return {
        "PolicyName": POLICY_NAME,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
    }


def secret_parameter_arns(names: ResourceNames) -> list[dict[str, str]]:
    """The path itself (GetParametersByPath is authorised on it) and every parameter under it."""
    path = names.secrets_path.strip("/")
    prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    return [{"Fn::Sub": f"{prefix}/{path}"}, {"Fn::Sub": f"{prefix}/{path}/*"}]


def replace_role_policies(
    template: dict[str, Any], names: ResourceNames, log_groups: list[str]
) -> None:
    """Every role in the template (Chalice makes one, `DefaultRole`) gets `role_policy` in place
    of the policies Chalice generated."""
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::IAM::Role":
            properties = resource.setdefault("Properties", {})
            properties["Policies"] = [role_policy(names, log_groups)]


def _allow(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}


def _arn(resource_id: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource_id, "Arn"]}
