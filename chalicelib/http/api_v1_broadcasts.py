"""`/api/v1/broadcasts`: broadcasts through the back-office API (see docs/broadcasts.md).

Authentication, errors and bodies as for the rest of `/api/v1` (`chalicelib.http.api_v1`):
creating, previewing and cancelling need the scope `broadcasts:write`; reading takes
`broadcasts:read` too. The broadcast's `created_by` is `apikey:<the key's name>`.
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint, Response

from chalicelib.http import api_v1 as v1
from chalicelib.observability import logger
from chalicelib.wiring import container, new_id

api_v1_broadcasts = Blueprint(__name__)

BROADCASTS = f"{v1.PREFIX}/broadcasts"
WRITE_BROADCASTS = ("broadcasts:write",)
READ_BROADCASTS = ("broadcasts:read", "broadcasts:write")
BROADCAST_ID_PATTERN = r"^[0-9a-f]{32}$"
FIRST_STEP_SEGMENTS = 1  # "send now" queues its first segment within the request


@api_v1_broadcasts.route(f"{BROADCASTS}/preview", methods=["POST"], content_types=v1.ANY_CONTENT)
@v1._endpoint(*WRITE_BROADCASTS)
def preview(_key: str) -> Response:
    from chalicelib.http.broadcast_views import preview_json
    from chalicelib.services.broadcast_input import read_audience
    from chalicelib.services.broadcasts import preview_broadcast

    deps = container()
    audience = read_audience(v1._json_body(), deps.definition)
    figures = preview_broadcast(
        audience, definition=deps.definition, residents=deps.broadcast_ports.audience
    )
    return v1._json(preview_json(figures))


@api_v1_broadcasts.route(BROADCASTS, methods=["POST"], content_types=v1.ANY_CONTENT)
@v1._endpoint(*WRITE_BROADCASTS)
def create(key_name: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json

    broadcast = create_and_start(v1._json_body(), f"apikey:{key_name}", v1._now())
    return v1._json(broadcast_json(broadcast), 201, {"Location": f"{BROADCASTS}/{broadcast.id}"})


@api_v1_broadcasts.route(BROADCASTS, methods=["GET"], content_types=v1.ANY_CONTENT)
@v1._endpoint(*READ_BROADCASTS)
def recent(_key: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import recent_broadcasts

    found = recent_broadcasts(broadcasts=container().broadcasts)
    return v1._json({"broadcasts": [broadcast_json(b) for b in found]})


@api_v1_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}", methods=["GET"], content_types=v1.ANY_CONTENT
)
@v1._endpoint(*READ_BROADCASTS)
def one(_key: str, broadcast_id: str) -> Response:
    from chalicelib.http.broadcast_views import broadcast_json
    from chalicelib.services.broadcasts import BroadcastNotFoundError, get_broadcast

    try:
        broadcast = get_broadcast(_known_id(broadcast_id), broadcasts=container().broadcasts)
    except BroadcastNotFoundError:
        raise _not_found() from None
    return v1._json(broadcast_json(broadcast))


@api_v1_broadcasts.route(
    f"{BROADCASTS}/{{broadcast_id}}/cancel", methods=["POST"], content_types=v1.ANY_CONTENT
)
@v1._endpoint(*WRITE_BROADCASTS)
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
            now=v1._now(),
        )
    except BroadcastNotFoundError:
        raise _not_found() from None
    except BroadcastConflictError as error:
        raise v1.ApiError(409, "conflict", str(error), field="status", reason=str(error)) from None
    return v1._json(broadcast_json(broadcast))


# --- shared with the console -------------------------------------------------------------------


def create_and_start(body: Any, created_by: str, now: Any) -> Any:
    """Create a broadcast from a request body (raises InputError); one to send now takes its
    first step at once, so nobody waits for the minute's job (which does the rest)."""
    from chalicelib.services.broadcast_input import read_broadcast
    from chalicelib.services.broadcasts import create_broadcast, get_broadcast, run_broadcasts

    deps = container()
    draft = read_broadcast(body, deps.definition, now)
    broadcast = create_broadcast(
        draft,
        definition=deps.definition,
        residents=deps.broadcast_ports.audience,
        broadcasts=deps.broadcasts,
        created_by=created_by,
        now=now,
        new_id=new_id,
    )
    deps.audit_trail.record_broadcast(
        broadcast.id, actor=created_by, at=now, audience=broadcast.estimate.audience
    )
    if draft.send_at is None:
        import time

        try:
            run_broadcasts(
                now,
                definition=deps.definition,
                ports=deps.broadcast_ports,
                clock=time.monotonic,
                only=broadcast.id,
                max_segments=FIRST_STEP_SEGMENTS,
            )
            broadcast = get_broadcast(broadcast.id, broadcasts=deps.broadcasts)
        except Exception:  # the job takes it from here
            logger.exception("first step of a broadcast failed", extra={"broadcast": broadcast.id})
    return broadcast


def _known_id(broadcast_id: str) -> str:
    """A path's broadcast id; one that could never have been made is not looked up."""
    from urllib.parse import unquote

    broadcast_id = unquote(broadcast_id)
    if not re.fullmatch(BROADCAST_ID_PATTERN, broadcast_id):
        raise _not_found()
    return broadcast_id


def _not_found() -> v1.ApiError:
    return v1.ApiError(
        404, "not_found", "no such broadcast", field="broadcast_id", reason="is not known"
    )
