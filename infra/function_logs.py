"""One CloudWatch log group per function, made by the stack.

Left to itself, Lambda creates `/aws/lambda/<function>` on the first log line and keeps it
forever, outside the stack: `civicchat destroy` would leave every log behind, and logs would
never expire. Here each function's `LoggingConfig.LogGroup` names a group of the stack with a
retention, so logs expire and go with the stack.
"""

from __future__ import annotations

from typing import Any

from chalicelib.resource_names import ResourceNames

LOG_RETENTION_DAYS = 90
# Chalice's name for the function that serves the app's routes (its Handler is `app.app`).
API_HANDLER = "api_handler"


def function_name(function: dict[str, Any]) -> str:
    """The function's name in .chalice/config.json and in app.py: `inbound_worker`,
    `check_slas`, ..., and `api_handler` for the routes."""
    handler = str(function["Properties"]["Handler"]).rsplit(".", 1)[-1]
    return API_HANDLER if handler == "app" else handler


def log_group_name(names: ResourceNames, name: str) -> str:
    """`/aws/lambda/civicchat-prod-check_slas`: where Lambda's console looks for a function's
    logs, named like the stage's other resources."""
    return f"/aws/lambda/{names.prefix}-{name}"


def add_function_log_groups(template: dict[str, Any], names: ResourceNames) -> list[str]:
    """Add `<Function>LogGroup` per function and point the function at it (in place); returns
    the log groups' resource ids."""
    resources = template.setdefault("Resources", {})
    functions = {
        resource_id: resource
        for resource_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    log_group_ids = []
    for function_id, function in functions.items():
        log_group_id = f"{function_id}LogGroup"
        name = log_group_name(names, function_name(function))
        resources[log_group_id] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": name, "RetentionInDays": LOG_RETENTION_DAYS},
        }
        function["Properties"]["LoggingConfig"] = {"LogGroup": {"Ref": log_group_id}}
        log_group_ids.append(log_group_id)
    return log_group_ids
