"""What the service says to a resident, independent of WhatsApp's wire format.

The bot, agents and reminders produce these; `chalicelib.whatsapp.payloads` turns them into Graph
API bodies. They round-trip through plain dicts so they can sit in a queue or a table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class TextReply:
    kind: ClassVar[str] = "text"
    text: str
    preview_url: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuReply:
    """An interactive list: one section, at most ten rows."""

    kind: ClassVar[str] = "menu"
    body: str
    button: str
    rows: tuple[MenuRow, ...]
    header: str | None = None
    footer: str | None = None
    section_title: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonsReply:
    """Interactive reply buttons: one to three."""

    kind: ClassVar[str] = "buttons"
    body: str
    buttons: tuple[Button, ...]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateReply:
    """An approved template; `body_params` fill {{1}}, {{2}}, … in order."""

    kind: ClassVar[str] = "template"
    name: str
    language: str
    body_params: tuple[str, ...] = ()
    button_payloads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaReply:
    """A document, image, audio, video or sticker sent by link or by uploaded media id."""

    kind: ClassVar[str] = "media"
    media_type: str
    link: str | None = None
    media_id: str | None = None
    caption: str | None = None
    filename: str | None = None


Reply = TextReply | MenuReply | ButtonsReply | TemplateReply | MediaReply

_REPLY_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (TextReply, MenuReply, ButtonsReply, TemplateReply, MediaReply)
}


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    return {"kind": reply.kind, **asdict(reply)}


def reply_from_dict(data: dict[str, Any]) -> Reply:
    fields = dict(data)
    kind = fields.pop("kind")
    cls = _REPLY_TYPES[kind]
    if cls is MenuReply:
        fields["rows"] = tuple(MenuRow(**row) for row in fields["rows"])
    elif cls is ButtonsReply:
        fields["buttons"] = tuple(Button(**button) for button in fields["buttons"])
    elif cls is TemplateReply:
        fields["body_params"] = tuple(fields.get("body_params", ()))
        fields["button_payloads"] = tuple(fields.get("button_payloads", ()))
    return cls(**fields)


def reply_summary(reply: Reply) -> str:
    """A one-line text for inboxes and logs."""
    match reply:
        case TextReply(text=text):
            return text
        case MenuReply(body=body) | ButtonsReply(body=body):
            return body
        case TemplateReply(name=name, body_params=params):
            return f"[template {name}] " + " | ".join(params)
        case MediaReply(media_type=media_type, caption=caption, filename=filename):
            return f"[{media_type}] {caption or filename or ''}".strip()
    raise TypeError(f"not a reply: {reply!r}")


__all__ = [
    "Button",
    "ButtonsReply",
    "MediaReply",
    "MenuReply",
    "MenuRow",
    "Reply",
    "TemplateReply",
    "TextReply",
    "reply_from_dict",
    "reply_summary",
    "reply_to_dict",
]
