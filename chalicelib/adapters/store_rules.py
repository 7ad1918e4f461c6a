"""Storage rules the in-memory and the DynamoDB stores share, so the twins cannot drift apart:
the search index's keys, what of a turn's search terms fits in its transaction, how much `find`
reads, the page arguments both refuse, and how a cursor is written. Pure Python: no boto3 or
PynamoDB here."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from chalicelib.domain.inbox import InboxView, sortable_time
from chalicelib.services.ports import InboundTurn, SearchTerm

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
