"""What a resident can send, turned into the type-specific part of an inbound message object
(facts §2.2). The caller adds `from`, `id` and `timestamp` and wraps it in the envelope."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.simulator.media import StoredMedia
from chalicelib.simulator.validation import is_business_scoped_user_id, normalise_phone_number

RESIDENT_MESSAGE_KINDS = ("text", "button_reply", "list_reply", "image", "location")
DEFAULT_IMAGE_MIME_TYPE = "image/jpeg"


class ResidentMessageError(ValueError):
    """A resident message the simulator cannot make sense of (answered with HTTP 400)."""


def resident_key(raw: str) -> str:
    """How the simulator names a resident: wa_id digits (from a phone number written any
    way), or a business-scoped user id such as `PT.123abc` for a resident known only by it."""
    raw = raw.strip()
    if is_business_scoped_user_id(raw):
        return raw
    digits = normalise_phone_number(raw)
    if digits is None:
        raise ResidentMessageError(f"{raw!r} is neither a phone number nor a business-scoped id")
    return digits


def is_user_id_key(key: str) -> bool:
    return is_business_scoped_user_id(key)


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """A reply button or list row a business message offered."""

    kind: str  # "button_reply" | "list_reply"
    id: str
    title: str
    description: str | None = None


def reply_options(body: Mapping[str, Any]) -> list[ReplyOption]:
    """The buttons or rows an outbound interactive message offers (empty for anything else)."""
    interactive = body.get("interactive")
    if body.get("type") != "interactive" or not isinstance(interactive, Mapping):
        return []
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        return [
            ReplyOption("button_reply", button["reply"]["id"], button["reply"]["title"])
            for button in action.get("buttons", [])
        ]
    if interactive.get("type") == "list":
        return [
            ReplyOption("list_reply", row["id"], row["title"], row.get("description"))
            for section in action.get("sections", [])
            for row in section.get("rows", [])
        ]
    return []


@dataclass(frozen=True, slots=True)
class OfferedReply:
    wamid: str
    option: ReplyOption


@dataclass(frozen=True, slots=True)
class ResidentTools:
    """What building a message needs from the simulator's state."""

    business_number: str  # display number, the `from` of a reply's context
    store_media: Callable[[bytes, str], StoredMedia]
    # (kind, reply_id, context_wamid or None) → the newest matching offer to this resident
    find_offer: Callable[[str, str, str | None], OfferedReply | None]


def _text_field(spec: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        if required:
            raise ResidentMessageError(f"{key!r} is required")
        return None
    if not isinstance(value, str):
        raise ResidentMessageError(f"{key!r} must be a string")
    return value


def _number_field(spec: Mapping[str, Any], key: str, low: float, high: float) -> float:
    value = spec.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ResidentMessageError(f"{key!r} must be a number") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise ResidentMessageError(f"{key!r} must be between {low:g} and {high:g}")
    return number


def _context(wamid: str | None, tools: ResidentTools) -> dict[str, Any]:
    return {"context": {"from": tools.business_number, "id": wamid}} if wamid else {}


def _text(spec: Mapping[str, Any], tools: ResidentTools) -> dict[str, Any]:
    body = _text_field(spec, "text", required=True)
    context = _context(_text_field(spec, "context_wamid", required=False), tools)
    return {**context, "type": "text", "text": {"body": body}}


def _reply(kind: str) -> Callable[[Mapping[str, Any], ResidentTools], dict[str, Any]]:
    def build(spec: Mapping[str, Any], tools: ResidentTools) -> dict[str, Any]:
        reply_id = _text_field(spec, "reply_id", required=True)
        assert reply_id is not None
        context_wamid = _text_field(spec, "context_wamid", required=False)
        title = _text_field(spec, "title", required=False)
        description = _text_field(spec, "description", required=False)
        offer = tools.find_offer(kind, reply_id, context_wamid)
        if offer is not None:
            context_wamid = offer.wamid
            title = title or offer.option.title
            description = description or offer.option.description
        if title is None:
            raise ResidentMessageError(
                f"no business message offered a {kind} with id {reply_id!r}; pass a 'title'"
            )
        reply: dict[str, Any] = {"id": reply_id, "title": title}
        if kind == "list_reply" and description:
            reply["description"] = description
        return {
            **_context(context_wamid, tools),
            "type": "interactive",
            "interactive": {"type": kind, kind: reply},
        }

    return build


def _image_bytes(spec: Mapping[str, Any]) -> bytes:
    if isinstance(spec.get("image_bytes"), bytes):
        return spec["image_bytes"]
    encoded = _text_field(spec, "image_base64", required=True)
    assert encoded is not None
    if encoded.startswith("data:") and "," in encoded:  # a data: URL from a browser
        encoded = encoded.split(",", 1)[1]
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ResidentMessageError("'image_base64' is not valid base64") from None
    if not content:
        raise ResidentMessageError("'image_base64' is empty")
    return content


def _image(spec: Mapping[str, Any], tools: ResidentTools) -> dict[str, Any]:
    mime_type = _text_field(spec, "mime_type", required=False) or DEFAULT_IMAGE_MIME_TYPE
    if not mime_type.startswith("image/"):
        raise ResidentMessageError("'mime_type' must be an image type")
    media = tools.store_media(_image_bytes(spec), mime_type)
    image: dict[str, Any] = {}
    caption = _text_field(spec, "caption", required=False)
    if caption is not None:
        image["caption"] = caption
    image.update(mime_type=mime_type, sha256=media.sha256_base64, id=media.media_id)
    context = _context(_text_field(spec, "context_wamid", required=False), tools)
    return {**context, "type": "image", "image": image}


def _location(spec: Mapping[str, Any], tools: ResidentTools) -> dict[str, Any]:
    location: dict[str, Any] = {}
    address = _text_field(spec, "address", required=False)
    if address is not None:
        location["address"] = address
    location["latitude"] = _number_field(spec, "latitude", -90, 90)
    location["longitude"] = _number_field(spec, "longitude", -180, 180)
    name = _text_field(spec, "location_name", required=False)
    if name is not None:
        location["name"] = name
    context = _context(_text_field(spec, "context_wamid", required=False), tools)
    return {**context, "type": "location", "location": location}


_BUILDERS: dict[str, Callable[[Mapping[str, Any], ResidentTools], dict[str, Any]]] = {
    "text": _text,
    "button_reply": _reply("button_reply"),
    "list_reply": _reply("list_reply"),
    "image": _image,
    "location": _location,
}


def build_message_content(spec: Mapping[str, Any], tools: ResidentTools) -> dict[str, Any]:
    """The `context`/`type`/content part of an inbound message for a resident's spec
    (`type` defaults to text when `text` is given)."""
    kind = spec.get("type") or ("text" if spec.get("text") is not None else None)
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise ResidentMessageError(f"'type' must be one of {', '.join(RESIDENT_MESSAGE_KINDS)}")
    return builder(spec, tools)
