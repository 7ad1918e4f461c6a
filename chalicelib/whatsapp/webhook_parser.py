"""Cloud API webhook payload → typed events (facts sheet §2).

Meta may batch many entries, changes, messages and statuses in one delivery, and retries a
delivery for days if we answer anything but 200. So the parser reads everything, never raises, and
describes what it could not read in `ParsedWebhook.problems` (`<path>: <reason>`) for the logs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from chalicelib.whatsapp.events import (
    AccountError,
    ContactsMessage,
    InboundMessage,
    InteractiveReply,
    LocationMessage,
    MediaMessage,
    OrderMessage,
    ParsedWebhook,
    ReactionMessage,
    Sender,
    StatusUpdate,
    SystemMessage,
    TemplateButtonReply,
    TextMessage,
    UnsupportedMessage,
    UserPreferenceUpdate,
    WebhookError,
    WebhookEvent,
)

WHATSAPP_OBJECT = "whatsapp_business_account"

_Json = Mapping[str, Any]


class _MalformedError(Exception):
    """One item cannot become an event; the message says why, the caller adds the path."""


class _Collector:
    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.problems: list[str] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(f"{path}: {reason}")

    def each(self, items: object, path: str, parse_one: Callable[[object, str], Any]) -> None:
        """Parse every item of a list into an event; a bad item costs only itself."""
        if items is None:
            return
        if not isinstance(items, list):
            self.problem(path, "not a list")
            return
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            try:
                self.events.append(parse_one(item, item_path))
            except _MalformedError as error:
                self.problem(item_path, str(error))
            except Exception as error:  # one odd item must never lose the rest of the delivery
                self.problem(item_path, f"unreadable ({type(error).__name__}: {error})")


def parse_webhook(payload: object) -> ParsedWebhook:
    """Every event in a delivery, in payload order per `value` (messages, statuses, user
    preferences, then value-level errors). Never raises."""
    collector = _Collector()
    try:
        _read_payload(payload, collector)
    except Exception as error:  # a safety net: the receiver must always be able to answer 200
        collector.problem("payload", f"unreadable ({type(error).__name__}: {error})")
    return ParsedWebhook(events=tuple(collector.events), problems=tuple(collector.problems))


def _read_payload(payload: object, collector: _Collector) -> None:
    if not isinstance(payload, Mapping):
        collector.problem("payload", f"not a JSON object ({type(payload).__name__})")
        return
    if payload.get("object") != WHATSAPP_OBJECT:
        collector.problem("object", f"expected {WHATSAPP_OBJECT!r}, got {payload.get('object')!r}")
        return
    entries = payload.get("entry")
    if not isinstance(entries, list):
        collector.problem("entry", "missing or not a list")
        return
    for entry_index, entry in enumerate(entries):
        entry_path = f"entry[{entry_index}]"
        if not isinstance(entry, Mapping):
            collector.problem(entry_path, "not an object")
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list):
            collector.problem(f"{entry_path}.changes", "missing or not a list")
            continue
        for change_index, change in enumerate(changes):
            _read_change(change, f"{entry_path}.changes[{change_index}]", collector)


def _read_change(change: object, path: str, collector: _Collector) -> None:
    if not isinstance(change, Mapping):
        collector.problem(path, "not an object")
        return
    field_name = change.get("field")
    read_value = _VALUE_READERS.get(field_name) if isinstance(field_name, str) else None
    if read_value is None:
        collector.problem(path, f"field {field_name!r} ignored")
        return
    value = change.get("value")
    if not isinstance(value, Mapping):
        collector.problem(f"{path}.value", "not an object")
        return
    read_value(value, f"{path}.value", collector)


def _read_messages_value(value: _Json, path: str, collector: _Collector) -> None:
    metadata = _mapping_or_empty(value.get("metadata"))
    phone_number_id = _identifier(metadata.get("phone_number_id"))
    contacts = _contact_book(value, path, collector)
    messages, statuses, errors = value.get("messages"), value.get("statuses"), value.get("errors")
    if messages is None and statuses is None and errors is None:
        collector.problem(path, "no messages, statuses or errors")
    if phone_number_id is None and (messages or statuses):
        collector.problem(
            f"{path}.metadata", "without phone_number_id; its messages and statuses skipped"
        )
    else:
        collector.each(
            messages,
            f"{path}.messages",
            lambda item, item_path: _message(
                item, item_path, metadata, phone_number_id or "", contacts, collector
            ),
        )
        collector.each(
            statuses,
            f"{path}.statuses",
            lambda item, item_path: _status(item, item_path, phone_number_id or "", collector),
        )
    if errors is not None:
        account_errors = _webhook_errors(errors, f"{path}.errors", collector)
        if account_errors:
            collector.events.append(
                AccountError(phone_number_id=phone_number_id, errors=account_errors)
            )


def _read_user_preferences_value(value: _Json, path: str, collector: _Collector) -> None:
    contacts = _contact_book(value, path, collector)
    preferences = value.get("user_preferences")
    if preferences is None:
        collector.problem(path, "no user_preferences")
        return
    collector.each(
        preferences,
        f"{path}.user_preferences",
        lambda item, _item_path: _user_preference(item, contacts),
    )


_VALUE_READERS: dict[str, Callable[[_Json, str, _Collector], None]] = {
    "messages": _read_messages_value,
    "user_preferences": _read_user_preferences_value,
}


# --- inbound messages -------------------------------------------------------------------------


def _message(
    item: object,
    path: str,
    metadata: _Json,
    phone_number_id: str,
    contacts: _ContactBook,
    collector: _Collector,
) -> InboundMessage:
    message = _require_mapping(item, "message")
    message_type = message.get("type")
    if not isinstance(message_type, str) or not message_type:
        raise _MalformedError("message without type")
    wamid = _identifier(message.get("id"))
    if wamid is None:
        raise _MalformedError(f"{message_type} without id")
    timestamp = _timestamp(message.get("timestamp"), message_type)
    sender = contacts.sender(message.get("from"), message.get("from_user_id"), message_type)
    context = _mapping_or_empty(message.get("context"))
    referral = message.get("referral")
    common: dict[str, Any] = {
        "wamid": wamid,
        "phone_number_id": phone_number_id,
        "sender": sender,
        "timestamp": timestamp,
        "message_type": message_type,
        "context_wamid": _identifier(context.get("id")),
        "forwarded": bool(context.get("forwarded") or context.get("frequently_forwarded")),
        "referral": referral if isinstance(referral, Mapping) else None,
        "errors": _webhook_errors(message.get("errors"), f"{path}.errors", collector),
        "raw": message,
        "raw_metadata": metadata,
    }
    read_content = _CONTENT_READERS.get(message_type, _unsupported)
    return read_content(message, common)


def _text(message: _Json, common: dict[str, Any]) -> InboundMessage:
    body = _content(message, "text").get("body")
    if not isinstance(body, str):
        raise _MalformedError("text without body")
    return TextMessage(**common, body=body)


def _media(message: _Json, common: dict[str, Any]) -> InboundMessage:
    kind = common["message_type"]
    media = _content(message, kind)
    media_id = _identifier(media.get("id"))
    if media_id is None:
        raise _MalformedError(f"{kind} without id")
    return MediaMessage(
        **common,
        media_id=media_id,
        mime_type=_text_or_none(media.get("mime_type")) or "",
        sha256=_text_or_none(media.get("sha256")) or "",
        caption=_text_or_none(media.get("caption")),
        filename=_text_or_none(media.get("filename")),
        voice=media.get("voice") is True,
        animated=media.get("animated") is True,
        url=_text_or_none(media.get("url")),
    )


def _location(message: _Json, common: dict[str, Any]) -> InboundMessage:
    location = _content(message, "location")
    return LocationMessage(
        **common,
        latitude=_coordinate(location.get("latitude"), "latitude"),
        longitude=_coordinate(location.get("longitude"), "longitude"),
        name=_text_or_none(location.get("name")),
        address=_text_or_none(location.get("address")),
        url=_text_or_none(location.get("url")),
    )


def _contacts(message: _Json, common: dict[str, Any]) -> InboundMessage:
    cards = message.get("contacts")
    if not isinstance(cards, list) or not all(isinstance(card, Mapping) for card in cards):
        raise _MalformedError("contacts without a list of contact cards")
    return ContactsMessage(**common, cards=tuple(cards))


def _interactive(message: _Json, common: dict[str, Any]) -> InboundMessage:
    interactive = _content(message, "interactive")
    kind = interactive.get("type")
    if kind not in ("button_reply", "list_reply"):
        # Flows (`nfm_reply`) and anything newer: known to exist, not handled here.
        return UnsupportedMessage(**common, unsupported_type=f"interactive.{kind}")
    choice = interactive.get(kind)
    if not isinstance(choice, Mapping):
        raise _MalformedError(f"interactive {kind} without {kind} object")
    choice_id = _identifier(choice.get("id"))
    if choice_id is None:
        raise _MalformedError(f"interactive {kind} without id")
    return InteractiveReply(
        **common,
        interactive_type=kind,
        choice_id=choice_id,
        title=_text_or_none(choice.get("title")) or "",
        description=_text_or_none(choice.get("description")),
    )


def _template_button(message: _Json, common: dict[str, Any]) -> InboundMessage:
    button = _content(message, "button")
    payload, text = _text_or_none(button.get("payload")), _text_or_none(button.get("text"))
    if payload is None and text is None:
        raise _MalformedError("button without payload or text")
    return TemplateButtonReply(**common, payload=payload or text or "", text=text or payload or "")


def _reaction(message: _Json, common: dict[str, Any]) -> InboundMessage:
    reaction = _content(message, "reaction")
    target = _identifier(reaction.get("message_id"))
    if target is None:
        raise _MalformedError("reaction without message_id")
    return ReactionMessage(
        **common, target_wamid=target, emoji=_text_or_none(reaction.get("emoji"))
    )


def _order(message: _Json, common: dict[str, Any]) -> InboundMessage:
    order = _content(message, "order")
    catalog_id = _identifier(order.get("catalog_id"))
    if catalog_id is None:
        raise _MalformedError("order without catalog_id")
    items = order.get("product_items")
    items = items if isinstance(items, list) else []
    return OrderMessage(
        **common,
        catalog_id=catalog_id,
        text=_text_or_none(order.get("text")) or "",
        product_items=tuple(item for item in items if isinstance(item, Mapping)),
    )


def _system(message: _Json, common: dict[str, Any]) -> InboundMessage:
    system = _content(message, "system")
    system_type = _text_or_none(system.get("type"))
    if not system_type:
        raise _MalformedError("system without type")
    return SystemMessage(
        **common,
        system_type=system_type,
        body=_text_or_none(system.get("body")) or "",
        new_wa_id=_identifier(system.get("wa_id")),
    )


def _unsupported(message: _Json, common: dict[str, Any]) -> InboundMessage:
    """`unsupported`/`unknown` (detail in `unsupported.type` on newer payloads), or a type this
    parser has no reader for (then that type is the detail)."""
    message_type = common["message_type"]
    detail = _mapping_or_empty(message.get("unsupported")).get("type")
    if not isinstance(detail, str) or not detail:
        detail = None if message_type in ("unsupported", "unknown") else message_type
    return UnsupportedMessage(**common, unsupported_type=detail)


_CONTENT_READERS: dict[str, Callable[[_Json, dict[str, Any]], InboundMessage]] = {
    "text": _text,
    "image": _media,
    "video": _media,
    "audio": _media,
    "document": _media,
    "sticker": _media,
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _template_button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
    "unknown": _unsupported,
}


# --- statuses, preferences, errors ------------------------------------------------------------


def _status(item: object, path: str, phone_number_id: str, collector: _Collector) -> StatusUpdate:
    status = _require_mapping(item, "status")
    wamid = _identifier(status.get("id"))
    if wamid is None:
        raise _MalformedError("status without id")
    state = _text_or_none(status.get("status"))
    if not state:
        raise _MalformedError("status without status")
    recipient = _identifier(status.get("recipient_id")) or _identifier(
        status.get("recipient_user_id")
    )
    if recipient is None:
        raise _MalformedError(f"{state} status without recipient_id")
    pricing = status.get("pricing")
    return StatusUpdate(
        wamid=wamid,
        status=state,
        timestamp=_timestamp(status.get("timestamp"), f"{state} status"),
        recipient_id=recipient,
        phone_number_id=phone_number_id,
        errors=_webhook_errors(status.get("errors"), f"{path}.errors", collector),
        pricing=pricing if isinstance(pricing, Mapping) else None,
        biz_opaque_callback_data=_text_or_none(status.get("biz_opaque_callback_data")),
    )


def _user_preference(item: object, contacts: _ContactBook) -> UserPreferenceUpdate:
    preference = _require_mapping(item, "user preference")
    sender = contacts.sender(preference.get("wa_id"), preference.get("user_id"), "user preference")
    category = _text_or_none(preference.get("category"))
    if not category:
        raise _MalformedError("user preference without category")
    value = _text_or_none(preference.get("value"))
    if not value:
        raise _MalformedError("user preference without value")
    return UserPreferenceUpdate(
        sender=sender,
        category=category,
        value=value,
        timestamp=_timestamp(preference.get("timestamp"), "user preference"),
        detail=_text_or_none(preference.get("detail")) or "",
    )


def _webhook_errors(items: object, path: str, collector: _Collector) -> tuple[WebhookError, ...]:
    """Readable errors from an `errors[]`; unreadable ones are reported, not fatal."""
    if items is None:
        return ()
    if not isinstance(items, list):
        collector.problem(path, "not a list")
        return ()
    errors: list[WebhookError] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or (code := _integer(item.get("code"))) is None:
            collector.problem(f"{path}[{index}]", "error without code")
            continue
        details = _mapping_or_empty(item.get("error_data")).get("details")
        errors.append(
            WebhookError(
                code=code,
                title=_text_or_none(item.get("title")) or "",
                message=_text_or_none(item.get("message")) or "",
                details=details if isinstance(details, str) else "",
            )
        )
    return tuple(errors)


# --- who wrote --------------------------------------------------------------------------------


def _contact_book(value: _Json, path: str, collector: _Collector) -> _ContactBook:
    contacts = value.get("contacts")
    if contacts is not None and not isinstance(contacts, list):
        collector.problem(f"{path}.contacts", "not a list; senders read without profiles")
    return _ContactBook(contacts)


class _ContactBook:
    """`value.contacts[]` indexed by every id a contact carries, to match messages to them."""

    def __init__(self, contacts: object) -> None:
        self._by_id: dict[str, _Json] = {}
        for contact in contacts if isinstance(contacts, list) else ():
            if not isinstance(contact, Mapping):
                continue
            for key in ("wa_id", "user_id"):
                identifier = _identifier(contact.get(key))
                if identifier is not None:
                    self._by_id.setdefault(identifier, contact)

    def sender(self, sent_from: object, sent_from_user_id: object, what: str) -> Sender:
        """A Sender from a message's `from`/`from_user_id` (or a preference's `wa_id`/`user_id`)
        and its contact. Liberal: a non-numeric `from` is taken for a BSUID, and ids missing on
        the message are taken from the matching contact."""
        from_id, user_id = _identifier(sent_from), _identifier(sent_from_user_id)
        contact = self._find(from_id, user_id)
        wa_id = from_id if from_id and _is_phone_id(from_id) else None
        if from_id and wa_id is None:
            user_id = user_id or from_id
        contact_wa_id = _identifier(contact.get("wa_id"))
        if wa_id is None and contact_wa_id and _is_phone_id(contact_wa_id):
            wa_id = contact_wa_id
        user_id = user_id or _identifier(contact.get("user_id"))
        if wa_id is None and user_id is None:
            raise _MalformedError(f"{what} without sender (no wa_id or user_id)")
        profile = _mapping_or_empty(contact.get("profile"))
        return Sender(
            wa_id=wa_id,
            user_id=user_id,
            username=_text_or_none(profile.get("username"))
            or _text_or_none(contact.get("username")),
            profile_name=_text_or_none(profile.get("name")),
        )

    def _find(self, *identifiers: str | None) -> _Json:
        for identifier in identifiers:
            if identifier is not None and identifier in self._by_id:
                return self._by_id[identifier]
        return {}


def _is_phone_id(identifier: str) -> bool:
    return identifier.isascii() and identifier.isdigit()


# --- small readers ----------------------------------------------------------------------------


def _require_mapping(value: object, what: str) -> _Json:
    if not isinstance(value, Mapping):
        raise _MalformedError(f"{what} is not an object")
    return value


def _content(message: _Json, kind: str) -> _Json:
    content = message.get(kind)
    if not isinstance(content, Mapping):
        raise _MalformedError(f"{kind} without {kind} object")
    return content


def _mapping_or_empty(value: object) -> _Json:
    return value if isinstance(value, Mapping) else {}


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _identifier(value: object) -> str | None:
    """A non-empty id; ints are accepted (hand-written payloads) and turned into strings."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _integer(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        return int(value)
    return None


def _timestamp(value: object, what: str) -> datetime:
    """Unix seconds, as a string (messages, statuses) or an int (user preferences)."""
    if value is None:
        raise _MalformedError(f"{what} without timestamp")
    seconds = _integer(value)
    if seconds is None:
        raise _MalformedError(f"{what} with bad timestamp {value!r}")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _MalformedError(f"{what} with out-of-range timestamp {value!r}") from None


def _coordinate(value: object, name: str) -> float:
    if value is None:
        raise _MalformedError(f"location without {name}")
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with suppress(ValueError):
            number = float(value)
    if number is None or not math.isfinite(number):
        raise _MalformedError(f"location with bad {name} {value!r}")
    return number


# --- one message back into a payload ----------------------------------------------------------


def envelope_for(message: InboundMessage) -> dict[str, Any]:
    """A minimal webhook payload holding just `message` (its raw object, metadata and matching
    contact), so that `parse_webhook(envelope_for(m)).events == (m,)`. Used to queue one message
    and re-parse it in a worker. The entry `id` (WABA id) is not kept on events, so it is left
    out; the parser does not need it. Raises ValueError for a message that was not parsed from a
    webhook (it has no `raw` object to put back)."""
    if not message.raw:
        raise ValueError(f"message {message.wamid} has no raw wire object to put in an envelope")
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {**message.raw_metadata, "phone_number_id": message.phone_number_id},
    }
    if not isinstance(message, SystemMessage):  # Meta sends no contacts with system messages
        value["contacts"] = [_contact_for(message.sender)]
    value["messages"] = [dict(message.raw)]
    return _one_change(value, "messages")


def _one_change(value: dict[str, Any], field: str) -> dict[str, Any]:
    return {"object": WHATSAPP_OBJECT, "entry": [{"changes": [{"value": value, "field": field}]}]}


def _contact_for(sender: Sender) -> dict[str, Any]:
    profile = {
        key: value
        for key, value in (("name", sender.profile_name), ("username", sender.username))
        if value is not None
    }
    contact: dict[str, Any] = {"profile": profile} if profile else {}
    if sender.wa_id is not None:
        contact["wa_id"] = sender.wa_id
    if sender.user_id is not None:
        contact["user_id"] = sender.user_id
    return contact


def preference_envelope_for(update: UserPreferenceUpdate) -> dict[str, Any]:
    """A minimal `user_preferences` webhook holding just `update` and its sender's contact, so
    that `parse_webhook(preference_envelope_for(u)).events == (u,)`: queued like a message and
    re-parsed by the inbound worker. Meta's metadata is not kept on the event and not needed."""
    sender = update.sender
    preference: dict[str, Any] = {}
    if sender.wa_id is not None:
        preference["wa_id"] = sender.wa_id
    if sender.user_id is not None:
        preference["user_id"] = sender.user_id
    preference.update(
        category=update.category,
        value=update.value,
        timestamp=int(update.timestamp.timestamp()),  # an int, as Meta sends it here
    )
    if update.detail:
        preference["detail"] = update.detail
    value = {
        "messaging_product": "whatsapp",
        "contacts": [_contact_for(sender)],
        "user_preferences": [preference],
    }
    return _one_change(value, "user_preferences")
