"""Use cases: an agent opens a conversation — who the resident is, what they asked before, what
they owe the town hall, whether WhatsApp lets us write freely — and reads its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.agents import Agent, can_see
from chalicelib.domain.audit import agent_actor
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import StoredMessage
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.residents import CUSTOMER_SERVICE_WINDOW, Resident
from chalicelib.domain.sla import SlaStatus, clock_for, sla_status
from chalicelib.domain.tickets import Ticket
from chalicelib.services.console_context import (
    ConsolePorts,
    Invalid,
    NotFound,
    visible_conversation,
)
from chalicelib.services.console_ports import Page

RELATED_LIMIT = 20  # tickets, obligations and past conversations shown beside a conversation
RELATED_READ = 3 * RELATED_LIMIT  # read before leaving out what the agent may not see


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationDetail:
    conversation: Conversation
    resident: Resident | None
    tickets: tuple[Ticket, ...]
    obligations: tuple[Obligation, ...]
    past_conversations: tuple[Conversation, ...]  # the resident's others, newest first
    window_open: bool  # free text may be sent (WhatsApp's 24-hour window)
    window_closes_at: datetime | None
    sla: SlaStatus | None


def open_conversation(
    actor: Agent,
    conversation_id: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
) -> ConversationDetail:
    """The conversation with what surrounds it. Another team's past conversations and tickets
    are left out for an agent who does not see every team (as they are everywhere else);
    tickets raised in a conversation they may see are shown whatever their team."""
    conversation = visible_conversation(actor, conversation_id, ports)
    key = conversation.resident_key
    resident = ports.residents.get(key)
    last_inbound = resident.last_inbound_at if resident is not None else None
    past = [
        c
        for c in ports.conversations.for_resident(key, RELATED_READ)
        if c.id != conversation.id and can_see(actor, c)
    ][:RELATED_LIMIT]
    seen = {conversation.id, *(c.id for c in past)}
    tickets = [
        ticket
        for ticket in ports.tickets.list_for_resident(key, RELATED_READ)
        if actor.sees_all or ticket.team in actor.teams or ticket.conversation_id in seen
    ][:RELATED_LIMIT]
    _record_view(actor, conversation, ports, now)
    return ConversationDetail(
        conversation=conversation,
        resident=resident,
        tickets=tuple(tickets),
        obligations=tuple(ports.obligations.for_resident(key, RELATED_LIMIT)),
        past_conversations=tuple(past),
        window_open=resident is not None and resident.window_open(now),
        window_closes_at=last_inbound + CUSTOMER_SERVICE_WINDOW if last_inbound else None,
        sla=sla_status(conversation, definition.sla, clock_for(definition), now),
    )


def conversation_history(
    actor: Agent,
    conversation_id: str,
    *,
    ports: ConsolePorts,
    cursor: str | None = None,
    after: datetime | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> Page[StoredMessage]:
    """Messages both ways, notes and timeline events, newest first. Reading them is a view
    (audit log) unless it is the console's poll for what is new (`after`)."""
    conversation = visible_conversation(actor, conversation_id, ports)
    try:
        page = ports.conversations.history(conversation.id, limit=limit, cursor=cursor, after=after)
    except ValueError:
        raise Invalid("not a cursor of this history", field="cursor") from None
    if after is None and now is not None:
        _record_view(actor, conversation, ports, now)
    return page


def _record_view(
    actor: Agent, conversation: Conversation, ports: ConsolePorts, now: datetime
) -> None:
    """`viewed` in the audit log, once per agent and conversation in domain.audit.VIEW_WINDOW;
    a failure is logged, and the agent still sees the conversation (docs/audit.md)."""
    if ports.audit is not None:
        ports.audit.record_view(
            conversation.resident_key,
            actor=agent_actor(actor.id),
            at=now,
            detail=f"conversation {conversation.id}",
        )


def media_link(actor: Agent, conversation_id: str, message_id: str, *, ports: ConsolePorts) -> str:
    """A short-lived link to a photo, document or voice note of the conversation."""
    conversation = visible_conversation(actor, conversation_id, ports)
    message = ports.messages.get(message_id) if message_id else None
    if (
        message is None
        or message.conversation_id != conversation.id
        or not message.media_key
        or ports.media_archive is None
    ):
        raise NotFound("no such file in this conversation")
    return ports.media_archive.url(message.media_key, download=not _shown_inline(message))


_INLINE_TYPES = ("image/", "audio/", "video/")
_INLINE_KINDS = ("image", "sticker", "audio", "voice", "video")


def _shown_inline(message: StoredMessage) -> bool:
    """Photos, voice notes and videos play in the console; anything else (a PDF, an HTML or SVG
    file a resident sent) is only ever downloaded, never opened as a page."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    inner = payload.get(message.message_type)
    mime = (inner.get("mime_type") if isinstance(inner, dict) else None) or payload.get("mime_type")
    if isinstance(mime, str) and mime.strip():
        mime = mime.strip().lower()
        return mime.startswith(_INLINE_TYPES) and not mime.startswith("image/svg")
    # The console's own attachments keep only their kind ("media" messages, see MediaReply).
    return (payload.get("media_type") or message.message_type) in _INLINE_KINDS
