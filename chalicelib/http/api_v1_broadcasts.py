"""`/api/v1/broadcasts`: broadcasts through the back-office API (see docs/broadcasts.md).

Authentication, errors and bodies as for the rest of `/api/v1` (`chalicelib.http.api_v1`):
creating, previewing and cancelling need the scope `broadcasts:write`; reading takes
`broadcasts:read` too. The broadcast's `created_by` is `apikey:<the key's name>`.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.http import api_v1_http as v1
from chalicelib.wiring import container, new_id

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.domain.broadcasts import Broadcast
    from chalicelib.services.broadcasts import RecentCounts

api_v1_broadcasts = Blueprint(__name__)

BROADCASTS = f"{v1.PREFIX}/broadcasts"
WRITE_BROADCASTS = ("broadcasts:write",)
READ_BROADCASTS = ("broadcasts:read", "broadcasts:write")
BROADCAST_ID_PATTERN = r"^[0-9a-f]{32}$"


@functools.cache
def recent_counts() -> RecentCounts:
    """A broadcast's progress is counted again at most every few seconds per Lambda
    container, however often the console polls it (both blueprints share this)."""
    from chalicelib.services.broadcasts import RecentCounts

    return RecentCounts()


@api_v1_broadcasts.route(f"{BROADCASTS}/preview", methods=["POST"], content_types=v1.ANY_CONTENT)
@v1.endpoint(*WRITE_BROADCASTS)
def preview(_key: str) -> Response:
    from chalicelib.http.broadcast_views import preview_json
    from chalicelib.services.broadcast_input import read_audience
    from chalicelib.services.broadcasts import preview_broadcast

    deps = container()
    audience = read_audience(v1.json_body(), deps.definition)
    figures = preview_broadcast(
        audience, definition=deps.definition, residents=deps.broadcast_ports.audience
    )
    return v1.json_response(preview_json(figures))


@api_v1_broadcasts.route(BROADCASTS, methods=["POST"], content_types=v1.ANY_CONTENT)
@v1.endpoint(*WRITE_BROADCASTS)
def create(key_name: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json

    broadcast = start_from_body(v1.json_body(), f"apikey:{key_name}", v1.now())
    return v1.json_response(
        broadcast_json(broadcast), 201, {"Location": f"{BROADCASTS}/{broadcast.id}"}
    )


@api_v1_broadcasts.route(BROADCASTS, methods=["GET"], content_types=v1.ANY_CONTENT)
@v1.endpoint(*READ_BROADCASTS)
def recent(_key: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import recent_broadcasts

    found = recent_broadcasts(broadcasts=container().broadcasts)
    return v1.json_response({"broadcasts": [broadcast_json(b) for b in found]})


@api_v1_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}", methods=["GET"], content_types=v1.ANY_CONTENT
)
@v1.endpoint(*READ_BROADCASTS)
def one(_key: str, broadcast_id: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import BroadcastNotFoundError, get_broadcast

    try:
        broadcast = get_broadcast(
            _known_id(broadcast_id),
            broadcasts=container().broadcasts,
            now=v1.now(),
            recent=recent_counts(),
        )
    except BroadcastNotFoundError:
        raise _not_found() from None
    return v1.json_response(broadcast_json(broadcast))


@api_v1_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}/cancel", methods=["POST"], content_types=v1.ANY_CONTENT
)
@v1.endpoint(*WRITE_BROADCASTS)
def cancel(key_name: str, broadcast_id: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import (
        BroadcastConflictError,
        BroadcastNotFoundError,
        cancel_broadcast,
    )

    try:
        broadcast = cancel_broadcast(
            _known_id(broadcast_id),
            broadcasts=container().broadcasts,
            by=f"apikey:{key_name}",
            now=v1.now(),
        )
    except BroadcastNotFoundError:
        raise _not_found() from None
    except BroadcastConflictError as error:
        raise v1.ApiError(409, "conflict", str(error), field="status", reason=str(error)) from None
    return v1.json_response(broadcast_json(broadcast))


# --- shared with the console -------------------------------------------------------------------


def start_from_body(body: Any, created_by: str, now: datetime) -> Broadcast:
    """Read a new broadcast from a request body (raises InputError) and start it
    (services.broadcasts.start_broadcast); the console's route calls it too."""
    from chalicelib.services.broadcast_input import read_broadcast
    from chalicelib.services.broadcasts import start_broadcast

    deps = container()
    return start_broadcast(
        read_broadcast(body, deps.definition, now),
        definition=deps.definition,
        ports=deps.broadcast_ports,
        audit=deps.audit_trail,
        created_by=created_by,
        now=now,
        new_id=new_id,
    )


def is_broadcast_id(value: str) -> bool:
    """Whether `value` could be a broadcast's id (`new_id`): others are never looked up (the
    console's routes check theirs with it too)."""
    return re.fullmatch(BROADCAST_ID_PATTERN, value) is not None


def _known_id(broadcast_id: str) -> str:
    """A path's broadcast id; one that could never have been made is not looked up."""
    from urllib.parse import unquote

    broadcast_id = unquote(broadcast_id)  # as API Gateway does; chalice local does not
    if not is_broadcast_id(broadcast_id):
        raise _not_found()
    return broadcast_id


def _not_found() -> v1.ApiError:
    return v1.ApiError(
        404, "not_found", "no such broadcast", field="broadcast_id", reason="is not known"
    )
