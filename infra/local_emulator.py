"""Provision a stage's data stack in a local moto server through moto's CloudFormation API, so
the local tables and queues are made from the very template deployed to AWS."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.resource_names import ResourceNames
from infra.stack_deployment import (
    StackFailed,
    Waiting,
    failed_resources,
    stack_state,
    wait_for_stack,
)
from infra.template import data_template

_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


class ProvisionError(Exception):
    pass


def provision(
    endpoint_url: str,
    names: ResourceNames,
    region: str,
    *,
    media_retention_days: int | None = None,
    timeout_seconds: float = 60.0,
) -> None:
    """Create the stack `names.stack` (or update it when its template changed; leave it alone
    when it is the same) and wait until it is complete. Raises ProvisionError with the failed
    resources' reasons otherwise. `media_retention_days`: as the deployment's (the config's
    `retention.messages`, infra/data_resources.py)."""
    cloudformation = _client(endpoint_url, region)
    template = data_template(names, media_retention_days=media_retention_days)
    body = json.dumps(template, sort_keys=True)
    current = _stack_status(cloudformation, names.stack)
    if current is None:
        cloudformation.create_stack(StackName=names.stack, TemplateBody=body)
    elif current in _DONE:
        deployed = cloudformation.get_template(StackName=names.stack)["TemplateBody"]
        if _same_template(deployed, body):
            return
        cloudformation.update_stack(StackName=names.stack, TemplateBody=body)
    else:
        raise ProvisionError(f"stack {names.stack} is {current}: delete it and provision again")
    _wait(cloudformation, names.stack, timeout_seconds)


def _client(endpoint_url: str, region: str) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        # moto accepts any credentials; don't make a newcomer configure some for a local stack.
        session = boto3.session.Session(
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto takes any credentials
        )
    return session.client("cloudformation", endpoint_url=endpoint_url)


def _stack_status(cloudformation: Any, stack: str) -> str | None:
    state = stack_state(cloudformation, stack)
    return state.status if state else None


def _same_template(deployed: Any, body: str) -> bool:
    if isinstance(deployed, str):
        deployed = json.loads(deployed)
    return json.dumps(deployed, sort_keys=True) == body


def _wait(cloudformation: Any, stack: str, timeout_seconds: float) -> None:
    waiting = Waiting(poll_seconds=0.1, timeout_seconds=timeout_seconds)
    try:
        status = wait_for_stack(cloudformation, stack, None, out=_quiet, waiting=waiting)
    except StackFailed as error:
        raise ProvisionError(f"stack {stack}: {error}") from error
    if status not in _DONE:
        reasons = failed_resources(cloudformation, stack, None)
        raise ProvisionError(
            f"stack {stack} is {status}: {'; '.join(reasons) or 'no failed resources reported'}"
        )


def _quiet(_line: str) -> None:
    """`make run` does not print the emulator's stack events."""
