"""Use case: an operator resolves a resident's current conversation (`civicchat conversation
resolve`) through the console's own action (`agent_actions.resolve`), which asks the resident to
rate it when WhatsApp's window is open and they did not opt out. Their answer comes back as an
ordinary inbound message that the bot recognises as a rating (see engine.is_csat_answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.state import Mode
from chalicelib.domain.conversations import ConversationStatus
from chalicelib.services.agent_actions import resolve
from chalicelib.services.console_context import ConsolePorts


@dataclass(frozen=True, slots=True)
class Resolution:
    conversation_id: str | None  # None: the resident had no open conversation
    csat_asked: bool = False


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
    resident, conversation = ports.residents.load(resident_key)
    if resident is None or conversation is None:
        return Resolution(conversation_id=None)
    if conversation.status is ConversationStatus.RESOLVED:
        return Resolution(conversation_id=conversation.id)
    operator = Agent(id=resolved_by, name=resolved_by, role=Role.ADMIN, teams=(), created_at=now)
    resolved = resolve(
        operator, conversation.id, definition=definition, ports=ports, now=now, new_id=new_id
    )
    # `resolve` logs it (by `resolved_by`) and counts it.
    asked = resolved.bot_state.get("mode") == Mode.AWAITING_CSAT.value
    return Resolution(conversation_id=conversation.id, csat_asked=asked)
