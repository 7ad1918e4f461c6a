"""Storage rules the in-memory and the DynamoDB stores share, so the twins cannot drift apart:
the search index's keys, what of a turn's search terms fits in its transaction, how much `find`
reads, the page arguments both refuse, how a cursor is written, and when a stored message,
conversation, ticket, obligation, reminder or notification expires (the retention's TTL). Pure
Python: no boto3 or PynamoDB here."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.inbox import InboxView, sortable_time
from chalicelib.services.ports import InboundTurn, SearchTerm

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.domain.bot.definition import Period, Retention
    from chalicelib.domain.conversations import Conversation
    from chalicelib.domain.messages import StoredMessage
    from chalicelib.domain.obligations import Notification, Obligation, ScheduledReminder
    from chalicelib.domain.tickets import Ticket

    # The config's `retention:` (None: everything kept until deleted), asked for on the first
    # write that needs it: a store that never writes those items never loads the config.
    RetentionSource = Callable[[], Retention | None]

TRANSACTION_LIMIT = 100  # items in one DynamoDB TransactWriteItems
TURN_FIXED_ITEMS = 3  # a turn always writes its inbound message, resident and conversation
FIND_READ_FACTOR = 4  # find() reads at most limit × this many index entries (one Query)


def search_entry(at: datetime, conversation_id: str) -> str:
    """A search index entry's sort key (the `search` table's range key): newest sorts last,
    one per (moment, conversation)."""
    return f"{sortable_time(at)}#{conversation_id}"


def search_terms_that_fit(turn: InboundTurn) -> list[tuple[str, str, SearchTerm]]:
    """(term, entry, SearchTerm) for each index entry the turn writes: each (term, entry) once
    (a transaction may not touch an item twice), and only as many as fit beside the turn's
    other items. The index is derived data: terms left out do not fail the turn."""
    room = TRANSACTION_LIMIT - TURN_FIXED_ITEMS - len(turn.replies) - len(turn.tickets)
    entries: dict[tuple[str, str], SearchTerm] = {}
    for term in turn.search_terms:
        entries.setdefault((term.term, search_entry(term.at, term.conversation_id)), term)
    return [(term, entry, found) for (term, entry), found in entries.items()][: max(room, 0)]


def check_limit(limit: int) -> None:
    """A page holds at least one item (ValueError)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def check_page_request(view: InboxView, key: str | None, limit: int) -> None:
    """The inbox arguments both stores refuse alike (ValueError)."""
    check_limit(limit)
    if view is not InboxView.ALL and not key:
        raise ValueError(f"the {view.value} inbox needs a key (an agent id or a team)")


def encode_cursor(position: Any) -> str:
    """An opaque page cursor: `position` (JSON-ready) as unpadded base64url JSON."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The position `encode_cursor` wrote; ValueError when `cursor` is not one. The caller
    still checks that it belongs to the list asked for."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise ValueError(f"not a cursor of this list: {cursor!r}") from error


# --- retention (the stores stamp the TTL attributes, so every writer gets them) ---------------


def _messages_period(retention: Retention | None) -> Period | None:
    return retention.messages if retention is not None else None


def with_expiry(message: StoredMessage, retention: Retention | None) -> StoredMessage:
    """`message` with `expires_at` = `retention.messages` after its creation, unless it has
    one already (or messages are kept until deleted)."""
    period = _messages_period(retention)
    if period is None or message.expires_at is not None:
        return message
    return dataclasses.replace(message, expires_at=period.after(message.created_at))


def conversation_expiry(conversation: Conversation, retention: Retention | None) -> datetime | None:
    """When a conversation may go: `retention.messages` after its latest moment, so it never
    outlives the messages in it (each expires that long after its own creation)."""
    period = _messages_period(retention)
    if period is None:
        return None
    moments = [conversation.opened_at, conversation.updated_at]
    moments += [m for m in (conversation.last_message_at, conversation.last_inbound_at) if m]
    return period.after(max(moments))


def end_of_day(day: date) -> datetime:
    """The first moment (UTC) after `day`: an obligation's due date is over then."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def obligation_expiry(obligation: Obligation, retention: Retention | None) -> datetime | None:
    """`retention.messages` after the obligation's due date: its reminders went out by then
    and the back office has had its answer; kept until deleted when messages are."""
    period = _messages_period(retention)
    return None if period is None else period.after(end_of_day(obligation.due_date))


def reminder_expiry(
    reminder: ScheduledReminder, obligation: Obligation, retention: Retention | None
) -> datetime | None:
    """`retention.messages` after the later of its send time and its obligation's due date: a
    reminder (with its copy of the obligation) never outlives the obligation it belongs to."""
    period = _messages_period(retention)
    if period is None:
        return None
    return period.after(max(reminder.send_at, end_of_day(obligation.due_date)))


def notification_expiry(notification: Notification, retention: Retention | None) -> datetime | None:
    """`retention.messages` after its send time, like the message it became."""
    period = _messages_period(retention)
    return None if period is None else period.after(notification.send_at)


def ticket_expiry(ticket: Ticket, retention: Retention | None) -> datetime | None:
    """`retention.tickets` after the ticket's last change (None: kept until deleted)."""
    period = retention.tickets if retention is not None else None
    return None if period is None else period.after(ticket.updated_at)
