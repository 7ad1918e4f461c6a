"""SAM expanded offline, and the API part of a template left out for moto."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.sam_translation import (
    SAM_TRANSFORM,
    TranslationError,
    references,
    translate,
    with_code_at,
    without_api,
)

REGION = "eu-west-1"
POOL_ARN = {"Fn::GetAtt": ["AgentsUserPool", "Arn"]}


def function(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "CodeUri": "./deployment.zip",
            "Role": {"Fn::GetAtt": ["DefaultRole", "Arn"]},
            **properties,
        },
    }


def sam_template() -> dict[str, Any]:
    """Shaped like Chalice's package: an API with a Cognito authorizer, its handler, a queue
    consumer and a scheduled function sharing one role."""
    environment = {
        "Variables": {
            "CIVICCHAT_MEDIA_BUCKET": {"Ref": "MediaBucket"},
            "CIVICCHAT_USER_POOL_ID": {"Ref": "AgentsUserPool"},
        }
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": SAM_TRANSFORM,
        "Resources": {
            "DefaultRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "Policies": [
                        {
                            "PolicyName": "DefaultRolePolicy",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": ["cognito-idp:AdminGetUser"],
                                        "Resource": [POOL_ARN],
                                    },
                                    {
                                        "Effect": "Allow",
                                        "Action": ["logs:PutLogEvents"],
                                        "Resource": [
                                            {"Fn::GetAtt": ["WorkerLogGroup", "Arn"]},
                                            {"Fn::GetAtt": ["APIHandlerLogGroup", "Arn"]},
                                        ],
                                    },
                                ],
                            },
                        }
                    ],
                },
            },
            "Worker": function(
                Environment=copy.deepcopy(environment),
                Events={
                    "Queue": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": {"Fn::GetAtt": ["InboundQueue", "Arn"]},
                            "BatchSize": 10,
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                            "ScalingConfig": {"MaximumConcurrency": 5},
                        },
                    }
                },
                LoggingConfig={"LogGroup": {"Ref": "WorkerLogGroup"}},
            ),
            "CheckSlas": function(
                Environment=copy.deepcopy(environment),
                Events={
                    "Tick": {
                        "Type": "Schedule",
                        "Properties": {
                            "Schedule": "rate(1 minute)",
                            "Name": "civicchat-t-check_slas",
                        },
                    }
                },
            ),
            "RestAPI": {
                "Type": "AWS::Serverless::Api",
                "Properties": {
                    "StageName": "api",
                    "Name": "civicchat-t",
                    "DefinitionBody": {
                        "swagger": "2.0",
                        "info": {"title": "civicchat", "version": "1.0"},
                        "paths": {
                            "/health": {
                                "get": {
                                    "x-amazon-apigateway-integration": {
                                        "type": "aws_proxy",
                                        "httpMethod": "POST",
                                        "uri": {
                                            "Fn::Sub": "arn:${AWS::Partition}:apigateway:"
                                            "${AWS::Region}:lambda:path/2015-03-31/functions/"
                                            "${APIHandler.Arn}/invocations"
                                        },
                                    },
                                    "responses": {},
                                }
                            }
                        },
                        "securityDefinitions": {
                            "agents": {
                                "type": "apiKey",
                                "name": "Authorization",
                                "in": "header",
                                "x-amazon-apigateway-authtype": "cognito_user_pools",
                                "x-amazon-apigateway-authorizer": {
                                    "type": "cognito_user_pools",
                                    "providerARNs": [POOL_ARN],
                                },
                            }
                        },
                    },
                },
            },
            "APIHandler": function(Environment=copy.deepcopy(environment)),
            "APIHandlerInvokePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "APIHandler"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": {
                        "Fn::Sub": [
                            "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                            "${AWS::AccountId}:${RestAPIId}/*",
                            {"RestAPIId": {"Ref": "RestAPI"}},
                        ]
                    },
                },
            },
            # Named after the handler's generated name: it needs the handler.
            "APIHandlerLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {
                    "LogGroupName": {"Fn::Sub": "/aws/lambda/${APIHandler}"},
                    "RetentionInDays": 90,
                },
            },
            "ApiErrorsAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "DependsOn": "APIHandlerLogGroup",
                "Properties": {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "APIHandler"}}],
                },
            },
            "SlaAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "DependsOn": "APIHandlerLogGroup",
                "Properties": {"MetricName": "SlaBreaches"},
            },
            "WorkerLogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "DependsOn": ["AgentsUserPool", "InboundQueue"],
                "Properties": {"LogGroupName": "/civicchat/t/worker", "RetentionInDays": 90},
            },
            "InboundQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}},
            "MediaBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "AgentsUserPool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
            "AgentsUserPoolClient": {
                "Type": "AWS::Cognito::UserPoolClient",
                "Properties": {"UserPoolId": {"Ref": "AgentsUserPool"}},
            },
        },
        "Outputs": {
            "EndpointURL": {
                "Value": {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.amazonaws.com"}
            },
            "AgentsUserPoolId": {"Value": {"Ref": "AgentsUserPool"}},
            "InboundQueueUrl": {"Value": {"Ref": "InboundQueue"}},
        },
    }


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No region, no credentials, and every AWS endpoint a closed port: any call would fail."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_references_are_refs_getatts_and_sub_variables() -> None:
    value = {
        "A": {"Ref": "Table"},
        "B": [{"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::GetAtt": "Bucket.Arn"}],
        "C": {"Fn::Sub": "${Role.Arn}/${AWS::Region}/${!Literal}"},
        "D": {"Fn::Sub": ["${Local}-${Topic}", {"Local": {"Ref": "Pool"}}]},
        "E": {"Ref": "AWS::AccountId"},
    }
    assert references(value) == {"Table", "Queue", "Bucket", "Role", "Topic", "Pool"}


def test_translate_expands_sam_offline(offline: None) -> None:
    template = with_code_at(sam_template(), "artifacts", "code/abc.zip")
    translated = translate(template, region=REGION, account_id="210987654321")
    resources = translated["Resources"]
    assert "Transform" not in translated
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Serverless::")]
    worker = resources["Worker"]["Properties"]
    assert worker["Code"] == {"S3Bucket": "artifacts", "S3Key": "code/abc.zip"}
    assert worker["LoggingConfig"] == {"LogGroup": {"Ref": "WorkerLogGroup"}}
    [mapping] = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 5}
    [rule] = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["Name"] == "civicchat-t-check_slas"
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert resources["RestAPI"]["Type"] == "AWS::ApiGateway::RestApi"


def test_translate_leaves_its_input_alone_and_plain_templates_as_they_are() -> None:
    template = with_code_at(sam_template(), "artifacts", "code.zip")
    before = copy.deepcopy(template)
    translate(template, region=REGION)
    assert template == before
    plain = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    assert translate(plain, region=REGION) == plain


def test_code_must_be_in_s3_before_translating() -> None:
    with pytest.raises(TranslationError, match="CodeUri"):
        translate(sam_template(), region=REGION)


def test_without_api_leaves_out_the_api_its_handler_and_the_pool() -> None:
    trimmed = without_api(sam_template())
    assert set(trimmed["Resources"]) == {
        "DefaultRole",
        "Worker",
        "CheckSlas",
        "WorkerLogGroup",
        "InboundQueue",
        "MediaBucket",
        "SlaAlarm",
    }
    assert "DependsOn" not in trimmed["Resources"]["SlaAlarm"]
    assert set(trimmed["Outputs"]) == {"InboundQueueUrl"}
    for function_id in ("Worker", "CheckSlas"):
        variables = trimmed["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert variables == {"CIVICCHAT_MEDIA_BUCKET": {"Ref": "MediaBucket"}}
    assert trimmed["Resources"]["WorkerLogGroup"]["DependsOn"] == ["InboundQueue"]


def test_without_api_trims_the_roles_statements_to_what_is_left() -> None:
    trimmed = without_api(sam_template())
    [policy] = trimmed["Resources"]["DefaultRole"]["Properties"]["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:PutLogEvents"],
            "Resource": [{"Fn::GetAtt": ["WorkerLogGroup", "Arn"]}],
        }
    ]


def test_without_api_works_on_the_translation_too() -> None:
    template = with_code_at(sam_template(), "artifacts", "code.zip")
    translated = without_api(translate(template, region=REGION))
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert not [t for t in types if t.startswith(("AWS::ApiGateway::", "AWS::Cognito::"))]
    functions = {
        resource_id
        for resource_id, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert functions == {"Worker", "CheckSlas"}
    permissions = [
        resource["Properties"]["FunctionName"]
        for resource in translated["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Permission"
    ]
    assert permissions == [{"Ref": "CheckSlas"}]  # the schedule's, not the API's
