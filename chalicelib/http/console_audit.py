"""The audit log in the agents' console, for supervisors and admins (docs/audit.md):

- `GET /console/api/audit?phone=…` → `{"resident_ref", "events": [{"at", "actor", "action",
  "detail", "counts"}]}`, newest first;
- `GET /console/api/audit[?cursor=…]` → `{"events": [{…, "resident_ref"}], "next": cursor|null}`,
  everyone's, newest first.

`limit` (optional): a whole number from 1 to 500; anything else is 422 naming it. Others get
403. Same sign-in and error shapes as `console_api` (through `console_http`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.http.console_http import (
    AGENTS,
    PREFIX,
    ConsoleApiError,
    endpoint,
    json_response,
    query,
)
from chalicelib.wiring import container

if TYPE_CHECKING:
    from chalicelib.domain.agents import Agent
    from chalicelib.domain.audit import AuditEvent

console_audit = Blueprint(__name__)


@console_audit.route(f"{PREFIX}/audit", methods=["GET"], authorizer=AGENTS)
@endpoint()
def audit_log(agent: Agent) -> Response:
    from chalicelib.services.audit_ports import RECENT_LIMIT, RESIDENT_LIMIT
    from chalicelib.services.back_office_input import default_region
    from chalicelib.services.read_audit_log import recent_audit, resident_audit

    deps = container()
    phone = query("phone")
    if phone is not None:
        found = resident_audit(
            agent,
            phone,
            audit=deps.audit_trail,
            default_region=default_region(deps.definition),
            limit=_limit(RESIDENT_LIMIT),
        )
        return json_response(
            {
                "resident_ref": found.resident_ref,
                "events": [event_json(e, with_ref=False) for e in found.events],
            }
        )
    events, cursor = recent_audit(
        agent, audit=deps.audit_trail, cursor=query("cursor"), limit=_limit(RECENT_LIMIT)
    )
    return json_response({"events": [event_json(e) for e in events], "next": cursor})


def _limit(default: int) -> int:
    raw = query("limit")
    if raw is None:
        return default
    if not raw.strip().isdigit():  # as one out of range (services.read_audit_log)
        raise ConsoleApiError(422, "invalid", "limit must be a whole number", field="limit")
    return int(raw)


def event_json(event: AuditEvent, *, with_ref: bool = True) -> dict[str, Any]:
    from chalicelib.http.console_views import time_json

    body: dict[str, Any] = {
        "at": time_json(event.at),
        "actor": event.actor,
        "action": event.action.value,
        "detail": event.detail,
        "counts": dict(event.counts) if event.counts is not None else None,
    }
    if with_ref:
        body["resident_ref"] = event.resident_ref
    return body
