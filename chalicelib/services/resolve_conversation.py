"""Use case: a person resolves a resident's conversation; the resident is asked to rate it.

The satisfaction question is a reply inside the conversation, so it is only sent while
WhatsApp's 24-hour window is open and never to a resident who opted out of messages from us.
Their answer comes back as an ordinary inbound message that the bot recognises as a rating
(see engine.is_csat_answer) and records on the resolved conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.engine import ask_csat
from chalicelib.domain.bot.state import Mode
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.replies import Reply
from chalicelib.domain.residents import Resident
from chalicelib.observability import logger, mask_resident_key

if TYPE_CHECKING:
    from chalicelib.services.console_context import ConsolePorts


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation_id: str | None  # None: the resident had no open conversation
    csat_asked: bool = False


def closing_turn(
    definition: MunicipalityDefinition,
    conversation: Conversation,
    resident: Resident | None,
    now: datetime,
) -> tuple[dict[str, Any], tuple[Reply, ...]]:
    """The bot's state once the conversation is resolved, and the satisfaction question when it
    may be asked: configured, inside the window, and never to a resident who opted out."""
    csat = definition.csat
    language = (
        definition.supported_language(conversation.bot_state.get("language"))
        or definition.supported_language(resident.language if resident else None)
        or definition.default_language
    )
    ask = (
        resident is not None
        and csat is not None
        and csat.ask_after_resolution
        and not resident.opted_out
        and resident.window_open(now)
    )
    if not ask:
        return {"language": language}, ()
    turn = ask_csat(definition, language)
    return dict(turn.state), tuple(turn.replies)


def resolve_conversation(
    resident_key: str,
    *,
    resolved_by: str,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Resolution:
    """An operator resolves a resident's current conversation (`civicchat conversation
    resolve`): the console's own action, acting as an admin, so an agent who had it gets their
    capacity back and the timeline says who closed it."""
    from chalicelib.services.agent_actions import resolve

    resident, conversation = ports.residents.load(resident_key)
    if resident is None or conversation is None:
        return Resolution(conversation_id=None)
    if conversation.status is ConversationStatus.RESOLVED:
        return Resolution(conversation_id=conversation.id)
    operator = Agent(id=resolved_by, name=resolved_by, role=Role.ADMIN, teams=(), created_at=now)
    resolve(operator, conversation.id, definition=definition, ports=ports, now=now, new_id=new_id)
    resolved = ports.conversations.get(conversation.id)
    asked = resolved is not None and resolved.bot_state.get("mode") == Mode.AWAITING_CSAT.value
    logger.info(
        "conversation resolved",
        extra={
            "resident": mask_resident_key(resident.key),
            "conversation": conversation.id,
            "resolved_by": resolved_by,
            "csat_asked": asked,
        },
    )
    return Resolution(conversation_id=conversation.id, csat_asked=asked)
