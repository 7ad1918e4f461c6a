"""Storage rules the in-memory and the DynamoDB stores share, so the twins cannot drift apart:
the search index's keys, what of a turn's search terms fits in its transaction, how much `find`
reads, and the inbox arguments both refuse. Pure Python: no boto3 or PynamoDB here."""

from __future__ import annotations

from datetime import datetime

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


def check_page_request(view: InboxView, key: str | None, limit: int) -> None:
    """The inbox arguments both stores refuse alike (ValueError)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if view is not InboxView.ALL and not key:
        raise ValueError(f"the {view.value} inbox needs a key (an agent id or a team)")
