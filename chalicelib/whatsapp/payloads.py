"""Reply → Graph API `POST /{phone-number-id}/messages` body (facts sheet §4.2).

Meta's limits (§4.3, §5.5) are checked here, before sending, so a bad bot definition fails in
tests with the field named rather than in production with a bare 131009. Optional texts (header,
footer, caption, …) are left out when None or empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalicelib.domain.replies import (
    ButtonsReply,
    MediaReply,
    MenuReply,
    Reply,
    TemplateReply,
    TextReply,
)

TEXT_BODY_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
LIST_BUTTON_MAX = 20
LIST_ROWS_MAX = 10
SECTION_TITLE_MAX = 24
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
BUTTONS_MAX = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20
CAPTION_MAX = 1024
TEMPLATE_TEXT_PARAMETER_MAX = 32768

# Which optional fields each media type takes (audio and stickers take no caption).
_MEDIA_FIELDS: dict[str, frozenset[str]] = {
    "image": frozenset({"caption"}),
    "video": frozenset({"caption"}),
    "document": frozenset({"caption", "filename"}),
    "audio": frozenset(),
    "sticker": frozenset(),
}

# A phone number as Meta accepts it in `to`: digits, optionally with +, spaces, dashes, brackets.
_PHONE_NUMBER = re.compile(r"\+?[\d\s\-()]*\d[\d\s\-()]*")


CALLBACK_DATA_MAX = 512


class PayloadError(ValueError):
    """A reply WhatsApp would refuse; the message starts with the offending field's path."""


def build_message_payload(
    recipient: str,
    reply: Reply,
    *,
    context_wamid: str | None = None,
    callback_data: str | None = None,
) -> dict[str, Any]:
    """The JSON body for sending `reply` to `recipient`: a wa_id/phone number goes in
    `to` as `+<digits>`; anything else (a BSUID such as `US.1349…`) goes in `recipient`.
    `context_wamid` makes it a quoted reply; `callback_data` (our message id) comes back in every
    status webhook as `biz_opaque_callback_data`. Raises PayloadError for anything over Meta's
    limits."""
    build = _BUILDERS.get(type(reply))
    if build is None:
        raise TypeError(f"not a reply: {reply!r}")
    message_type, content = build(reply)
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **_addressee(recipient),
        "type": message_type,
        message_type: content,
    }
    if context_wamid:
        payload["context"] = {"message_id": context_wamid}
    if callback_data:
        if len(callback_data) > CALLBACK_DATA_MAX:
            raise PayloadError(
                f"biz_opaque_callback_data: {len(callback_data)} characters, "
                f"at most {CALLBACK_DATA_MAX}"
            )
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def _addressee(recipient: str) -> dict[str, str]:
    value = recipient.strip()
    if not value:
        raise PayloadError("to: empty recipient")
    if _PHONE_NUMBER.fullmatch(value):
        # Without the plus Meta would prepend the *business* number's country code.
        return {"to": "+" + "".join(char for char in value if char.isdigit())}
    return {"recipient": value}


def _text(reply: TextReply) -> tuple[str, dict[str, Any]]:
    _check_text("text.body", reply.text, TEXT_BODY_MAX)
    return "text", {"preview_url": reply.preview_url, "body": reply.text}


def _menu(reply: MenuReply) -> tuple[str, dict[str, Any]]:
    section_path = "interactive.action.sections[0]"
    if not 1 <= len(reply.rows) <= LIST_ROWS_MAX:
        raise PayloadError(
            f"{section_path}.rows: {len(reply.rows)} rows, 1 to {LIST_ROWS_MAX} allowed"
        )
    _check_text("interactive.action.button", reply.button, LIST_BUTTON_MAX)
    # The button label (≤ 20) always fits a section title (≤ 24) and speaks the bot's language.
    section_title = reply.section_title or reply.button
    _check_text(f"{section_path}.title", section_title, SECTION_TITLE_MAX)
    rows: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    for index, row in enumerate(reply.rows):
        row_path = f"{section_path}.rows[{index}]"
        _check_text(f"{row_path}.id", row.id, ROW_ID_MAX)
        _check_unique(f"{row_path}.id", row.id, seen_ids, index, f"{section_path}.rows")
        _check_text(f"{row_path}.title", row.title, ROW_TITLE_MAX)
        entry = {"id": row.id, "title": row.title}
        if row.description:
            _check_text(f"{row_path}.description", row.description, ROW_DESCRIPTION_MAX)
            entry["description"] = row.description
        rows.append(entry)
    action = {"button": reply.button, "sections": [{"title": section_title, "rows": rows}]}
    return "interactive", _interactive("list", reply.body, reply.header, reply.footer, action)


def _buttons(reply: ButtonsReply) -> tuple[str, dict[str, Any]]:
    if not 1 <= len(reply.buttons) <= BUTTONS_MAX:
        raise PayloadError(
            f"interactive.action.buttons: {len(reply.buttons)} buttons, 1 to {BUTTONS_MAX} allowed"
        )
    buttons: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    seen_titles: dict[str, int] = {}
    for index, button in enumerate(reply.buttons):
        path = f"interactive.action.buttons[{index}].reply"
        _check_text(f"{path}.id", button.id, BUTTON_ID_MAX)
        if button.id != button.id.strip():
            raise PayloadError(f"{path}.id: leading or trailing spaces")
        _check_unique(f"{path}.id", button.id, seen_ids, index, "interactive.action.buttons")
        _check_text(f"{path}.title", button.title, BUTTON_TITLE_MAX)
        _check_unique(
            f"{path}.title", button.title, seen_titles, index, "interactive.action.buttons"
        )
        buttons.append({"type": "reply", "reply": {"id": button.id, "title": button.title}})
    action = {"buttons": buttons}
    return "interactive", _interactive("button", reply.body, reply.header, reply.footer, action)


def _interactive(
    kind: str, body: str, header: str | None, footer: str | None, action: dict[str, Any]
) -> dict[str, Any]:
    _check_text("interactive.body.text", body, INTERACTIVE_BODY_MAX)
    interactive: dict[str, Any] = {"type": kind}
    if header:
        _check_text("interactive.header.text", header, HEADER_TEXT_MAX)
        interactive["header"] = {"type": "text", "text": header}
    interactive["body"] = {"text": body}
    if footer:
        _check_text("interactive.footer.text", footer, FOOTER_TEXT_MAX)
        interactive["footer"] = {"text": footer}
    interactive["action"] = action
    return interactive


def _template(reply: TemplateReply) -> tuple[str, dict[str, Any]]:
    _check_text("template.name", reply.name)
    _check_text("template.language.code", reply.language)
    components: list[dict[str, Any]] = []
    if reply.body_params:
        path = f"template.components[{len(components)}]"
        for index, param in enumerate(reply.body_params):
            _check_text(f"{path}.parameters[{index}].text", param, TEMPLATE_TEXT_PARAMETER_MAX)
        components.append(
            {
                "type": "body",
                "parameters": [{"type": "text", "text": param} for param in reply.body_params],
            }
        )
    for index, button_payload in enumerate(reply.button_payloads):
        path = f"template.components[{len(components)}]"
        _check_text(f"{path}.parameters[0].payload", button_payload, TEMPLATE_TEXT_PARAMETER_MAX)
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": button_payload}],
            }
        )
    template: dict[str, Any] = {"name": reply.name, "language": {"code": reply.language}}
    if components:
        template["components"] = components
    return "template", template


def _media(reply: MediaReply) -> tuple[str, dict[str, Any]]:
    kind = reply.media_type
    allowed = _MEDIA_FIELDS.get(kind)
    if allowed is None:
        raise PayloadError(f"type: {kind!r} is not a media type ({', '.join(_MEDIA_FIELDS)})")
    if (reply.link is None) == (reply.media_id is None):
        raise PayloadError(f"{kind}: exactly one of link or id is required")
    media: dict[str, Any] = {}
    if reply.link is not None:
        if not reply.link.startswith(("https://", "http://")):
            raise PayloadError(f"{kind}.link: not an http(s) URL")
        media["link"] = reply.link
    else:
        _check_text(f"{kind}.id", reply.media_id or "")
        media["id"] = reply.media_id
    if reply.caption:
        if "caption" not in allowed:
            raise PayloadError(f"{kind}.caption: not allowed for {kind}")
        _check_text(f"{kind}.caption", reply.caption, CAPTION_MAX)
        media["caption"] = reply.caption
    if reply.filename:
        if "filename" not in allowed:
            raise PayloadError(f"{kind}.filename: not allowed for {kind}")
        media["filename"] = reply.filename
    return kind, media


_BUILDERS: dict[type, Callable[[Any], tuple[str, dict[str, Any]]]] = {
    TextReply: _text,
    MenuReply: _menu,
    ButtonsReply: _buttons,
    TemplateReply: _template,
    MediaReply: _media,
}


def _check_text(path: str, value: str, limit: int | None = None) -> None:
    if not value or not value.strip():
        raise PayloadError(f"{path}: empty")
    if limit is not None and len(value) > limit:
        raise PayloadError(f"{path}: {len(value)} characters, at most {limit}")


def _check_unique(path: str, value: str, seen: dict[str, int], index: int, parent: str) -> None:
    if value in seen:
        raise PayloadError(f"{path}: {value!r} repeats {parent}[{seen[value]}]")
    seen[value] = index
