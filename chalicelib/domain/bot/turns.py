"""What goes into the bot and what comes out of one turn (see engine.advance)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.bot.events import BotEvent
from chalicelib.domain.bot.phrasebook import fill
from chalicelib.domain.replies import ButtonsReply, MenuReply, Reply, TextReply
from chalicelib.domain.residents import ConsentState
from chalicelib.domain.tickets import Location, TicketLookup


@dataclass(frozen=True, kw_only=True)
class BotInput:
    message_type: str  # text, interactive, button, image, location, reaction, ... (WhatsApp's)
    text: str | None = None  # typed text, a caption, or the title of a tapped button or row
    reply_id: str | None = None  # the id of a tapped button or list row
    message_id: str | None = None  # the inbound wamid (a photo answer refers to it)
    media_id: str | None = None  # image, document, audio, video, sticker
    mime_type: str | None = None
    location: Location | None = None  # a location pin
    resident_language: str | None = None  # the language stored for the resident, if any
    resident_phone: str | None = None  # wa_id digits, when the resident has not hidden them
    consent: ConsentState = ConsentState.UNKNOWN
    consent_version: str | None = None  # the version the resident answered
    opted_out: bool = False
    subscriptions: frozenset[str] = frozenset()  # the topics the resident is subscribed to
    resident_tags: tuple[str, ...] = ()  # contact tags: routing rules may read them
    ticket_lookup: TicketLookup | None = None  # a reference found in `text`, looked up


@dataclass(frozen=True, kw_only=True)
class BotTurn:
    state: dict[str, Any]
    replies: tuple[Reply, ...] = ()
    events: tuple[BotEvent, ...] = ()

    def with_reference(self, reference: str) -> BotTurn:
        """The turn with {reference} filled in every reply (see TicketRequested)."""
        return dataclasses.replace(
            self, replies=tuple(_fill_reference(reply, reference) for reply in self.replies)
        )


def _fill_reference(reply: Reply, reference: str) -> Reply:
    match reply:
        case TextReply(text=text):
            return dataclasses.replace(reply, text=fill(text, reference=reference))
        case MenuReply(body=body) | ButtonsReply(body=body):
            return dataclasses.replace(reply, body=fill(body, reference=reference))
    return reply
