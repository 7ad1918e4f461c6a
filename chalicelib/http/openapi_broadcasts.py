"""The `/api/v1/broadcasts` part of the OpenAPI document (`chalicelib.http.openapi` adds it):
paths and schemas, built from the configuration (templates, topics, languages) and the limits
`services.broadcast_input` enforces."""

from __future__ import annotations

from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.broadcasts import TAG_PATTERN, TEMPLATE_NOT_ALLOWED, BroadcastStatus
from chalicelib.http import openapi_parts as doc
from chalicelib.http.openapi_parts import Schema
from chalicelib.services import back_office_input as limits
from chalicelib.services import broadcast_input as broadcast_limits

_COUNT: Schema = {"type": "integer", "minimum": 0}
_MONEY: Schema = {"type": "number", "minimum": 0}
_LABEL: Schema = {"type": "string", "minLength": 1, "maxLength": broadcast_limits.MAX_LABEL_LENGTH}


def _broadcast_id() -> Schema:
    from chalicelib.http.api_v1_broadcasts import BROADCAST_ID_PATTERN

    return {"type": "string", "pattern": BROADCAST_ID_PATTERN, "description": "The broadcast's id"}


def _audience_properties(definition: MunicipalityDefinition) -> dict[str, Schema]:
    topic: Schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": broadcast_limits.MAX_TOPIC_LENGTH,
    }
    if definition.topics:
        topic = {**topic, "enum": list(definition.topics)}
    language: Schema = {"type": "string", "enum": list(definition.languages)}
    return {
        "template": {
            "type": "string",
            "minLength": 1,
            "maxLength": broadcast_limits.MAX_TEMPLATE_LENGTH,
            "description": "An approved template of the configuration. Marketing templates are "
            "refused (422) unless the configuration's broadcasts.allow_marketing is true.",
            "examples": list(definition.templates)[:1],
        },
        "topic": {**topic, "description": "The residents subscribed to this topic."},
        "languages": {
            "type": ["array", "null"],
            "items": language,
            "uniqueItems": True,
            "maxItems": len(definition.languages),
            "description": "Only residents in these languages (theirs, else the default "
            "language); the template must be approved in each. Empty or left out: all.",
        },
        "tags": {
            "type": ["array", "null"],
            "items": {"type": "string", "pattern": f"^{TAG_PATTERN.pattern}$"},
            "maxItems": broadcast_limits.MAX_TAGS,
            "description": "Only residents carrying all of these tags (as residents are "
            "tagged: 1 to 32 of a-z, 0-9, _ and -).",
        },
        "custom_fields": {
            "type": ["object", "null"],
            "maxProperties": broadcast_limits.MAX_CUSTOM_FIELDS,
            "propertyNames": _LABEL,
            "additionalProperties": {
                "type": "string",
                "maxLength": broadcast_limits.MAX_LABEL_LENGTH,
            },
            "description": 'Only residents whose fields have these values, e.g. {"neighbourhood": '
            '"Centro"}.',
        },
    }


def _params(definition: MunicipalityDefinition) -> Schema:
    values: Schema = {"type": "array", "maxItems": limits.MAX_PARAMS, "items": doc.PARAM_VALUE}
    return {
        "description": "The template's body parameters, in order: one list for every language, "
        "or one list per language the broadcast may go out in. Null or left out: none.",
        "oneOf": [
            {"type": "null"},
            values,
            {
                "type": "object",
                "propertyNames": {"enum": list(definition.languages)},
                "additionalProperties": values,
            },
        ],
    }


def schemas(definition: MunicipalityDefinition) -> dict[str, Schema]:
    audience = _audience_properties(definition)
    broadcast_input = {
        "type": "object",
        "required": ["name", "template", "topic"],
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": broadcast_limits.MAX_NAME_LENGTH,
                "description": "What the town hall calls it (never shown to residents).",
            },
            **audience,
            "params": _params(definition),
            "send_at": {
                **doc.nullable(doc.DATE_TIME),
                "pattern": limits.DATE_TIME_PATTERN,
                "description": "When to start (at most a year ahead). Left out, null or past: now.",
            },
        },
    }
    preview_input = {
        "type": "object",
        "required": ["template", "topic"],
        "additionalProperties": False,
        "properties": {
            **audience,
            **{
                name: {"description": "Accepted and ignored: a form may send the same object."}
                for name in ("name", "params", "send_at")
            },
        },
    }
    preview = {
        "type": "object",
        "required": [
            "audience",
            "by_language",
            "category",
            "price_per_message",
            "currency",
            "estimated_cost",
            "daily_limit",
            "days_needed",
        ],
        "additionalProperties": False,
        "properties": {
            "audience": {**_COUNT, "description": "Residents it would reach now"},
            "by_language": {
                "type": "object",
                "additionalProperties": _COUNT,
                "description": "The audience by the language each message would go out in",
            },
            "category": {"type": "string", "enum": ["utility", "marketing", "authentication"]},
            "price_per_message": _MONEY,
            "currency": {"type": "string"},
            "estimated_cost": {**_MONEY, "description": "price_per_message × audience"},
            "daily_limit": {"type": ["integer", "null"], "description": "null: unlimited"},
            "days_needed": {**_COUNT, "description": "days the daily limit spreads it over"},
        },
    }
    counts = ("audience", "queued", "sent", "delivered", "read", "failed", "skipped")
    progress = {
        "type": "object",
        "required": list(counts),
        "additionalProperties": False,
        "description": "Messages by their furthest status (queued: not sent yet).",
        "properties": dict.fromkeys(counts, _COUNT),
    }
    report = {
        "type": ["object", "null"],
        "required": [
            "reached",
            "delivered",
            "read",
            "failed",
            "failed_by_error",
            "skipped_by_reason",
            "cost",
            "currency",
        ],
        "additionalProperties": False,
        "description": "Once every message is settled. reached ≥ delivered ≥ read; cost is "
        "delivered × the category's price.",
        "properties": {
            "reached": _COUNT,
            "delivered": _COUNT,
            "read": _COUNT,
            "failed": _COUNT,
            "failed_by_error": {"type": "object", "additionalProperties": _COUNT},
            "skipped_by_reason": {"type": "object", "additionalProperties": _COUNT},
            "cost": _MONEY,
            "currency": {"type": "string"},
        },
    }
    broadcast = {
        "type": "object",
        "required": [
            "id",
            "name",
            "template",
            "category",
            "params",
            "segment",
            "status",
            "send_at",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "cancelled_by",
            "cancel_reason",
            "estimate",
            "progress",
            "report",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "template": {"type": "string"},
            "category": {"type": "string"},
            "params": {
                "type": ["array", "object"],
                "items": {"type": "string"},
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "segment": {
                "type": "object",
                "required": ["topic", "languages", "tags", "custom_fields"],
                "additionalProperties": False,
                "properties": {
                    "topic": {"type": "string"},
                    "languages": {"type": "array", "items": {"type": "string"}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "custom_fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                    },
                },
            },
            "status": {
                "type": "string",
                "enum": [status.value for status in BroadcastStatus],
            },
            "send_at": doc.DATE_TIME,
            "created_by": {"type": "string", "description": "apikey:<name> or agent:<id>"},
            "created_at": doc.DATE_TIME,
            "started_at": doc.nullable(doc.DATE_TIME),
            "finished_at": doc.nullable(doc.DATE_TIME),
            "cancelled_by": {
                "type": ["string", "null"],
                "description": "Who cancelled it: apikey:<name>, agent:<id>, or "
                "system:run_broadcasts (its template may not be sent any more).",
            },
            "cancel_reason": {
                "type": ["string", "null"],
                "enum": [TEMPLATE_NOT_ALLOWED, None],
                "description": "Why the job cancelled it; null when a person did.",
            },
            "estimate": {
                "type": "object",
                "required": ["audience", "estimated_cost", "currency"],
                "additionalProperties": False,
                "properties": {
                    "audience": _COUNT,
                    "estimated_cost": _MONEY,
                    "currency": {"type": "string"},
                },
            },
            "progress": progress,
            "report": report,
        },
    }
    return {
        "BroadcastInput": broadcast_input,
        "BroadcastPreviewInput": preview_input,
        "BroadcastPreview": preview,
        "Broadcast": broadcast,
        "BroadcastList": {
            "type": "object",
            "required": ["broadcasts"],
            "additionalProperties": False,
            "properties": {"broadcasts": {"type": "array", "items": doc.ref("Broadcast")}},
        },
    }


def paths() -> dict[str, Schema]:
    from chalicelib.http.api_v1_broadcasts import READ_BROADCASTS, WRITE_BROADCASTS

    def with_id(operation: Schema) -> Schema:
        operation["parameters"] = [
            {"name": "broadcast_id", "in": "path", "required": True, "schema": _broadcast_id()}
        ]
        return operation

    links = doc.links(("getBroadcast", "cancelBroadcast"), "id")
    for link in links.values():
        link["parameters"] = {"broadcast_id": "$response.body#/id"}
    view = doc.json_response("The broadcast, its progress and (once done) its report", "Broadcast")
    conflict = doc.json_response("Completed or cancelled already", "Error")
    body = {
        "required": True,
        "content": {"application/json": {"schema": doc.ref("BroadcastInput")}},
    }
    preview_body = {
        "required": True,
        "content": {"application/json": {"schema": doc.ref("BroadcastPreviewInput")}},
    }
    cancel = with_id(
        doc.operation(
            "Cancel a broadcast: nothing more is queued; what is queued is skipped",
            "cancelBroadcast",
            WRITE_BROADCASTS,
            {200: view},
            [401, 403, 404],
            description="No body is needed.",
        )
    )
    cancel["responses"]["409"] = conflict
    return {
        "/api/v1/broadcasts": {
            "post": doc.operation(
                "Create a broadcast: now, or scheduled",
                "createBroadcast",
                WRITE_BROADCASTS,
                {
                    201: doc.json_response(
                        "Created",
                        "Broadcast",
                        {"Location": {"description": "its URL", "schema": {"type": "string"}}},
                        links,
                    )
                },
                [400, 401, 403, 422],
                description="To the residents subscribed to the topic who consented and did "
                "not opt out, narrowed by languages, tags and custom fields. Sent at the bulk "
                "priority, paced under WhatsApp's limits and the daily messaging limit "
                "(a larger audience is spread over several days).",
                body=body,
            ),
            "get": doc.operation(
                "The latest broadcasts, newest first",
                "listBroadcasts",
                READ_BROADCASTS,
                {200: doc.json_response("Up to 50 broadcasts", "BroadcastList")},
                [401, 403],
            ),
        },
        "/api/v1/broadcasts/preview": {
            "post": doc.operation(
                "Preview a broadcast: its audience and cost estimate",
                "previewBroadcast",
                WRITE_BROADCASTS,
                {200: doc.json_response("The audience and the estimate", "BroadcastPreview")},
                [400, 401, 403, 422],
                body=preview_body,
            )
        },
        "/api/v1/broadcasts/{broadcast_id}": {
            "get": with_id(
                doc.operation(
                    "A broadcast with its live progress",
                    "getBroadcast",
                    READ_BROADCASTS,
                    {200: view},
                    [401, 403, 404],
                )
            )
        },
        "/api/v1/broadcasts/{broadcast_id}/cancel": {"post": cancel},
    }
