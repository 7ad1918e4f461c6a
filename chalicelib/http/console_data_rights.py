"""A resident's data rights in the agents' console, for supervisors and admins
(docs/data-rights.md):

- `GET /console/api/residents/{phone}/export` → everything kept about them as a JSON download
  (`Content-Disposition: attachment; filename="resident-export-<masked>.json"`,
  `Cache-Control: no-store`); 404 when nothing is kept about that number. The answer is bounded
  by Lambda's 6 MB response: a longer history is exported with the command line.
- `POST /console/api/residents/{phone}/erase` with `{"confirm": "<the number again>"}` → 200
  `{"erased": {table: count}, "resident_ref", "erased_at", "already_erased"}`; 422 (field
  `confirm`) when the confirmation names another number; 404 when nothing is kept and nothing
  was ever erased. Cut short (API Gateway's 29 s), it is safely asked again.

`{phone}`: the digits as the console shows them, with or without "+" (URL-encoded), or a
number as people write it. Others than supervisors and admins get 403. Both are recorded in
the audit log as the agent, and logged (one INFO line, the number masked) with a metric,
`ResidentExports` / `ResidentErasures`. Same sign-in and error shapes as `console_api`
(through `console_http`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from chalice import Blueprint, Response

from chalicelib.http.console_http import (
    AGENTS,
    ANY_CONTENT,
    PREFIX,
    ConsoleApiError,
    body,
    endpoint,
    json_response,
    now,
)
from chalicelib.wiring import container

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from chalicelib.domain.agents import Agent

console_data_rights = Blueprint(__name__)

RESIDENT = f"{PREFIX}/residents/{{phone}}"
WHAT = "residents' data rights"
T = TypeVar("T")


@console_data_rights.route(f"{RESIDENT}/export", methods=["GET"], authorizer=AGENTS)
@endpoint()
def export(agent: Agent, phone: str) -> Response:
    from chalicelib.observability import mask_phone
    from chalicelib.services.console_context import require_supervisor
    from chalicelib.services.resident_data import export_resident

    require_supervisor(agent, WHAT)
    key = _resident_key(phone, "phone")
    document = _for_resident(export_resident, key, agent)
    _log("resident data exported", "ResidentExports", key, agent, document["counts"])
    masked = "".join(ch if ch.isalnum() else "_" for ch in mask_phone(key.removeprefix("wa:")))
    return json_response(
        document,
        headers={"Content-Disposition": f'attachment; filename="resident-export-{masked}.json"'},
    )


@console_data_rights.route(
    f"{RESIDENT}/erase", methods=["POST"], authorizer=AGENTS, content_types=ANY_CONTENT
)
@endpoint()
def erase(agent: Agent, phone: str) -> Response:
    from chalicelib.services.console_context import require_supervisor
    from chalicelib.services.resident_data import erase_resident

    require_supervisor(agent, WHAT)
    key = _resident_key(phone, "phone")
    confirm = body().get("confirm")
    if not isinstance(confirm, str) or not confirm.strip():
        raise ConsoleApiError(422, "invalid", "type the number again to confirm", field="confirm")
    if _resident_key(confirm, "confirm") != key:
        raise ConsoleApiError(
            422, "invalid", "the confirmation is not the same number", field="confirm"
        )
    outcome = _for_resident(erase_resident, key, agent)
    if not outcome.already_erased:
        _log("resident data erased", "ResidentErasures", key, agent, outcome.erased)
    return json_response(outcome.to_json())


def _for_resident(use_case: Callable[..., T], key: str, agent: Agent) -> T:
    """Export or erasure (services.resident_data) as the agent, now; 404 when nothing is kept."""
    from chalicelib.domain.audit import agent_actor
    from chalicelib.services.resident_data import ResidentNotFoundError

    try:
        return use_case(
            key,
            ports=container().data_rights,
            actor=agent_actor(agent.id),
            now=now(),
            recipient=key.removeprefix("wa:"),
        )
    except ResidentNotFoundError:
        raise ConsoleApiError(404, "not_found", "nothing is kept about that number") from None


def _log(message: str, metric: str, key: str, agent: Agent, counts: Mapping[str, int]) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.observability import logger, mask_resident_key, metrics

    logger.info(
        message,
        extra={"resident": mask_resident_key(key), "by": agent.id, "counts": dict(counts)},
    )
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)


def _resident_key(phone: str, field: str) -> str:
    from chalicelib.services.back_office_input import default_region
    from chalicelib.services.phone_input import InvalidPhoneError, resident_key_for_phone

    try:
        return resident_key_for_phone(phone, default_region(container().definition))
    except InvalidPhoneError as error:
        raise ConsoleApiError(422, "invalid", f"the phone number {error}", field=field) from None
