"""`/console/api/broadcasts`: the console's broadcasts, for supervisors and admins only (others
get 403 `forbidden`). Sign-in, errors and bodies as for the rest of the console API
(`chalicelib.http.console_api`); a broadcast's `created_by` is `agent:<agent id>`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.http import console_http as console
from chalicelib.wiring import container

if TYPE_CHECKING:
    from chalicelib.domain.agents import Agent
    from chalicelib.services.back_office_input import InputError

console_broadcasts = Blueprint(__name__)

BROADCASTS = f"{console.PREFIX}/broadcasts"


def _supervisors_only(agent: Agent) -> None:
    # Imported here: the console's services and domain are not every Lambda's cold start.
    from chalicelib.services.console_context import require_supervisor

    require_supervisor(agent, "broadcasts")


def _known(broadcast_id: str) -> str:
    """The path's broadcast id (console.endpoint has unquoted it); one that could never have
    been made is not looked up."""
    from chalicelib.http.api_v1_broadcasts import is_broadcast_id

    if not is_broadcast_id(broadcast_id):
        raise _not_found()
    return broadcast_id


def _not_found() -> console.ConsoleApiError:
    return console.ConsoleApiError(404, "not_found", "no such broadcast")


def _refused(error: InputError) -> console.ConsoleApiError:
    first = next(e for e in error.errors if e.status == error.status)
    code = "invalid" if error.status == 422 else first.code
    return console.ConsoleApiError(error.status, code, first.message, field=first.field)


def _checked(read: Any, *args: Any) -> Any:
    from chalicelib.services.back_office_input import InputError

    try:
        return read(*args)
    except InputError as error:
        raise _refused(error) from None


@console_broadcasts.route(f"{BROADCASTS}/options", methods=["GET"], authorizer=console.AGENTS)
@console.endpoint()
def options(agent: Agent) -> Response:
    from chalicelib.http.broadcast_views import options_json

    _supervisors_only(agent)
    return console.json_response(options_json(container().definition))


@console_broadcasts.route(
    f"{BROADCASTS}/preview",
    methods=["POST"],
    content_types=console.ANY_CONTENT,
    authorizer=console.AGENTS,
)
@console.endpoint()
def preview(agent: Agent) -> Response:
    from chalicelib.http.broadcast_views import preview_json
    from chalicelib.services.broadcast_input import read_audience
    from chalicelib.services.broadcasts import preview_broadcast

    _supervisors_only(agent)
    deps = container()
    audience = _checked(read_audience, console.body(), deps.definition)
    figures = preview_broadcast(
        audience, definition=deps.definition, residents=deps.broadcast_ports.audience
    )
    return console.json_response(preview_json(figures))


@console_broadcasts.route(
    BROADCASTS, methods=["POST"], content_types=console.ANY_CONTENT, authorizer=console.AGENTS
)
@console.endpoint()
def create(agent: Agent) -> Response:
    from chalicelib.http.api_v1_broadcasts import start_from_body
    from chalicelib.http.broadcast_views import broadcast_json

    _supervisors_only(agent)
    broadcast = _checked(start_from_body, console.body(), f"agent:{agent.id}", console.now())
    return console.json_response(broadcast_json(broadcast), 201)


@console_broadcasts.route(BROADCASTS, methods=["GET"], authorizer=console.AGENTS)
@console.endpoint()
def recent(agent: Agent) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import recent_broadcasts

    _supervisors_only(agent)
    found = recent_broadcasts(broadcasts=container().broadcasts)
    return console.json_response({"broadcasts": [broadcast_json(b) for b in found]})


@console_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}", methods=["GET"], authorizer=console.AGENTS
)
@console.endpoint()
def one(agent: Agent, broadcast_id: str) -> Response:
    from chalicelib.http.api_v1_broadcasts import recent_counts
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import BroadcastNotFoundError, get_broadcast

    _supervisors_only(agent)
    try:
        broadcast = get_broadcast(
            _known(broadcast_id),
            broadcasts=container().broadcasts,
            now=console.now(),
            recent=recent_counts(),
        )
    except BroadcastNotFoundError:
        raise _not_found() from None
    return console.json_response(broadcast_json(broadcast))


@console_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}/cancel",
    methods=["POST"],
    content_types=console.ANY_CONTENT,
    authorizer=console.AGENTS,
)
@console.endpoint()
def cancel(agent: Agent, broadcast_id: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import (
        BroadcastConflictError,
        BroadcastNotFoundError,
        cancel_broadcast,
    )

    _supervisors_only(agent)
    try:
        broadcast = cancel_broadcast(
            _known(broadcast_id),
            broadcasts=container().broadcasts,
            by=f"agent:{agent.id}",
            now=console.now(),
        )
    except BroadcastNotFoundError:
        raise _not_found() from None
    except BroadcastConflictError as error:
        raise console.ConsoleApiError(409, "conflict", str(error), field="status") from None
    return console.json_response(broadcast_json(broadcast))
