"""The OpenAPI 3.1 document of `/api/v1`, as data, served at `/api/v1/openapi.json`.

It is built from the municipality's configuration, so the kinds, languages and template
parameters it lists are the ones this deployment accepts, and from the limits in
`services.back_office_input`, which are the ones the code enforces. tests/app runs schemathesis
against it through the real app: a route and its description cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.domain.api_keys import SCOPES
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.services import back_office_input as limits

VERSION = "1.0.0"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*types, "null"]}


_DATE_TIME: Schema = {"type": "string", "format": "date-time"}
_EXTERNAL_ID: Schema = {
    "type": "string",
    "pattern": limits.EXTERNAL_ID_PATTERN,
    "maxLength": limits.MAX_EXTERNAL_ID_LENGTH,
    "description": "Your system's own id. Registering the same id again updates it.",
    "examples": ["LIC-2026-000123"],
}
_PHONE: Schema = {
    "type": "string",
    "format": "phone",
    "minLength": 1,
    "maxLength": limits.MAX_PHONE_LENGTH,
    "description": "The resident's mobile number, with or without the country code (without "
    "it, it is read as a number of the municipality's default region). Stored in E.164.",
    "examples": ["+351 912 345 678"],
}


def _language(definition: MunicipalityDefinition) -> Schema:
    return {
        "type": ["string", "null"],
        "enum": [*definition.languages, None],
        "description": "The template's language, one of the municipality's. Left out: the "
        "resident's language when the template is approved in it, else the municipality's "
        "default language. Given: the template must be approved in it (422 otherwise).",
    }


_PARAM_VALUE: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": limits.MAX_PARAM_LENGTH,
    "pattern": r"^[^\n\r\t]*$",
    "description": "Not blank; no new lines, tabs or more than four spaces in a row "
    "(WhatsApp refuses them in template parameters).",
}


def _params(description: str) -> Schema:
    return {
        "type": ["object", "null"],
        "maxProperties": limits.MAX_PARAMS,
        "propertyNames": {"pattern": limits.PARAM_NAME_PATTERN},
        "additionalProperties": _PARAM_VALUE,
        "description": description,
    }


def _required_params(kinds: dict[str, tuple[str, ...]]) -> list[Schema]:
    """`if kind is X then params must have X's template parameters` — one rule per kind."""
    rules = []
    for kind, params in kinds.items():
        needed = [name for name in params if name not in limits.RESERVED_PARAMS]
        if needed:
            rules.append(
                {
                    "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                    "then": {
                        "required": ["params"],
                        "properties": {"params": {"type": "object", "required": needed}},
                    },
                }
            )
    return rules


def _schemas(definition: MunicipalityDefinition) -> dict[str, Schema]:
    reminder_kinds = dict(definition.reminders.kinds) if definition.reminders else {}
    notification_kinds = dict(definition.notifications)
    field_error = {
        "type": "object",
        "required": ["field", "code", "reason"],
        "additionalProperties": False,
        "properties": {
            "field": {
                "type": "string",
                "description": "body, header, row, phone, params.renewal_url, …",
            },
            "code": {
                "type": "string",
                "description": "missing, invalid, unknown_field, invalid_phone, unknown_kind, "
                "unsupported_language, template_not_approved, missing_parameter, blank, "
                "invalid_parameter, parameter_count, invalid_tag, reserved, out_of_range, duplicate, too_many_rows, not_saved",
            },
            "reason": {"type": "string"},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
            "errors": {
                "type": "array",
                "items": _ref("FieldError"),
                "description": "Every problem found, the first of which is `error`.",
            },
        },
    }
    delivery = {
        "status": {
            "type": "string",
            "enum": ["scheduled", "queued", "sent", "delivered", "read", "failed", "skipped"],
        },
        "reason": {
            "type": ["string", "null"],
            "description": "failed: WhatsApp's error; skipped: opted_out, expired, superseded, "
            "cancelled, renewed, …",
        },
        "error_code": {"type": ["integer", "null"], "description": "WhatsApp's error code"},
        "status_at": _nullable(_DATE_TIME),
    }
    reminder = {
        "type": "object",
        "required": [
            "id",
            "offset_days",
            "send_at",
            "expires_at",
            "message_id",
            *delivery,
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "offset_days": {"type": "integer", "description": "-42: six weeks before"},
            "send_at": _DATE_TIME,
            "expires_at": {**_DATE_TIME, "description": "never sent after this"},
            "message_id": {"type": ["string", "null"]},
            **delivery,
        },
    }
    obligation_input = {
        "type": "object",
        "description": "The external id is the path's. (A body may repeat it as `external_id` "
        "when it is the same, so one object serves here and in a bulk upload.)",
        "required": ["phone", "kind", "due_date"],
        "additionalProperties": False,
        "properties": {
            "phone": _PHONE,
            "kind": {
                "type": "string",
                "enum": list(reminder_kinds),
                "description": "A reminder kind of the municipality's configuration.",
            },
            "due_date": {
                "type": "string",
                "pattern": limits.DUE_DATE_PATTERN,
                "description": f"A date, YYYY-MM-DD, from {limits.EARLIEST_DUE_DATE} "
                f"to {limits.LATEST_DUE_DATE}.",
            },
            "language": _language(definition),
            "params": _params(
                "The template's parameters. Each kind needs its own (see the rules below); "
                "`due_date` comes from the obligation."
            ),
        },
        "allOf": _required_params({k: r.params for k, r in reminder_kinds.items()}),
    }
    bulk_row = {
        **obligation_input,
        "required": ["external_id", *obligation_input["required"]],
        "properties": {"external_id": _EXTERNAL_ID, **obligation_input["properties"]},
    }
    obligation = {
        "type": "object",
        "required": [
            "external_id",
            "kind",
            "phone",
            "language",
            "due_date",
            "params",
            "state",
            "registered_by",
            "created_at",
            "updated_at",
            "reminders",
        ],
        "additionalProperties": False,
        "properties": {
            "external_id": {"type": "string"},
            "kind": {"type": "string"},
            "phone": {"type": "string", "description": "E.164"},
            "language": {"type": "string"},
            "due_date": {"type": "string", "format": "date"},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
            "state": {"type": "string", "enum": ["active", "cancelled", "renewed"]},
            "registered_by": {"type": "string", "description": "the API key's name"},
            "created_at": _DATE_TIME,
            "updated_at": _DATE_TIME,
            "reminders": {"type": "array", "items": _ref("Reminder")},
        },
    }
    notification_input = {
        "type": "object",
        "required": ["external_id", "phone", "kind"],
        "additionalProperties": False,
        "properties": {
            "external_id": _EXTERNAL_ID,
            "phone": _PHONE,
            "kind": {
                "type": "string",
                "enum": list(notification_kinds),
                "description": "A notification kind of the municipality's configuration.",
            },
            "language": _language(definition),
            "params": _params("The template's parameters."),
            "send_at": {
                **_nullable(_DATE_TIME),
                "pattern": limits.DATE_TIME_PATTERN,
                "description": "When to send it (at most a year ahead). Left out or past: now. "
                "Outside the send window: at its next opening.",
            },
        },
        "allOf": _required_params({k: n.params for k, n in notification_kinds.items()}),
    }
    notification = {
        "type": "object",
        "required": [
            "external_id",
            "kind",
            "phone",
            "language",
            "params",
            "send_at",
            "message_id",
            "registered_by",
            "created_at",
            *delivery,
        ],
        "additionalProperties": False,
        "properties": {
            "external_id": {"type": "string"},
            "kind": {"type": "string"},
            "phone": {"type": "string", "description": "E.164"},
            "language": {"type": "string"},
            "params": {"type": "object", "additionalProperties": {"type": "string"}},
            "send_at": _DATE_TIME,
            "message_id": {"type": ["string", "null"]},
            "registered_by": {"type": "string"},
            "created_at": _DATE_TIME,
            **delivery,
        },
    }
    bulk_result = {
        "type": "object",
        "required": ["accepted", "created", "updated", "unchanged", "rejected"],
        "additionalProperties": False,
        "properties": {
            "accepted": {"type": "integer", "minimum": 0, "description": "saved rows"},
            "created": {"type": "integer", "minimum": 0},
            "updated": {"type": "integer", "minimum": 0},
            "unchanged": {"type": "integer", "minimum": 0},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["row", "external_id", "errors"],
                    "additionalProperties": False,
                    "properties": {
                        "row": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "counted from 1; a CSV header is not counted",
                        },
                        "external_id": {"type": ["string", "null"]},
                        "errors": {"type": "array", "items": _ref("FieldError")},
                    },
                },
            },
        },
    }
    return {
        "FieldError": field_error,
        "Error": error,
        "Reminder": reminder,
        "ObligationInput": obligation_input,
        "BulkObligation": bulk_row,
        "Obligation": obligation,
        "NotificationInput": notification_input,
        "Notification": notification,
        "BulkResult": bulk_result,
    }


def _json_response(
    description: str, schema: str, headers: Schema | None = None, links: Schema | None = None
) -> Schema:
    response: Schema = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return response


def _links(operation_ids: tuple[str, ...], parameter: str) -> Schema:
    """What a client (or a fuzzer) can do next with the id in this response."""
    return {
        operation_id[0].upper() + operation_id[1:]: {
            "operationId": operation_id,
            "parameters": {parameter: f"$response.body#/{parameter}"},
        }
        for operation_id in operation_ids
    }


_ERRORS = {
    400: "Malformed: not JSON, a missing or unknown field, a wrong type or format.",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key lacks the scope this needs.",
    404: "No such external id.",
    422: "Well-formed but not acceptable: an invalid phone number, an unknown kind, a language "
    "the template is not approved in, a missing template parameter.",
}


def _operation(
    summary: str,
    operation_id: str,
    scopes: Sequence[str],
    responses: dict[int, Schema],
    errors: list[int],
    *,
    description: str = "",
    body: Schema | None = None,
    path_id: bool = False,
) -> Schema:
    operation: Schema = {
        "summary": summary,
        "operationId": operation_id,
        "security": [{"bearerAuth": []}],
        "description": (description + "\n\n" if description else "")
        + "Needs the scope "
        + " or ".join(f"`{scope}`" for scope in scopes)
        + ".",
        "responses": {
            **{str(code): response for code, response in responses.items()},
            **{str(code): _json_response(_ERRORS[code], "Error") for code in errors},
        },
    }
    if path_id:
        operation["parameters"] = [
            {"name": "external_id", "in": "path", "required": True, "schema": _EXTERNAL_ID}
        ]
    if body is not None:
        operation["requestBody"] = body
    return operation


def openapi_document(definition: MunicipalityDefinition) -> Schema:
    from chalicelib.http.api_v1 import (
        READ_NOTIFICATIONS,
        READ_OBLIGATIONS,
        WRITE_NOTIFICATIONS,
        WRITE_REMINDERS,
    )

    obligation_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("ObligationInput")}},
    }
    obligation_view = _json_response("The obligation and its reminders", "Obligation")
    bulk_body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "maxItems": limits.MAX_BULK_ROWS,
                    "items": {
                        "description": "An obligation, as BulkObligation. Rows are checked "
                        "one by one: a bad row is reported in `rejected`, and the good ones "
                        "are saved all the same."
                    },
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A header row — external_id, phone, kind, due_date, "
                    "language (optional), then one column per template parameter — and one "
                    "row per obligation. Empty cells are left out. Separated by ',' or ';'.",
                },
                "example": "external_id,phone,kind,due_date,language,name,renewal_url\n"
                "LIC-1,+351912345678,driving_licence,2027-03-01,pt,Ana,https://example.org/r\n",
            },
        },
    }
    notification_body = {
        "required": True,
        "content": {"application/json": {"schema": _ref("NotificationInput")}},
    }
    created_location = {
        "Location": {"description": "the obligation's URL", "schema": {"type": "string"}}
    }
    obligation_links = _links(
        ("getObligation", "cancelObligation", "markObligationRenewed"), "external_id"
    )
    notification_links = _links(("getNotification",), "external_id")
    paths = {
        "/api/v1/obligations/{external_id}": {
            "put": _operation(
                "Register or update an obligation",
                "putObligation",
                WRITE_REMINDERS,
                {
                    201: _json_response(
                        "Registered", "Obligation", created_location, obligation_links
                    ),
                    200: _json_response(
                        "Updated (reminders planned again) or unchanged",
                        "Obligation",
                        links=obligation_links,
                    ),
                },
                [400, 401, 403, 422],
                description="Idempotent: the same body again changes nothing. A new due date, "
                "kind, phone, language or parameters plans the reminders again; a reminder "
                "already sent for the same due date is not sent again. Registering a "
                "cancelled or renewed obligation makes it active again.",
                body=obligation_body,
                path_id=True,
            ),
            "get": _operation(
                "An obligation and the delivery status of each reminder",
                "getObligation",
                READ_OBLIGATIONS,
                {200: obligation_view},
                [401, 403, 404],
                path_id=True,
            ),
        },
        "/api/v1/obligations/{external_id}/cancel": {
            "post": _operation(
                "Cancel an obligation: its pending reminders are skipped (reason cancelled)",
                "cancelObligation",
                WRITE_REMINDERS,
                {200: obligation_view},
                [401, 403, 404],
                description="Idempotent. No body is needed.",
                path_id=True,
            )
        },
        "/api/v1/obligations/{external_id}/renewed": {
            "post": _operation(
                "Mark an obligation renewed: its pending reminders are skipped (reason renewed)",
                "markObligationRenewed",
                WRITE_REMINDERS,
                {200: obligation_view},
                [401, 403, 404],
                description="Idempotent. No body is needed. To remind about the next due "
                "date, register the obligation again with it.",
                path_id=True,
            )
        },
        "/api/v1/obligations:bulk": {
            "post": _operation(
                "Register or update many obligations (JSON array or CSV)",
                "bulkObligations",
                WRITE_REMINDERS,
                {200: _json_response("What was saved and what was not, row by row", "BulkResult")},
                [400, 401, 403],
                description=f"Up to {limits.MAX_BULK_ROWS} rows. Good rows are saved even when "
                "others are rejected; each rejected row lists all its problems. An external "
                "id given twice is taken from its first row.",
                body=bulk_body,
            )
        },
        "/api/v1/notifications": {
            "post": _operation(
                "Send a one-off notification (document ready, payment receipt)",
                "postNotification",
                WRITE_NOTIFICATIONS,
                {
                    202: _json_response(
                        "Accepted: queued now, or scheduled",
                        "Notification",
                        links=notification_links,
                    ),
                    200: _json_response(
                        "This external id was accepted before: that notification, unchanged",
                        "Notification",
                        links=notification_links,
                    ),
                },
                [400, 401, 403, 422],
                description="Sent within the municipality's send window only (never at night). "
                "Idempotent on external_id: the same id again sends nothing and returns the "
                "notification accepted first.",
                body=notification_body,
            )
        },
        "/api/v1/notifications/{external_id}": {
            "get": _operation(
                "A notification and its delivery status",
                "getNotification",
                READ_NOTIFICATIONS,
                {200: _json_response("The notification", "Notification")},
                [401, 403, 404],
                path_id=True,
            )
        },
    }
    from chalicelib.http import openapi_broadcasts

    paths.update(openapi_broadcasts.paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"civicchat back-office API — {definition.name}",
            "version": VERSION,
            "description": "Register residents' due dates (licences, visas, taxes) for WhatsApp "
            "reminders, send one-off notifications, and read what was delivered. Every "
            "message is an approved WhatsApp template, sent inside the send window, never to "
            "residents who opted out. Authenticate with `Authorization: Bearer <API key>` "
            "(an operator creates keys with `civicchat apikey create`). Scopes: "
            + ", ".join(sorted(SCOPES))
            + ".",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `civicchat apikey create`.",
                }
            },
            "schemas": {**_schemas(definition), **openapi_broadcasts.schemas(definition)},
        },
    }
