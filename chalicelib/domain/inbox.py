"""How the console's inboxes are ordered: the most urgent conversation first.

The order is a string so the DynamoDB indexes can sort on it: the moment the conversation next
needs a person (its pending SLA deadline, or when a snooze ends), in fixed-width UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.conversations import Conversation, ConversationStatus

NO_DEADLINE = "9999-12-31T23:59:59.000000Z"  # after every real moment


def sortable_time(moment: datetime) -> str:
    """Fixed-width UTC text that sorts like the moments it names (aware datetimes only)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def urgency_key(conversation: Conversation) -> str:
    """Earlier sorts first: a snoozed conversation by when it wakes, otherwise by its pending
    SLA deadline (first response until an agent answered, then resolution). Ties (every
    hand-off of a night is due 15 minutes after opening) go to who waited longest; stores
    append the id to the index key, so equal keys never come back in a random order."""
    return f"{_moment(conversation)}#{_waiting_since(conversation)}"


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
