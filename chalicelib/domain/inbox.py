"""The console's inboxes: which a conversation is in, and how they are ordered (the most urgent
conversation first).

The order is a string so the DynamoDB indexes can sort on it: the moment the conversation next
needs a person (its pending SLA deadline, or when a snooze ends), in fixed-width UTC. Both stores
derive their indexes from `inbox_keys`, `inbox_sort_key` and `sla_check_key`, so they cannot
disagree about what an inbox holds or in which order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from chalicelib.domain.conversations import Conversation, ConversationStatus

NO_DEADLINE = "9999-12-31T23:59:59.000000Z"  # after every real moment
ALL_OPEN_KEY = "open"  # the ALL inbox's one key: every open conversation is under it


class InboxView(StrEnum):
    MINE = "mine"  # assigned to the agent (and their snoozed ones)
    UNASSIGNED = "unassigned"  # one team's queue, waiting for an agent
    TEAM = "team"  # everything open in one team
    ALL = "all"  # everything open (supervisors)


def inbox_keys(conversation: Conversation) -> Mapping[InboxView, str | None]:
    """For each inbox, the key under which the conversation is in it (the holder for MINE, the
    team for UNASSIGNED and TEAM, ALL_OPEN_KEY for ALL), or None when it is not in it."""
    open_with_people = conversation.is_open_with_people
    team = conversation.team if open_with_people else None
    queued = conversation.status is ConversationStatus.QUEUED
    return {
        InboxView.MINE: conversation.holder,
        InboxView.UNASSIGNED: team if queued else None,
        InboxView.TEAM: team,
        InboxView.ALL: ALL_OPEN_KEY if open_with_people else None,
    }


def in_inbox(conversation: Conversation, view: InboxView, key: str | None) -> bool:
    """Whether the conversation is in `view`'s inbox of `key` (ALL takes no key)."""
    found = inbox_keys(conversation)[view]
    return found is not None and (view is InboxView.ALL or found == key)


def sortable_time(moment: datetime) -> str:
    """Fixed-width UTC text that sorts like the moments it names (aware datetimes only)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def urgency_key(conversation: Conversation) -> str:
    """Earlier sorts first: a snoozed conversation by when it wakes, otherwise by its pending
    SLA deadline (first response until an agent answered, then resolution). Ties (every
    hand-off of a night is due 15 minutes after opening) go to who waited longest; stores
    append the id to the index key, so equal keys never come back in a random order."""
    return f"{_moment(conversation)}#{_waiting_since(conversation)}"


def inbox_sort_key(conversation: Conversation) -> str:
    """The inboxes' order as the stores sort (DynamoDB's `urgency` range key): the urgency,
    then the id, so equally urgent conversations still have one order."""
    return f"{urgency_key(conversation)}#{conversation.id}"


def sla_check_key(conversation: Conversation) -> str | None:
    """The SLA job's order (the `sla_checks` range key): the next check, then the id; None when
    the conversation needs no check."""
    if conversation.sla_next_check is None:
        return None
    return f"{sortable_time(conversation.sla_next_check)}#{conversation.id}"


def _moment(conversation: Conversation) -> str:
    if conversation.status is ConversationStatus.SNOOZED and conversation.snoozed_until:
        return sortable_time(conversation.snoozed_until)
    if conversation.first_response_at is None and conversation.first_response_due is not None:
        return sortable_time(conversation.first_response_due)
    if conversation.resolution_due is not None:
        return sortable_time(conversation.resolution_due)
    if conversation.handed_off_at is not None:
        return sortable_time(conversation.handed_off_at)  # no SLA configured: oldest first
    return NO_DEADLINE


def _waiting_since(conversation: Conversation) -> str:
    return sortable_time(conversation.handed_off_at or conversation.opened_at)
