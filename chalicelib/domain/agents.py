"""Municipal staff who work the console, and what each of them may see.

Sign-in (passwords, sessions) belongs to the identity provider (Cognito); the agent record keeps
what the service needs to route work: role, teams, presence and load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.conversations import Conversation

DEFAULT_CAPACITY = 5  # open conversations an agent works on at once


class Role(StrEnum):
    AGENT = "agent"  # their teams' conversations
    SUPERVISOR = "supervisor"  # every conversation, reports, escalations
    ADMIN = "admin"  # as a supervisor, and manages agents


@dataclass(frozen=True, slots=True, kw_only=True)
class Agent:
    id: str  # the sign-in e-mail, lower-cased
    name: str
    role: Role
    teams: tuple[str, ...]
    capacity: int = DEFAULT_CAPACITY
    online: bool = False
    last_seen_at: datetime | None = None
    open_count: int = 0  # conversations assigned to them and not resolved
    last_assigned_at: datetime | None = None
    disabled: bool = False
    created_at: datetime

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    def has_room(self) -> bool:
        return self.online and not self.disabled and self.open_count < self.capacity


def agent_id_for(email: str) -> str:
    return email.strip().lower()


def can_see(agent: Agent, conversation: Conversation) -> bool:
    """Agents see their teams' conversations and those assigned to them; supervisors see all."""
    if agent.disabled:
        return False
    return (
        agent.sees_all
        or conversation.assignee == agent.id
        or (conversation.team is not None and conversation.team in agent.teams)
    )
