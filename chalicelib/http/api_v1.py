"""The back-office API, `/api/v1`: obligations (and their reminders), notifications, delivery
status, and the OpenAPI document describing all of it (`chalicelib.http.openapi`).

Every route but the document needs `Authorization: Bearer <API key>` (see
`civicchat apikey create`). Errors are JSON, `{"error": {"code", "message", "field", "reason"},
"errors": [...]}`, mapped from the services' exceptions in one place (`_endpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.observability import logger
from chalicelib.wiring import container

if TYPE_CHECKING:  # the services are imported on a request's path only, not on a cold start
    from chalicelib.services.back_office import Delivery, NotificationView, ObligationView
    from chalicelib.services.back_office_input import FieldError, InputError

api_v1 = Blueprint(__name__)

PREFIX = "/api/v1"
# Bodies are read as JSON whatever the header says (curl -d sends a form); Chalice would answer
# any other content type with its own 415, not our JSON error.
ANY_CONTENT = ["*/*"]
_JSON = {"Content-Type": "application/json"}

# Who may do what. Reading a status also works with the scope that wrote it.
WRITE_REMINDERS = ("reminders:write",)
WRITE_NOTIFICATIONS = ("notifications:write",)
READ_OBLIGATIONS = ("status:read", "reminders:write")
READ_NOTIFICATIONS = ("status:read", "notifications:write")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.reason, self.errors = field, reason, errors

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.reason is not None:
            error["reason"] = self.reason
        body: dict[str, Any] = {"error": error}
        if self.errors is not None:
            body["errors"] = self.errors
        challenge = {"WWW-Authenticate": 'Bearer realm="civicchat"'} if self.status == 401 else {}
        return _json(body, self.status, challenge)


def _endpoint(*scopes: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Authenticate (unless no scope is needed), run the route with the caller's key name, and
    turn the services' exceptions into JSON errors: the one place that maps them to HTTP."""

    def decorate(route: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(route)
        def handle(**path: str) -> Response:
            from chalicelib.services.back_office import NotFoundError
            from chalicelib.services.back_office_input import InputError

            try:
                return route(_caller(scopes) if scopes else "", **path)
            except ApiError as error:
                return error.response()
            except InputError as error:
                return _input_error(error).response()
            except NotFoundError as error:
                not_found = ApiError(
                    404, "not_found", str(error), field="external_id", reason="is not known"
                )
                return not_found.response()

        return handle

    return decorate


def _caller(scopes: tuple[str, ...]) -> str:
    """The name of the calling key, which must hold one of `scopes`."""
    from chalicelib.services.api_keys import (
        AuthenticationError,
        MissingScopeError,
        authenticate,
        require_scope,
    )

    try:
        headers = api_v1.current_request.headers
        key = authenticate(container().api_keys, headers.get("authorization"))
        require_scope(key, *scopes)
    except AuthenticationError as error:
        raise ApiError(401, "unauthorized", str(error)) from None
    except MissingScopeError as error:
        logger.warning("API key lacks a scope", extra={"api_key": key.name, "needed": scopes})
        raise ApiError(403, "forbidden", str(error)) from None
    logger.append_keys(api_key=key.name)  # on every line this request logs
    return key.name


def _input_error(error: InputError) -> ApiError:
    # `error` names the first problem of the kind that set the status (malformed before
    # unacceptable); `errors` lists them all, in the order the fields were read.
    first = next(e for e in error.errors if e.status == error.status)
    return ApiError(
        error.status,
        first.code,
        first.message,
        field=first.field,
        reason=first.reason,
        errors=[_field_error(e) for e in error.errors],
    )


def _field_error(error: FieldError) -> dict[str, str]:
    return {"field": error.field, "code": error.code, "reason": error.reason}


# --- request bodies ---------------------------------------------------------------------------


def _text_body() -> str:
    raw = api_v1.current_request.raw_body or b""
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        raise ApiError(
            400, "invalid", "body is not UTF-8 text", field="body", reason="is not UTF-8 text"
        ) from None


def _json_body() -> Any:
    text = _text_body()
    if not text.strip():
        raise ApiError(400, "missing", "body is required", field="body", reason="is required")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        reason = f"is not valid JSON ({error})" if isinstance(error, ValueError) else "is too deep"
        raise ApiError(400, "invalid", f"body {reason}", field="body", reason=reason) from None


def _is_csv() -> bool:
    content_type = api_v1.current_request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() in ("text/csv", "application/csv")


def _external_id(external_id: str) -> str:
    from urllib.parse import unquote

    return unquote(external_id)  # API Gateway decodes path parameters; chalice local does not


def _stored_id(external_id: str, what: str) -> str:
    """The path's id of something to look up. One that could never have been registered is
    not looked up (DynamoDB would refuse a key over 2 KB with an error)."""
    import re

    from chalicelib.services.back_office import NotFoundError
    from chalicelib.services.back_office_input import EXTERNAL_ID_PATTERN

    external_id = _external_id(external_id)
    if not re.fullmatch(EXTERNAL_ID_PATTERN, external_id):
        raise NotFoundError(what, external_id)
    return external_id


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**_JSON, **(headers or {})})


def _now() -> datetime:
    return datetime.now(UTC)


# --- routes -----------------------------------------------------------------------------------


@api_v1.route(f"{PREFIX}/openapi.json", methods=["GET"], content_types=ANY_CONTENT)
@_endpoint()
def openapi_document(_key: str) -> Response:
    from chalicelib.http.openapi import openapi_document as document

    return _json(document(container().definition))


@api_v1.route(f"{PREFIX}/obligations/{{external_id}}", methods=["PUT"], content_types=ANY_CONTENT)
@_endpoint(*WRITE_REMINDERS)
def put_obligation(key_name: str, external_id: str) -> Response:
    from chalicelib.services.back_office import register_obligation

    deps = container()
    external_id = _external_id(external_id)
    view = register_obligation(
        external_id,
        _json_body(),
        definition=deps.definition,
        obligations=deps.obligations,
        residents=deps.residents,
        messages=deps.messages,
        registered_by=key_name,
        now=_now(),
        audit=deps.audit_trail,
    )
    if view.created:
        location = f"{PREFIX}/obligations/{view.obligation.external_id}"
        return _json(obligation_json(view), 201, {"Location": location})
    return _json(obligation_json(view))


@api_v1.route(f"{PREFIX}/obligations/{{external_id}}", methods=["GET"], content_types=ANY_CONTENT)
@_endpoint(*READ_OBLIGATIONS)
def get_obligation(_key: str, external_id: str) -> Response:
    from chalicelib.services.back_office import obligation_status

    deps = container()
    view = obligation_status(
        _stored_id(external_id, "obligation"), obligations=deps.obligations, messages=deps.messages
    )
    return _json(obligation_json(view))


@api_v1.route(
    f"{PREFIX}/obligations/{{external_id}}/cancel", methods=["POST"], content_types=ANY_CONTENT
)
@_endpoint(*WRITE_REMINDERS)
def cancel_obligation(_key: str, external_id: str) -> Response:
    from chalicelib.services.back_office import cancel_obligation as cancel

    return _stop(cancel, external_id)


@api_v1.route(
    f"{PREFIX}/obligations/{{external_id}}/renewed", methods=["POST"], content_types=ANY_CONTENT
)
@_endpoint(*WRITE_REMINDERS)
def renew_obligation(_key: str, external_id: str) -> Response:
    from chalicelib.services.back_office import mark_renewed

    return _stop(mark_renewed, external_id)


def _stop(stop: Callable[..., ObligationView], external_id: str) -> Response:
    deps = container()
    view = stop(
        _stored_id(external_id, "obligation"),
        obligations=deps.obligations,
        messages=deps.messages,
        now=_now(),
    )
    return _json(obligation_json(view))


# API Gateway resource paths allow only letters, digits and ._- in a literal segment, so the
# `obligations:bulk` custom method is served by a path parameter; any other value is a 404.
@api_v1.route(f"{PREFIX}/{{collection_action}}", methods=["POST"], content_types=ANY_CONTENT)
def collection_action(collection_action: str) -> Response:
    if _external_id(collection_action) == "obligations:bulk":
        return bulk_obligations()
    error = ApiError(404, "not_found", f"no such route: POST {PREFIX}/{collection_action}")
    return error.response()


@_endpoint(*WRITE_REMINDERS)
def bulk_obligations(key_name: str) -> Response:
    from chalicelib.services.back_office import register_many
    from chalicelib.services.back_office_input import rows_from_csv, rows_from_json

    rows: list[Any] = rows_from_csv(_text_body()) if _is_csv() else rows_from_json(_json_body())
    deps = container()
    result = register_many(
        rows,
        definition=deps.definition,
        obligations=deps.obligations,
        residents=deps.residents,
        registered_by=key_name,
        now=_now(),
        concurrency=deps.bulk_concurrency,
        audit=deps.audit_trail,
    )
    return _json(
        {
            "accepted": result.accepted,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": [
                {
                    "row": rejected.row,
                    "external_id": rejected.external_id,
                    "errors": [_field_error(e) for e in rejected.errors],
                }
                for rejected in result.rejected
            ],
        }
    )


@api_v1.route(f"{PREFIX}/notifications", methods=["POST"], content_types=ANY_CONTENT)
@_endpoint(*WRITE_NOTIFICATIONS)
def post_notification(key_name: str) -> Response:
    from chalicelib.services.back_office import notify

    deps = container()
    view = notify(
        _json_body(),
        definition=deps.definition,
        notifications=deps.notification_store,
        residents=deps.residents,
        messages=deps.messages,
        outbound=deps.outbound_queue,
        registered_by=key_name,
        now=_now(),
        audit=deps.audit_trail,
    )
    return _json(notification_json(view), 202 if view.created else 200)


@api_v1.route(f"{PREFIX}/notifications/{{external_id}}", methods=["GET"], content_types=ANY_CONTENT)
@_endpoint(*READ_NOTIFICATIONS)
def get_notification(_key: str, external_id: str) -> Response:
    from chalicelib.services.back_office import notification_status

    deps = container()
    view = notification_status(
        _stored_id(external_id, "notification"),
        notifications=deps.notification_store,
        messages=deps.messages,
    )
    return _json(notification_json(view))


# --- representations (the schemas in chalicelib.http.openapi) ---------------------------------


def obligation_json(view: ObligationView) -> dict[str, Any]:
    obligation = view.obligation
    return {
        "external_id": obligation.external_id,
        "kind": obligation.kind,
        "phone": obligation.phone,
        "language": obligation.language,
        "due_date": obligation.due_date.isoformat(),
        "params": dict(obligation.params),
        "state": obligation.state.value,
        "registered_by": obligation.registered_by,
        "created_at": _time(obligation.created_at),
        "updated_at": _time(obligation.updated_at),
        "reminders": [
            {
                "id": item.reminder.id,
                "offset_days": item.reminder.offset_days,
                "send_at": _time(item.reminder.send_at),
                "expires_at": _time(item.reminder.expires_at),
                "message_id": item.reminder.message_id,
                **_delivery_json(item.delivery),
            }
            for item in view.reminders
        ],
    }


def notification_json(view: NotificationView) -> dict[str, Any]:
    notification = view.notification
    return {
        "external_id": notification.external_id,
        "kind": notification.kind,
        "phone": notification.phone,
        "language": notification.language,
        "params": dict(notification.params),
        "send_at": _time(notification.send_at),
        "message_id": notification.message_id,
        "registered_by": notification.registered_by,
        "created_at": _time(notification.created_at),
        **_delivery_json(view.delivery),
    }


def _delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "status": delivery.status,
        "reason": delivery.reason,
        "error_code": delivery.error_code,
        "status_at": _time(delivery.at) if delivery.at else None,
    }


def _time(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return moment.isoformat()
