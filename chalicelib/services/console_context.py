"""What every console use case shares: its ports, its errors, who may see what, and how an
action is saved with its timeline entry.

Use cases take the acting `Agent` first. A conversation the agent may not see is reported as
missing (`NotFound`), never as forbidden, so nobody learns that another team's conversation
exists. The HTTP layer turns `ConsoleError`s into `{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.agents import Agent, can_see
from chalicelib.domain.bot.state import Mode, read_state
from chalicelib.domain.conversations import Conversation
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.services.audit_trail import AuditTrail
from chalicelib.services.console_ports import (
    AgentStore,
    CapacityReachedError,
    ConsoleConversationStore,
    ConversationChange,
    MediaUploader,
)
from chalicelib.services.ports import (
    ConcurrentUpdateError,
    MediaArchive,
    MessageStore,
    ObligationStore,
    OutboundQueue,
    ResidentStore,
    TicketStore,
)

SYSTEM = "system"  # sent_by of the timeline events nobody in particular caused


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsolePorts:
    agents: AgentStore
    conversations: ConsoleConversationStore
    residents: ResidentStore
    messages: MessageStore
    tickets: TicketStore
    obligations: ObligationStore
    outbound: OutboundQueue
    media_archive: MediaArchive | None = None
    media_uploader: MediaUploader | None = None
    audit: AuditTrail | None = None  # None: nothing is recorded (tests that do not look)


class ConsoleError(Exception):
    """A request the console refuses, in words an agent can act on."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class NotFound(ConsoleError):
    status, code = 404, "not_found"


class Forbidden(ConsoleError):
    status, code = 403, "forbidden"


def require_supervisor(agent: Agent, what: str) -> None:
    """Supervisors and admins only (`agent.sees_all`): Forbidden naming `what` for others."""
    if not agent.sees_all:
        raise Forbidden(f"{what}: for supervisors and admins only")


class Conflict(ConsoleError):
    status, code = 409, "conflict"


class Invalid(ConsoleError):
    status, code = 422, "invalid"


class Unavailable(ConsoleError):
    """Something this deployment lacks (e.g. no media bucket for attachments)."""

    status, code = 503, "unavailable"


CHANGED = "changed"  # Conflict code: someone else changed the conversation meanwhile


def visible_conversation(actor: Agent, conversation_id: str, ports: ConsolePorts) -> Conversation:
    conversation = ports.conversations.get(conversation_id) if conversation_id else None
    if conversation is None or not can_see(actor, conversation):
        raise NotFound("no such conversation")
    return conversation


def apply_change(ports: ConsolePorts, change: ConversationChange) -> Conversation:
    """Save the change; returns the conversation as stored (its version moved on by one)."""
    try:
        ports.conversations.apply(change)
    except ConcurrentUpdateError:
        raise Conflict(
            "the conversation changed meanwhile: reload and try again", code=CHANGED
        ) from None
    except CapacityReachedError:
        raise Conflict(
            "that agent is offline or has no room for another conversation", code="no_room"
        ) from None
    return dataclasses.replace(change.conversation, version=change.conversation.version + 1)


def timeline_event(
    conversation: Conversation,
    name: str,
    summary: str,
    *,
    by: str,
    now: datetime,
    new_id: Callable[[], str],
    **details: Any,
) -> StoredMessage:
    """A timeline entry (type "event"), stored with the conversation, never sent."""
    return internal_message(
        conversation, "event", summary, by=by, now=now, new_id=new_id, event=name, **details
    )


def internal_message(
    conversation: Conversation,
    message_type: str,
    body: str,
    *,
    by: str,
    now: datetime,
    new_id: Callable[[], str],
    **payload: Any,
) -> StoredMessage:
    """A note or timeline entry (Direction.NOTE) in the conversation's thread, never sent."""
    return StoredMessage(
        id=new_id(),
        direction=Direction.NOTE,
        resident_key=conversation.resident_key,
        conversation_id=conversation.id,
        message_type=message_type,
        body=body,
        payload=payload,
        created_at=now,
        status=DeliveryStatus.RECEIVED,
        status_at=now,
        sent_by=by,
    )


def with_person_state(bot_state: Any, team: str | None) -> dict[str, Any]:
    """The bot's state once people have the conversation: silent, remembering the language."""
    state = read_state(bot_state)
    return dataclasses.replace(state.menu(), mode=Mode.WITH_PERSON, team=team).to_dict()


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
