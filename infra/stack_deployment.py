"""CloudFormation driven as a person would: a change set, its execution, the stack's events
printed as they come, and — when it fails — the resources that failed and why.

Nothing here knows civicchat's template: it takes a template URL and parameters, so it runs
the same against AWS and against moto's server (which cannot run the SAM transform: tests give
it plain templates). Two differences of moto's, both handled: it executes a change set
synchronously and reports a failing resource as the ExecuteChangeSet error, where AWS answers
at once and reports it in the stack's events; and it records stack events only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
DEFAULT_POLL_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 3 * 3600.0  # a big table's new index can take hours to build
_NOTHING_TO_CHANGE = ("didn't contain changes", "No updates are to be performed")
# Resources CloudFormation stopped because another failed: noise next to the real cause.
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
# A stack whose first creation (or import of kept data) failed: nothing of it runs, and what is
# left of it must go before it can be made again.
NEVER_CREATED = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE"})
_SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})

Output = Callable[[str], None]


class StackFailed(Exception):
    """The stack did not reach the template. `failures`: one line per failed resource."""

    def __init__(self, message: str, failures: list[str] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


@dataclass(frozen=True, slots=True)
class StackState:
    stack_id: str
    status: str
    reason: str
    outputs: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Waiting:
    """How often to look, and for how long (tests look often)."""

    poll_seconds: float = DEFAULT_POLL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    sleep: Callable[[float], None] = time.sleep


def stack_state(cloudformation: Any, stack: str) -> StackState | None:
    """The stack by name or id; None when there is none (or only a deleted one)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    found = stacks[0]
    return StackState(
        stack_id=found["StackId"],
        status=found["StackStatus"],
        reason=found.get("StackStatusReason") or "",
        outputs={o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []},
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters") or []
        },
    )


def deploy_template(
    cloudformation: Any,
    *,
    stack: str,
    template_url: str,
    parameters: Mapping[str, str],
    out: Output,
    waiting: Waiting | None = None,
    resources_to_import: list[dict[str, Any]] | None = None,
) -> bool:
    """Bring `stack` to the template: create it, or update it in place; with
    `resources_to_import`, take existing resources into it (an IMPORT change set). Returns
    False when there was nothing to change. Raises StackFailed with the failed resources'
    reasons."""
    waiting = waiting or Waiting()
    state = stack_state(cloudformation, stack)
    if state is not None and state.status in NEVER_CREATED:
        out(
            f"The stack {stack} is {state.status}: its first creation failed and nothing of it "
            "runs. Deleting what is left of it before creating it again."
        )
        delete_stack(cloudformation, stack=stack, out=out, waiting=waiting)
        state = None
    if state is not None and is_busy(state.status):
        raise StackFailed(
            f"the stack {stack} is busy ({state.status}): wait until CloudFormation finishes, "
            "then run this again"
        )
    change_type = "CREATE" if state is None or state.status == "REVIEW_IN_PROGRESS" else "UPDATE"
    extra: dict[str, Any] = {"Capabilities": CAPABILITIES}
    if resources_to_import:
        change_type, extra = "IMPORT", {"ResourcesToImport": resources_to_import}
    change_set = _create_change_set(
        cloudformation, stack, change_type, template_url, parameters, waiting, extra
    )
    if change_set is None:
        return False
    out(f"Change set {change_set['ChangeSetName']}: {_summary(change_set.get('Changes', []))}")
    marker = _newest_event_id(cloudformation, stack)
    stack_id = change_set["StackId"]
    try:
        cloudformation.execute_change_set(ChangeSetName=change_set["ChangeSetId"])
    except Exception as error:  # botocore's ClientError, or a parser error on moto's 500
        _print_new_events(cloudformation, stack_id, marker, out)
        raise StackFailed(
            f"CloudFormation could not carry out the change set: {error}",
            failed_resources(cloudformation, stack_id, marker),
        ) from error
    status = wait_for_stack(cloudformation, stack_id, marker, out=out, waiting=waiting)
    if status not in _SUCCEEDED:
        state = stack_state(cloudformation, stack_id)
        reason = f": {state.reason}" if state and state.reason else ""
        raise StackFailed(
            f"the stack {stack} ended {status}{reason}",
            failed_resources(cloudformation, stack_id, marker),
        )
    return True


def delete_stack(
    cloudformation: Any, *, stack: str, out: Output, waiting: Waiting | None = None
) -> None:
    """Delete the stack and wait, printing its events. Resources with DeletionPolicy Retain
    stay. Raises StackFailed when CloudFormation could not delete something."""
    waiting = waiting or Waiting()
    state = stack_state(cloudformation, stack)
    if state is None:
        return
    marker = _newest_event_id(cloudformation, state.stack_id)
    cloudformation.delete_stack(StackName=state.stack_id)
    status = wait_for_stack(cloudformation, state.stack_id, marker, out=out, waiting=waiting)
    if status != "DELETE_COMPLETE":
        raise StackFailed(
            f"the stack {stack} ended {status}",
            failed_resources(cloudformation, state.stack_id, marker),
        )


def wait_for_stack(
    cloudformation: Any, stack_id: str, after_event: str | None, *, out: Output, waiting: Waiting
) -> str:
    """Print each new event until the stack's status is no longer *_IN_PROGRESS; returns it."""
    deadline = time.monotonic() + waiting.timeout_seconds
    printed: set[str] = set()
    while True:
        # The status first: the events read after it include the last ones of a finished stack.
        described = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        status = str(described["StackStatus"])
        for event in _events_since(cloudformation, stack_id, after_event):
            if event["EventId"] not in printed:
                printed.add(event["EventId"])
                out(progress_line(event))
        if not is_busy(status):
            return status
        if time.monotonic() > deadline:
            raise StackFailed(
                f"the stack is still {status} after {waiting.timeout_seconds / 60:.0f} minutes; "
                "CloudFormation carries on: follow it in the AWS console"
            )
        waiting.sleep(waiting.poll_seconds)


def progress_line(event: Mapping[str, Any]) -> str:
    timestamp = event.get("Timestamp")
    when = timestamp.strftime("%H:%M:%S") if isinstance(timestamp, datetime) else "--:--:--"
    reason = event.get("ResourceStatusReason") or ""
    line = f"  {when}  {event.get('ResourceStatus', ''):<28} {event.get('LogicalResourceId', '')}"
    return f"{line}  {reason}" if reason else line


def failure_lines(events: list[Mapping[str, Any]]) -> list[str]:
    """`<resource> (<type>): <reason>` for each failed resource in `events` (oldest first),
    leaving out those CloudFormation cancelled because of another's failure."""
    lines: list[str] = []
    for event in events:
        status = str(event.get("ResourceStatus", ""))
        reason = str(event.get("ResourceStatusReason") or "")
        if not status.endswith("_FAILED") or not reason or reason.startswith(_CANCELLED):
            continue
        line = f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason}"
        if line not in lines:
            lines.append(line)
    return lines


def failed_resources(cloudformation: Any, stack_id: str, after_event: str | None) -> list[str]:
    try:
        return failure_lines(list(_events_since(cloudformation, stack_id, after_event)))
    except Exception:  # the report must not hide the failure it reports
        return []


def is_busy(status: str) -> bool:
    """CloudFormation is working on the stack (a stack only planned by a change set is not)."""
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def _create_change_set(
    cloudformation: Any,
    stack: str,
    change_type: str,
    template_url: str,
    parameters: Mapping[str, str],
    waiting: Waiting,
    extra: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The change set once CloudFormation has worked it out; None when nothing would change."""
    name = f"civicchat-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    try:
        created = cloudformation.create_change_set(
            StackName=stack,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateURL=template_url,
            Parameters=[
                {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
            ],
            Description="civicchat deploy",
            **extra,
        )
    except cloudformation.exceptions.ClientError as error:
        if any(text in str(error) for text in _NOTHING_TO_CHANGE):
            return None
        raise StackFailed(f"CloudFormation refused the template: {_message(error)}") from error
    deadline = time.monotonic() + waiting.timeout_seconds
    while True:
        change_set = cloudformation.describe_change_set(ChangeSetName=created["Id"])
        status = change_set["Status"]
        if status == "CREATE_COMPLETE":
            return _with_every_change(cloudformation, change_set)
        if status == "FAILED":
            reason = change_set.get("StatusReason") or "no reason given"
            if any(text in reason for text in _NOTHING_TO_CHANGE):
                cloudformation.delete_change_set(ChangeSetName=created["Id"])
                return None
            raise StackFailed(f"CloudFormation could not prepare the change set: {reason}")
        if time.monotonic() > deadline:
            raise StackFailed(f"the change set {name} is still {status}")
        waiting.sleep(min(waiting.poll_seconds, 2.0))


def _with_every_change(cloudformation: Any, change_set: dict[str, Any]) -> dict[str, Any]:
    changes = list(change_set.get("Changes", []))
    token = change_set.get("NextToken")
    while token:
        page = cloudformation.describe_change_set(
            ChangeSetName=change_set["ChangeSetId"], NextToken=token
        )
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    return {**change_set, "Changes": changes}


def _summary(changes: list[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for change in changes:
        action = change.get("ResourceChange", {}).get("Action", "Other")
        counts[action] = counts.get(action, 0) + 1
    words = {"Add": "to add", "Modify": "to change", "Remove": "to remove", "Import": "to import"}
    parts = [f"{counts.pop(action)} {word}" for action, word in words.items() if action in counts]
    parts += [f"{count} {action.lower()}" for action, count in counts.items()]
    return ", ".join(parts) or "no resource changes"


def _newest_event_id(cloudformation: Any, stack: str) -> str | None:
    try:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    except cloudformation.exceptions.ClientError:
        return None  # no stack yet: every event will be new
    return str(events[0]["EventId"]) if events else None


def _events_since(
    cloudformation: Any, stack_id: str, after_event: str | None
) -> list[dict[str, Any]]:
    """The stack's events newer than `after_event`, oldest first. CloudFormation lists them
    newest first, so paging stops at the first one already known."""
    newer: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for event in page["StackEvents"]:
            if event["EventId"] == after_event:
                return newer[::-1]
            newer.append(event)
    return newer[::-1]


def _print_new_events(
    cloudformation: Any, stack_id: str, after_event: str | None, out: Output
) -> None:
    try:
        events = _events_since(cloudformation, stack_id, after_event)
    except Exception:  # only decoration on the way to reporting the failure
        return
    for event in events:
        out(progress_line(event))


def _message(error: Any) -> str:
    response = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Message") or error)
