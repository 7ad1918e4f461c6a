"""Typed, frozen events parsed from WhatsApp Cloud API webhooks.

One class per thing Meta tells us. Every inbound message keeps the exact message object it came
from (`raw`) and the `value` metadata it arrived with, so it can be re-queued and re-parsed
unchanged. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """Who wrote. `wa_id` may be missing for residents who hide their number behind a username;
    `user_id` is Meta's business-scoped user id (BSUID) in that case."""

    wa_id: str | None = None
    user_id: str | None = None
    username: str | None = None
    profile_name: str | None = None

    @property
    def key(self) -> str:
        """Stable contact key: the phone-based id when known, else the BSUID."""
        if self.wa_id:
            return f"wa:{self.wa_id}"
        if self.user_id:
            return f"bsuid:{self.user_id}"
        raise ValueError("sender has neither wa_id nor user_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookError:
    code: int
    title: str = ""
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """Fields common to every inbound message; subclasses add the type's own content."""

    wamid: str
    phone_number_id: str
    sender: Sender
    timestamp: datetime
    message_type: str
    context_wamid: str | None = None
    forwarded: bool = False
    referral: Mapping[str, Any] | None = None
    errors: tuple[WebhookError, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    raw_metadata: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text_for_bot(self) -> str | None:
        """What a resident 'said' in words, if anything (text body, caption, button title)."""
        return None

    @property
    def reply_id(self) -> str | None:
        """The id of a button or list row the resident tapped, if any."""
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(InboundMessage):
    body: str

    @property
    def text_for_bot(self) -> str | None:
        return self.body


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaMessage(InboundMessage):
    """image, video, audio (voice notes have `voice=True`), document, sticker."""

    media_id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False
    url: str | None = None

    @property
    def text_for_bot(self) -> str | None:
        return self.caption


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationMessage(InboundMessage):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactsMessage(InboundMessage):
    """Shared contact cards, kept as Meta sent them."""

    cards: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractiveReply(InboundMessage):
    """A tapped reply button (`button_reply`) or list row (`list_reply`)."""

    interactive_type: str
    choice_id: str
    title: str
    description: str | None = None

    @property
    def text_for_bot(self) -> str | None:
        return self.title

    @property
    def reply_id(self) -> str | None:
        return self.choice_id


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateButtonReply(InboundMessage):
    """A quick-reply button of a template (wire `type: "button"`)."""

    payload: str
    text: str

    @property
    def text_for_bot(self) -> str | None:
        return self.text

    @property
    def reply_id(self) -> str | None:
        return self.payload


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionMessage(InboundMessage):
    target_wamid: str
    emoji: str | None = None  # None or "" when the reaction was removed


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderMessage(InboundMessage):
    catalog_id: str
    text: str = ""
    product_items: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMessage(InboundMessage):
    """E.g. `user_changed_number`: `new_wa_id` is the number the resident moved to."""

    system_type: str
    body: str = ""
    new_wa_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsupportedMessage(InboundMessage):
    """`unsupported`/`unknown` types, and any type this parser does not know yet."""

    unsupported_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    wamid: str
    status: str  # sent | delivered | read | failed | played
    timestamp: datetime
    recipient_id: str
    phone_number_id: str
    errors: tuple[WebhookError, ...] = ()
    pricing: Mapping[str, Any] | None = None
    biz_opaque_callback_data: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPreferenceUpdate:
    """Marketing stop/resume chosen inside WhatsApp (`field: user_preferences`)."""

    sender: Sender
    category: str
    value: str  # stop | resume
    timestamp: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountError:
    """Value-level `errors[]`: a problem with the app or account, not one message."""

    phone_number_id: str | None
    errors: tuple[WebhookError, ...]


WebhookEvent = InboundMessage | StatusUpdate | UserPreferenceUpdate | AccountError


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    """Everything understood in one delivery, plus what was not (for logging, never raised)."""

    events: tuple[WebhookEvent, ...] = ()
    problems: tuple[str, ...] = ()
