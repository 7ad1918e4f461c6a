"""Strict validation of `POST /{version}/{phone_number_id}/messages` bodies (facts §4).

One rule of thumb decides the code, so a client author can predict it:
- 131008 — a required parameter is absent (or null);
- 100 — an unexpected or misspelled key, an unsupported type, or a length/count outside its
  bounds (Meta: "unsupported/misspelled parameter, or length exceeded");
- 131009 — a value of the wrong JSON type, outside its enum, duplicated, or malformed;
- 132001 — a template that is not approved in that language.

Details name the offending parameter the way Meta does, e.g. `interactive['action']['button']`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.simulator.errors import GraphError

TEXT_BODY_MAX = 4096
CAPTION_MAX = 1024
BUTTONS_BODY_MAX = 1024
LIST_BODY_MAX = 4096  # the 2026 list page; OAS says 1024 (facts §4.3, unverified)
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
REPLY_BUTTONS_MAX = 3
REPLY_BUTTON_TITLE_MAX = 20
REPLY_BUTTON_ID_MAX = 256
LIST_BUTTON_LABEL_MAX = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
CONTACT_CARDS_MAX = 5
BIZ_OPAQUE_CALLBACK_DATA_MAX = 512
TEMPLATE_TEXT_PARAMETER_MAX = 32768
E164_DIGITS_MAX = 15

_PHONE_PUNCTUATION = re.compile(r"[\s+\-().]")
_BSUID = re.compile(r"[A-Z]{2}(?:\.ENT)?\.[A-Za-z0-9]{1,128}")
_MEDIA_ID = re.compile(r"[0-9]{1,30}")


class TemplateCatalog:
    """Approved templates: name → language codes. As at Meta, a send must carry exactly a code
    the template is approved under: `pt` is not `pt_PT` (Meta has no bare `pt`), `en` is not
    `en_US`, and two regional variants (`en_GB`, `en_US`) are different translations."""

    def __init__(self, approved: Mapping[str, Collection[str]]) -> None:
        self._approved = {name: frozenset(codes) for name, codes in approved.items()}

    def as_mapping(self) -> dict[str, list[str]]:
        return {name: sorted(codes) for name, codes in self._approved.items()}

    def is_approved(self, name: str, language_code: str) -> bool:
        return language_code in self._approved.get(name, ())


@dataclass(frozen=True, slots=True)
class ValidationContext:
    templates: TemplateCatalog
    media_exists: Callable[[str], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """A send request that passed validation."""

    recipient_input: str  # `to` (or `recipient`) exactly as given, echoed as contacts[].input
    recipient: str  # wa_id digits, or the BSUID when addressed by `recipient`
    addressed_by_user_id: bool
    message_type: str
    body: Mapping[str, Any] = field(repr=False)
    context_wamid: str | None = None
    biz_opaque_callback_data: str | None = None

    @property
    def is_template(self) -> bool:
        return self.message_type == "template"


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkRead:
    message_id: str
    show_typing: bool


# ---- error helpers -------------------------------------------------------------------------


def _missing(path: str) -> GraphError:
    return GraphError(131008, f"The parameter {path} is required.")


def _unexpected(key: str, path: str) -> GraphError:
    where = f' on param "{path}"' if path else ""
    return GraphError(100, f'Unexpected key "{key}"{where}.')


def _invalid(path: str, why: str) -> GraphError:
    return GraphError(131009, f"Param {path} {why}.")


def _bounds(path: str, why: str) -> GraphError:
    return GraphError(100, f"Param {path} {why}.")


def _child(path: str, key: str | int) -> str:
    if not path:
        return str(key)
    return f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]"


# ---- primitive checks ----------------------------------------------------------------------


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(path, "must be a JSON object")
    return value


def _only_keys(obj: Mapping[str, Any], allowed: Collection[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _unexpected(key, path)


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise _missing(_child(path, key))
    return value


def _string(value: Any, path: str, *, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise _invalid(path, "must be a string")
    if len(value) < min_len:
        raise _bounds(path, f"must be at least {min_len} characters long")
    if len(value) > max_len:
        raise _bounds(path, f"must be at most {max_len} characters long")
    return value


def _optional_string(
    obj: Mapping[str, Any], key: str, path: str, *, max_len: int, min_len: int = 1
) -> str | None:
    if obj.get(key) is None:
        return None
    return _string(obj[key], _child(path, key), max_len=max_len, min_len=min_len)


def _array(value: Any, path: str, *, min_items: int, max_items: int) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _invalid(path, "must be an array")
    if len(value) < min_items:
        raise _bounds(path, f"must have at least {min_items} elements")
    if len(value) > max_items:
        raise _bounds(path, f"must have at most {max_items} elements")
    return value


def _boolean(obj: Mapping[str, Any], key: str, path: str) -> None:
    if key in obj and not isinstance(obj[key], bool):
        raise _invalid(_child(path, key), "must be a boolean")


def _one_of(value: Any, allowed: Collection[str], path: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _invalid(path, f"must be one of {{{', '.join(sorted(allowed))}}}")
    return value


def _number(value: Any, path: str, *, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise _invalid(path, "must be a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _invalid(path, "must be a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(path, "must be a number")
    if not low <= value <= high:
        raise _invalid(path, f"must be between {low:g} and {high:g}")
    return float(value)


# ---- message content -----------------------------------------------------------------------


def _validate_text(content: Mapping[str, Any], path: str, _: ValidationContext) -> None:
    _only_keys(content, ("body", "preview_url"), path)
    _string(_required(content, "body", path), _child(path, "body"), max_len=TEXT_BODY_MAX)
    _boolean(content, "preview_url", path)


def _validate_media_reference(
    media: Mapping[str, Any], path: str, context: ValidationContext, kind: str
) -> None:
    has_id, has_link = media.get("id") is not None, media.get("link") is not None
    if not has_id and not has_link:
        raise _missing(f"{path}['id'] or {path}['link']")
    if has_id and has_link:
        raise _invalid(path, "must contain exactly one of id or link")
    if has_id:
        media_id = media["id"]
        if not isinstance(media_id, str) or not _MEDIA_ID.fullmatch(media_id):
            raise _invalid(_child(path, "id"), "must be a numeric string media id")
        if not context.media_exists(media_id):
            raise GraphError(
                100, f"Param {kind}['id'] is not a valid whatsapp business account media id."
            )
    else:
        link = _string(media["link"], _child(path, "link"), max_len=2048)
        if not link.startswith(("http://", "https://")):
            raise _invalid(_child(path, "link"), "must be an http(s) URL")


_MEDIA_KEYS: dict[str, tuple[str, ...]] = {
    "image": ("id", "link", "caption"),
    "video": ("id", "link", "caption"),
    "document": ("id", "link", "caption", "filename"),
    "audio": ("id", "link"),
    "sticker": ("id", "link"),
}


def _media_validator(kind: str) -> Callable[[Mapping[str, Any], str, ValidationContext], None]:
    def validate(content: Mapping[str, Any], path: str, context: ValidationContext) -> None:
        _only_keys(content, _MEDIA_KEYS[kind], path)
        _validate_media_reference(content, path, context, kind)
        _optional_string(content, "caption", path, max_len=CAPTION_MAX, min_len=0)
        _optional_string(content, "filename", path, max_len=240)

    return validate


def _validate_location(content: Mapping[str, Any], path: str, _: ValidationContext) -> None:
    _only_keys(content, ("latitude", "longitude", "name", "address"), path)
    _number(_required(content, "latitude", path), _child(path, "latitude"), low=-90, high=90)
    _number(_required(content, "longitude", path), _child(path, "longitude"), low=-180, high=180)
    _optional_string(content, "name", path, max_len=1000, min_len=0)
    _optional_string(content, "address", path, max_len=1000, min_len=0)


def _validate_reaction(content: Mapping[str, Any], path: str, _: ValidationContext) -> None:
    _only_keys(content, ("message_id", "emoji"), path)
    _string(_required(content, "message_id", path), _child(path, "message_id"), max_len=512)
    if "emoji" not in content:
        raise _missing(_child(path, "emoji"))
    _string(content["emoji"], _child(path, "emoji"), max_len=16, min_len=0)


def _validate_contacts(content: Any, path: str, _: ValidationContext) -> None:
    cards = _array(content, path, min_items=1, max_items=CONTACT_CARDS_MAX)
    for index, card in enumerate(cards):
        card_path = _child(path, index)
        name = _object(_required(_object(card, card_path), "name", card_path), card_path)
        name_path = _child(card_path, "name")
        _string(
            _required(name, "formatted_name", name_path),
            _child(name_path, "formatted_name"),
            max_len=1000,
        )


# ---- templates -----------------------------------------------------------------------------

_TEMPLATE_COMPONENT_TYPES = ("header", "body", "button")
_TEMPLATE_PARAMETER_TYPES = (
    "text",
    "currency",
    "date_time",
    "image",
    "video",
    "document",
    "payload",
    "location",
)
_TEMPLATE_BUTTON_SUB_TYPES = ("quick_reply", "url", "catalog", "copy_code", "flow")


def _validate_template_parameter(parameter: Any, path: str) -> None:
    parameter = _object(parameter, path)
    kind = _one_of(_required(parameter, "type", path), _TEMPLATE_PARAMETER_TYPES, f"{path}['type']")
    if kind not in parameter:
        raise _missing(_child(path, kind))
    if kind in ("text", "payload"):
        _string(parameter[kind], _child(path, kind), max_len=TEMPLATE_TEXT_PARAMETER_MAX)


def _validate_template_component(component: Any, path: str) -> None:
    component = _object(component, path)
    _only_keys(component, ("type", "sub_type", "index", "parameters"), path)
    kind = _one_of(
        _required(component, "type", path), _TEMPLATE_COMPONENT_TYPES, _child(path, "type")
    )
    if kind == "button":
        _one_of(
            _required(component, "sub_type", path),
            _TEMPLATE_BUTTON_SUB_TYPES,
            _child(path, "sub_type"),
        )
        index = _required(component, "index", path)
        if not (isinstance(index, int | str) and str(index).isdigit()):
            raise _invalid(_child(path, "index"), "must be a numeric string")
    parameters = component.get("parameters")
    if parameters is not None:
        items = _array(parameters, _child(path, "parameters"), min_items=0, max_items=100)
        for index, parameter in enumerate(items):
            _validate_template_parameter(parameter, _child(_child(path, "parameters"), index))


def _validate_template(content: Mapping[str, Any], path: str, context: ValidationContext) -> None:
    _only_keys(content, ("name", "language", "components", "namespace"), path)
    name = _string(_required(content, "name", path), _child(path, "name"), max_len=512)
    language_path = _child(path, "language")
    language = _object(_required(content, "language", path), language_path)
    _only_keys(language, ("code", "policy"), language_path)
    code = _string(
        _required(language, "code", language_path), _child(language_path, "code"), max_len=16
    )
    if language.get("policy") is not None:
        _one_of(language["policy"], ("deterministic",), _child(language_path, "policy"))
    components = content.get("components")
    if components is not None:
        components_path = _child(path, "components")
        items = _array(components, components_path, min_items=0, max_items=50)
        for index, component in enumerate(items):
            _validate_template_component(component, _child(components_path, index))
    if not context.templates.is_approved(name, code):
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")


# ---- interactive ---------------------------------------------------------------------------


def _validate_text_part(
    interactive: Mapping[str, Any], key: str, path: str, *, max_len: int, required: bool
) -> None:
    if interactive.get(key) is None:
        if required:
            raise _missing(_child(path, key))
        return
    part_path = _child(path, key)
    part = _object(interactive[key], part_path)
    _only_keys(part, ("text",), part_path)
    _string(_required(part, "text", part_path), _child(part_path, "text"), max_len=max_len)


def _validate_header(
    header: Any, path: str, context: ValidationContext, allowed: Collection[str]
) -> None:
    header = _object(header, path)
    kind = _one_of(_required(header, "type", path), allowed, _child(path, "type"))
    _only_keys(header, ("type", kind), path)
    if kind == "text":
        _string(_required(header, "text", path), _child(path, "text"), max_len=HEADER_TEXT_MAX)
        return
    media_path = _child(path, kind)
    media = _object(_required(header, kind, path), media_path)
    _only_keys(media, ("id", "link", "filename"), media_path)
    _validate_media_reference(media, media_path, context, kind)


def _validate_unique(values: Sequence[str], path: str, what: str) -> None:
    if len(set(values)) != len(values):
        raise _invalid(path, f"must have unique {what}")


def _validate_reply_buttons(
    interactive: Mapping[str, Any], path: str, context: ValidationContext
) -> None:
    _validate_text_part(interactive, "body", path, max_len=BUTTONS_BODY_MAX, required=True)
    if interactive.get("header") is not None:
        _validate_header(
            interactive["header"],
            _child(path, "header"),
            context,
            ("text", "image", "video", "document"),
        )
    action_path = _child(path, "action")
    action = _object(_required(interactive, "action", path), action_path)
    _only_keys(action, ("buttons",), action_path)
    buttons_path = _child(action_path, "buttons")
    buttons = _array(
        _required(action, "buttons", action_path),
        buttons_path,
        min_items=1,
        max_items=REPLY_BUTTONS_MAX,
    )
    ids: list[str] = []
    titles: list[str] = []
    for index, button in enumerate(buttons):
        button_path = _child(buttons_path, index)
        button = _object(button, button_path)
        _only_keys(button, ("type", "reply"), button_path)
        _one_of(_required(button, "type", button_path), ("reply",), _child(button_path, "type"))
        reply_path = _child(button_path, "reply")
        reply = _object(_required(button, "reply", button_path), reply_path)
        _only_keys(reply, ("id", "title"), reply_path)
        button_id = _string(
            _required(reply, "id", reply_path),
            _child(reply_path, "id"),
            max_len=REPLY_BUTTON_ID_MAX,
        )
        if button_id != button_id.strip():
            raise _invalid(_child(reply_path, "id"), "must not have leading or trailing spaces")
        title = _string(
            _required(reply, "title", reply_path),
            _child(reply_path, "title"),
            max_len=REPLY_BUTTON_TITLE_MAX,
        )
        if not title.strip():
            raise _invalid(_child(reply_path, "title"), "must not be blank")
        ids.append(button_id)
        titles.append(title)
    _validate_unique(ids, buttons_path, "ids")
    _validate_unique(titles, buttons_path, "titles")


def _validate_list(interactive: Mapping[str, Any], path: str, context: ValidationContext) -> None:
    _validate_text_part(interactive, "body", path, max_len=LIST_BODY_MAX, required=True)
    if interactive.get("header") is not None:
        _validate_header(interactive["header"], _child(path, "header"), context, ("text",))
    action_path = _child(path, "action")
    action = _object(_required(interactive, "action", path), action_path)
    _only_keys(action, ("button", "sections"), action_path)
    _string(
        _required(action, "button", action_path),
        _child(action_path, "button"),
        max_len=LIST_BUTTON_LABEL_MAX,
    )
    sections_path = _child(action_path, "sections")
    sections = _array(
        _required(action, "sections", action_path),
        sections_path,
        min_items=1,
        max_items=LIST_SECTIONS_MAX,
    )
    row_ids: list[str] = []
    for section_index, section in enumerate(sections):
        section_path = _child(sections_path, section_index)
        section = _object(section, section_path)
        _only_keys(section, ("title", "rows"), section_path)
        if len(sections) > 1 and section.get("title") is None:
            raise _missing(_child(section_path, "title"))
        _optional_string(section, "title", section_path, max_len=SECTION_TITLE_MAX)
        rows_path = _child(section_path, "rows")
        rows = _array(
            _required(section, "rows", section_path),
            rows_path,
            min_items=1,
            max_items=LIST_ROWS_MAX,
        )
        for row_index, row in enumerate(rows):
            row_path = _child(rows_path, row_index)
            row = _object(row, row_path)
            _only_keys(row, ("id", "title", "description"), row_path)
            row_ids.append(
                _string(_required(row, "id", row_path), _child(row_path, "id"), max_len=ROW_ID_MAX)
            )
            _string(
                _required(row, "title", row_path), _child(row_path, "title"), max_len=ROW_TITLE_MAX
            )
            _optional_string(row, "description", row_path, max_len=ROW_DESCRIPTION_MAX, min_len=0)
    if len(row_ids) > LIST_ROWS_MAX:
        raise _bounds(sections_path, f"must have at most {LIST_ROWS_MAX} rows in total")
    _validate_unique(row_ids, sections_path, "row ids")


_INTERACTIVE_VALIDATORS: dict[str, Callable[[Mapping[str, Any], str, ValidationContext], None]] = {
    "button": _validate_reply_buttons,
    "list": _validate_list,
}


def _validate_interactive(
    content: Mapping[str, Any], path: str, context: ValidationContext
) -> None:
    _only_keys(content, ("type", "header", "body", "footer", "action"), path)
    kind = _required(content, "type", path)
    validator = _INTERACTIVE_VALIDATORS.get(kind) if isinstance(kind, str) else None
    if validator is None:
        raise _invalid(
            _child(path, "type"),
            "must be one of {button, list} (other interactive types are not simulated)",
        )
    validator(content, path, context)
    _validate_text_part(content, "footer", path, max_len=FOOTER_TEXT_MAX, required=False)


_CONTENT_VALIDATORS: dict[str, Callable[[Any, str, ValidationContext], None]] = {
    "text": _validate_text,
    "template": _validate_template,
    "interactive": _validate_interactive,
    "image": _media_validator("image"),
    "video": _media_validator("video"),
    "audio": _media_validator("audio"),
    "document": _media_validator("document"),
    "sticker": _media_validator("sticker"),
    "location": _validate_location,
    "reaction": _validate_reaction,
    "contacts": _validate_contacts,
}
_CONTENT_IS_ARRAY = frozenset({"contacts"})

_COMMON_SEND_KEYS = frozenset(
    {
        "messaging_product",
        "recipient_type",
        "to",
        "recipient",
        "type",
        "context",
        "biz_opaque_callback_data",
    }
)
_MARK_READ_KEYS = frozenset({"messaging_product", "status", "message_id", "typing_indicator"})


# ---- request level -------------------------------------------------------------------------


def normalise_phone_number(value: str) -> str | None:
    """Digits of a phone number written with `+`, spaces, dashes, dots or parentheses; None
    when what is left is not 1–15 digits."""
    digits = _PHONE_PUNCTUATION.sub("", value)
    if not digits.isdigit() or not 1 <= len(digits) <= E164_DIGITS_MAX:
        return None
    return digits


def is_business_scoped_user_id(value: str) -> bool:
    return _BSUID.fullmatch(value) is not None


def _recipient(body: Mapping[str, Any]) -> tuple[str, str, bool]:
    # With both present, `to` takes precedence (as BSPs document Meta's rule).
    if body.get("to") is not None:
        to = body["to"]
        if not isinstance(to, str):
            raise _invalid("to", "must be a string")
        digits = normalise_phone_number(to)
        if digits is None:
            raise _invalid("to", "is not a valid phone number")
        return to, digits, False
    if body.get("recipient") is not None:
        recipient = body["recipient"]
        if not isinstance(recipient, str) or not is_business_scoped_user_id(recipient):
            raise _invalid("recipient", "is not a valid business-scoped user id")
        return recipient, recipient, True
    raise _missing("to")


def _validate_messaging_product(body: Mapping[str, Any]) -> None:
    product = body.get("messaging_product")
    if product is None:
        raise GraphError(100, "The parameter messaging_product is required.")
    if product != "whatsapp":
        raise GraphError(100, "Param messaging_product must be 'whatsapp'.")


def _parse_mark_read(body: Mapping[str, Any]) -> MarkRead:
    _only_keys(body, _MARK_READ_KEYS, "")
    _one_of(body["status"], ("read",), "status")
    message_id = _string(_required(body, "message_id", ""), "message_id", max_len=512)
    indicator = body.get("typing_indicator")
    if indicator is not None:
        indicator = _object(indicator, "typing_indicator")
        _only_keys(indicator, ("type",), "typing_indicator")
        _one_of(
            _required(indicator, "type", "typing_indicator"), ("text",), "typing_indicator['type']"
        )
    return MarkRead(message_id=message_id, show_typing=indicator is not None)


def _parse_send(body: Mapping[str, Any], context: ValidationContext) -> OutboundMessage:
    recipient_type = body.get("recipient_type")
    if recipient_type is not None:
        _one_of(recipient_type, ("individual",), "recipient_type")
    recipient_input, recipient, by_user_id = _recipient(body)
    message_type = body.get("type", "text")  # OAS: `type` defaults to text
    if not isinstance(message_type, str) or message_type not in _CONTENT_VALIDATORS:
        raise GraphError(100, f"Param type: unsupported message type {message_type!r}.")
    _only_keys(body, _COMMON_SEND_KEYS | {message_type}, "")
    content = _required(body, message_type, "")
    if message_type not in _CONTENT_IS_ARRAY:
        content = _object(content, message_type)
    _CONTENT_VALIDATORS[message_type](content, message_type, context)
    context_wamid = None
    if body.get("context") is not None:
        quoted = _object(body["context"], "context")
        _only_keys(quoted, ("message_id",), "context")
        context_wamid = _string(
            _required(quoted, "message_id", "context"), "context['message_id']", max_len=512
        )
    return OutboundMessage(
        recipient_input=recipient_input,
        recipient=recipient,
        addressed_by_user_id=by_user_id,
        message_type=message_type,
        body=body,
        context_wamid=context_wamid,
        biz_opaque_callback_data=_optional_string(
            body, "biz_opaque_callback_data", "", max_len=BIZ_OPAQUE_CALLBACK_DATA_MAX
        ),
    )


def parse_messages_request(body: Any, context: ValidationContext) -> OutboundMessage | MarkRead:
    """Validate a decoded `/messages` body; raise `GraphError` exactly as Meta would refuse it."""
    if not isinstance(body, Mapping):
        raise GraphError(100, "The request body must be a JSON object.")
    _validate_messaging_product(body)
    if "status" in body:
        return _parse_mark_read(body)
    return _parse_send(body, context)
