"""Use cases: who takes the conversations waiting in a team's queue, and what happens to an
agent's conversations when they go away.

Assignment is safe against races without locks: each assignment is one atomic write that
checks, at write time, that the conversation is still as read (its version) and that the agent
still has room (online, enabled, under capacity). A conflict skips that conversation or asks
the next agent; whatever is left waits for the next call — every hand-off, every agent coming
online and the SLA job each minute sweep the queues again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.domain.agents import Agent
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.routing import choose_agent
from chalicelib.domain.sla import with_next_check
from chalicelib.observability import logger
from chalicelib.services.console_context import (
    SYSTEM,
    ConsolePorts,
    NotFound,
    timeline_event,
    with_person_state,
)
from chalicelib.services.console_ports import (
    CapacityReachedError,
    ConsoleConversationStore,
    ConversationChange,
    InboxView,
)
from chalicelib.services.ports import ConcurrentUpdateError

# An online agent whose console sent nothing for this long closed it: the console sends a
# heartbeat every minute, even while its tab is hidden.
STALE_AFTER = timedelta(minutes=10)
_RETRIES = 3  # re-reads of a conversation that changed while being handed back
_TICK = timedelta(microseconds=1)  # "at or before" as "before" the next moment


def assigned_to(
    conversation: Conversation, agent_id: str, *, team: str, now: datetime
) -> Conversation:
    """The conversation as `agent_id`'s: the bot stays silent while people have it."""
    return dataclasses.replace(
        conversation,
        status=ConversationStatus.ASSIGNED,
        team=team,
        assignee=agent_id,
        assigned_at=now,
        last_agent=agent_id,
        snoozed_until=None,
        bot_state=with_person_state(conversation.bot_state, team),
        updated_at=now,
    )


def queued_for(conversation: Conversation, *, team: str, now: datetime) -> Conversation:
    """The conversation back in `team`'s queue, nobody's."""
    return dataclasses.replace(
        conversation,
        status=ConversationStatus.QUEUED,
        team=team,
        assignee=None,
        assigned_at=None,
        snoozed_until=None,
        bot_state=with_person_state(conversation.bot_state, team),
        updated_at=now,
    )


def assign_waiting(
    team: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
    limit: int = 20,
) -> list[str]:
    """Give the most urgent conversations of `team`'s queue to its agents with room, by the
    configured strategy; returns the ids assigned."""
    waiting = ports.conversations.inbox(InboxView.UNASSIGNED, team, limit=limit).items
    if not waiting:
        return []
    members = ports.agents.team_members(team)
    refused: set[str] = set()  # found full or offline at write time: not asked again this call
    assigned: list[str] = []
    for conversation in waiting:
        while True:
            agent = choose_agent(
                [member for member in members if member.id not in refused],
                definition.assignment,
                team=team,
                prefer=conversation.last_agent,
            )
            if agent is None:
                return assigned
            taken = with_next_check(
                assigned_to(conversation, agent.id, team=team, now=now), definition
            )
            event = timeline_event(
                taken,
                "assigned",
                f"assigned to {agent.name}",
                by=SYSTEM,
                now=now,
                new_id=new_id,
                agent=agent.id,
                strategy=definition.assignment,
            )
            change = ConversationChange(
                conversation=taken,
                load={agent.id: 1},
                requires_room=agent.id,
                events=(event,),
                assigned_at=now,
            )
            try:
                ports.conversations.apply(change)
            except CapacityReachedError:
                refused.add(agent.id)
                members = ports.agents.team_members(team)
                continue
            except ConcurrentUpdateError:
                break  # someone took or changed it meanwhile
            assigned.append(conversation.id)
            members = [
                _took_one(member, now) if member.id == agent.id else member for member in members
            ]
            break
    if assigned:
        logger.info("conversations assigned", extra={"team": team, "count": len(assigned)})
    return assigned


def _took_one(agent: Agent, now: datetime) -> Agent:
    return dataclasses.replace(agent, open_count=agent.open_count + 1, last_assigned_at=now)


def set_presence(
    actor: Agent,
    online: bool,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> Agent:
    """Available: the agent's teams' queues are offered to them. Away: their conversations go
    back to their teams' queues for others to take."""
    agent = ports.agents.set_online(actor.id, online, now)
    if agent is None:
        raise NotFound("no such agent")
    if online:
        for team in agent.teams:
            assign_waiting(team, definition=definition, ports=ports, now=now, new_id=new_id)
    else:
        redistribute(agent.id, definition=definition, ports=ports, now=now, new_id=new_id)
    return ports.agents.get(agent.id) or agent


def redistribute(
    agent_id: str,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
    include_snoozed: bool = False,
) -> list[str]:
    """The agent's assigned conversations go back to their teams' queues (snoozed ones stay
    theirs unless `include_snoozed`: they come back when the snooze ends), then the queues are
    offered to the others. Returns the ids handed back."""
    returned: list[str] = []
    teams: dict[str, None] = {}
    for conversation in _all_of(ports.conversations, agent_id):
        for _ in range(_RETRIES):
            if conversation.holder != agent_id or (
                conversation.status is ConversationStatus.SNOOZED and not include_snoozed
            ):
                break
            team = conversation.team or definition.fallback_team.id
            queued = with_next_check(queued_for(conversation, team=team, now=now), definition)
            event = timeline_event(
                queued,
                "returned_to_queue",
                "returned to the queue: the agent went away",
                by=SYSTEM,
                now=now,
                new_id=new_id,
                agent=agent_id,
                team=team,
            )
            try:
                ports.conversations.apply(
                    ConversationChange(conversation=queued, load={agent_id: -1}, events=(event,))
                )
            except ConcurrentUpdateError:
                fresh = ports.conversations.get(conversation.id)
                if fresh is None:
                    break
                conversation = fresh
                continue
            returned.append(conversation.id)
            teams[team] = None
            break
    for team in teams:
        assign_waiting(team, definition=definition, ports=ports, now=now, new_id=new_id)
    if returned:
        logger.info(
            "conversations returned to the queue", extra={"agent": agent_id, "count": len(returned)}
        )
    return returned


def _all_of(conversations: ConsoleConversationStore, agent_id: str) -> list[Conversation]:
    """Every conversation the agent holds, read before any is changed (changing them moves
    them out of the index being paged)."""
    held: list[Conversation] = []
    cursor: str | None = None
    while True:
        page = conversations.inbox(InboxView.MINE, agent_id, limit=100, cursor=cursor)
        held.extend(page.items)
        if page.cursor is None or not page.items:
            return held
        cursor = page.cursor


def withdraw(
    agent: Agent,
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
) -> list[str]:
    """A disabled agent holds nothing: offline, and everything they held, snoozed ones too, back
    to their teams' queues for the others. Returns the ids handed back."""
    if agent.online:
        ports.agents.set_online(agent.id, False, now)
    return redistribute(
        agent.id, definition=definition, ports=ports, now=now, new_id=new_id, include_snoozed=True
    )


def release_stale_agents(
    *,
    definition: MunicipalityDefinition,
    ports: ConsolePorts,
    now: datetime,
    new_id: Callable[[], str],
    stale_after: timedelta = STALE_AFTER,
) -> list[str]:
    """Agents who closed the console without signing off (nothing heard for `stale_after`) go
    offline; disabled agents lose whatever they held. Returns the agents released.

    Going offline is conditional on the agent still being unseen at write time: a console that
    polled since the list was read keeps its agent online and their conversations."""
    released: list[str] = []
    seen_before = now - stale_after
    for agent in ports.agents.list_all():
        stale = agent.online and (agent.last_seen_at is None or agent.last_seen_at <= seen_before)
        gone = agent.disabled and (agent.online or agent.open_count > 0)
        if not (stale or gone):
            continue
        if agent.disabled:
            returned = withdraw(agent, definition=definition, ports=ports, now=now, new_id=new_id)
        elif ports.agents.set_offline_if_unseen(agent.id, seen_before + _TICK):
            returned = redistribute(
                agent.id, definition=definition, ports=ports, now=now, new_id=new_id
            )
        else:
            continue  # seen meanwhile: still at work
        if agent.online or returned:
            released.append(agent.id)
    if released:
        logger.info("agents released", extra={"agents": released})
    return released
