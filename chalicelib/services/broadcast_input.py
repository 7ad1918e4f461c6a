"""A broadcast as the console and the back-office API send it (JSON), read into checked values.

Every problem is reported with the field at fault (`InputError`, as for the rest of the
back-office API): 400 for a malformed request (a wrong type, an unknown field), 422 for one
the rules refuse (an unknown template or topic, a marketing template, a language the template
is not approved in, a missing parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.bot.definition import MunicipalityDefinition, Template
from chalicelib.domain.broadcasts import (
    TAG_PATTERN,
    BroadcastRuleError,
    Params,
    Segment,
    broadcast_template,
    sendable_languages,
)
from chalicelib.domain.templates import template_parameter_count
from chalicelib.services.back_office_input import (
    MAX_PARAM_LENGTH,
    MAX_PARAMS,
    UNSENDABLE_PARAM,
    FieldReader,
    read_send_at,
)

PREVIEW_FIELDS = ("template", "topic", "languages", "tags", "custom_fields")
CREATE_FIELDS = (*PREVIEW_FIELDS, "name", "params", "send_at")
MAX_NAME_LENGTH = 100
MAX_TEMPLATE_LENGTH = 512  # Meta's template names are at most 512 characters
MAX_TOPIC_LENGTH = 64
MAX_TAGS = 20
MAX_CUSTOM_FIELDS = 10
MAX_LABEL_LENGTH = 100  # a tag, a custom field's name or value


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """What a preview needs: the template and the segment, checked."""

    template: Template
    segment: Segment


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastDraft:
    template: Template
    segment: Segment
    name: str
    params: Params
    send_at: datetime | None  # UTC; None: now


def read_audience(data: Any, definition: MunicipalityDefinition) -> Audience:
    """A preview's body. The fields of a new broadcast (name, params, send_at) are accepted
    and ignored, so a form can send one object to both."""
    reader = FieldReader(data, "a broadcast", CREATE_FIELDS)
    reader.check_body()
    audience = _audience(reader, definition)
    reader.check()
    assert audience is not None
    return audience


def read_broadcast(data: Any, definition: MunicipalityDefinition, now: datetime) -> BroadcastDraft:
    reader = FieldReader(data, "a broadcast", CREATE_FIELDS)
    reader.check_body()
    audience = _audience(reader, definition)
    name = reader.text("name", required=True, max_length=MAX_NAME_LENGTH)
    params = _params(reader, audience)
    if audience is not None and params is not None:
        _check_parameter_count(reader, definition, audience.template, params)
    send_at = read_send_at(reader, now)
    reader.check()
    assert audience is not None and name is not None and params is not None
    return BroadcastDraft(
        template=audience.template,
        segment=audience.segment,
        name=name.strip(),
        params=params,
        send_at=send_at if send_at is not None and send_at > now else None,
    )


def _audience(reader: FieldReader, definition: MunicipalityDefinition) -> Audience | None:
    template_name = reader.text("template", required=True, max_length=MAX_TEMPLATE_LENGTH)
    topic = reader.text("topic", required=True, max_length=MAX_TOPIC_LENGTH)
    languages = _texts(reader, "languages", len(definition.languages), MAX_LABEL_LENGTH)
    tags = _texts(reader, "tags", MAX_TAGS, MAX_LABEL_LENGTH)
    for i, tag in enumerate(reader.data["tags"] if tags else ()):  # as sent, unstripped
        if not TAG_PATTERN.fullmatch(tag):
            reader.error(
                f"tags[{i}]",
                "invalid_tag",
                "is not a tag: 1 to 32 of a-z, 0-9, _ and - (as residents are tagged)",
                422,
            )
    custom_fields = _custom_fields(reader)
    if definition.broadcasts is None:
        reader.error(
            "broadcasts", "not_configured", "are not configured (the config's broadcasts:)", 422
        )
    if topic is not None and topic not in definition.topics:
        known = ", ".join(definition.topics) or "none are configured"
        reader.error("topic", "unknown_topic", f"'{topic}' is not a topic ({known})", 422)
    for i, language in enumerate(languages or ()):
        if language not in definition.languages:
            reader.error(
                f"languages[{i}]", "unsupported_language", f"'{language}' is not offered", 422
            )
    if languages and len(set(languages)) != len(languages):
        reader.error("languages", "duplicate", "lists a language twice")
    template = None
    if template_name is not None:
        try:
            template = broadcast_template(definition, template_name, languages or ())
        except BroadcastRuleError as error:
            reader.error(error.field, error.code, error.reason, 422)
    if reader.errors or template is None or topic is None:
        return None
    segment = Segment(
        topic=topic,
        languages=languages or (),
        tags=tags or (),
        custom_fields=dict(custom_fields or {}),
    )
    return Audience(template=template, segment=segment)


def _texts(reader: FieldReader, name: str, most: int, longest: int) -> tuple[str, ...] | None:
    raw = reader.data.get(name)
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        reader.error(name, "invalid", "must be a list of strings")
        return None
    if len(raw) > most:
        reader.error(name, "invalid", f"has more than {most} items")
        return None
    for i, item in enumerate(raw):
        if not item.strip() or len(item) > longest:
            reader.error(f"{name}[{i}]", "invalid", f"must be 1 to {longest} characters")
            return None
    return tuple(item.strip() for item in raw)


def _custom_fields(reader: FieldReader) -> dict[str, str] | None:
    raw = reader.data.get("custom_fields")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        reader.error("custom_fields", "invalid", "must be an object of names to strings")
        return None
    if len(raw) > MAX_CUSTOM_FIELDS:
        reader.error("custom_fields", "invalid", f"has more than {MAX_CUSTOM_FIELDS} fields")
        return None
    fields: dict[str, str] = {}
    for key, value in raw.items():
        path = f"custom_fields.{key}"
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_LABEL_LENGTH:
            reader.error(path, "invalid", f"names must be 1 to {MAX_LABEL_LENGTH} characters")
        elif not isinstance(value, str) or len(value) > MAX_LABEL_LENGTH:
            reader.error(path, "invalid", f"must be a string of at most {MAX_LABEL_LENGTH}")
        else:
            fields[key] = value
    return fields


def _params(reader: FieldReader, audience: Audience | None) -> Params | None:
    """A list of strings for every language, or {language: [strings]} covering each language
    the broadcast may go out in."""
    raw = reader.data.get("params")
    if raw is None:
        raw = []
    if isinstance(raw, list):
        return _param_list(reader, raw, "params")
    if not isinstance(raw, Mapping):
        reader.error("params", "invalid", "must be a list of strings or {language: [strings]}")
        return None
    by_language: dict[str, tuple[str, ...]] = {}
    for language, values in raw.items():
        path = f"params.{language}"
        if audience is not None and language not in audience.template.languages:
            reader.error(
                path,
                "template_not_approved",
                f"'{language}': template '{audience.template.name}' is not approved in it",
                422,
            )
            continue
        if not isinstance(values, list):
            reader.error(path, "invalid", "must be a list of strings")
            continue
        checked = _param_list(reader, values, path)
        if checked is not None:
            by_language[str(language)] = checked
    if audience is not None:
        for language in sendable_languages(audience.template, audience.segment):
            if language not in raw:
                reader.error(
                    f"params.{language}",
                    "missing_parameter",
                    "is needed: the broadcast may go out in this language",
                    422,
                )
    return by_language


def _check_parameter_count(
    reader: FieldReader, definition: MunicipalityDefinition, template: Template, params: Params
) -> None:
    """Each language's parameters number what the template takes, when the config tells
    (domain.templates); WhatsApp refuses every message of a template sent with too few or
    too many."""
    expected = template_parameter_count(definition, template.name)
    if expected is None:
        return
    lists = (
        {"params": params}
        if isinstance(params, tuple)
        else {f"params.{language}": values for language, values in params.items()}
    )
    for path, values in lists.items():
        if len(values) != expected:
            reader.error(
                path,
                "parameter_count",
                f"has {len(values)} parameters: template '{template.name}' takes {expected}",
                422,
            )


def _param_list(reader: FieldReader, values: list[Any], path: str) -> tuple[str, ...] | None:
    if len(values) > MAX_PARAMS:
        reader.error(path, "invalid", f"has more than {MAX_PARAMS} parameters")
        return None
    checked = []
    for i, value in enumerate(values):
        where = f"{path}[{i}]"
        if not isinstance(value, str):
            reader.error(where, "invalid", "must be a string")
        elif len(value) > MAX_PARAM_LENGTH:
            reader.error(where, "invalid", f"is longer than {MAX_PARAM_LENGTH} characters")
        elif not value.strip():
            reader.error(where, "blank", "is blank: WhatsApp refuses empty parameters", 422)
        elif UNSENDABLE_PARAM.search(value):
            reader.error(
                where,
                "invalid_parameter",
                "contains a new line, a tab or more than four spaces in a row, which WhatsApp "
                "refuses in template parameters",
                422,
            )
        else:
            checked.append(value)
    return tuple(checked)
