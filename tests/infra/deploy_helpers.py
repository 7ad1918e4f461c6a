"""What the deployment tests share: the Graph API simulator standing in for Meta, the
operator's shell and AWS target against moto, and readers of templates and of moto's pages."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3

from chalicelib.simulator.server import GraphApiSimulator
from infra.deploy_preflight import AwsTarget

MOTO_ACCOUNT = "123456789012"


def running_simulator(tokens: Mapping[str, str]) -> Iterator[GraphApiSimulator]:
    """For a fixture: the simulator that knows the phone number and token in `tokens`
    (WHATSAPP_* names), which the deploy checks with Meta before changing anything."""
    graph = GraphApiSimulator(
        port=0,
        access_token=tokens["WHATSAPP_ACCESS_TOKEN"],
        app_secret=tokens["WHATSAPP_APP_SECRET"],
        phone_number_id=tokens["WHATSAPP_PHONE_NUMBER_ID"],
    )
    graph.start()
    try:
        yield graph
    finally:
        graph.stop()


def operator_shell(
    aws_config: Path, aws_credentials: Path, endpoint: str, **extra: str
) -> dict[str, str]:
    """The operator's shell, pointed at a moto server: no AWS, WhatsApp or civicchat settings
    but those given, and none of the developer's own ~/.aws."""
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "WHATSAPP_", "CIVICCHAT_"))
    }
    return {
        **keep,
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_credentials),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance profile to wait for
        "AWS_ENDPOINT_URL": endpoint,
        **extra,
    }


def moto_target(region: str) -> AwsTarget:
    """What preflight would establish against moto (the `aws_env` fixture's)."""
    return AwsTarget(
        session=boto3.session.Session(),
        region=region,
        account_id=MOTO_ACCOUNT,
        caller_arn=f"arn:aws:iam::{MOTO_ACCOUNT}:user/deployer",
        credentials_label="the credentials in the environment",
    )


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        resource_id: resource
        for resource_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def every(client: Any, operation: str, key: str) -> list[Any]:
    """All pages: moto's state is shared by every server in the test process, so a first page
    may hold none of the resources a test looks for."""
    return [item for page in client.get_paginator(operation).paginate() for item in page[key]]
