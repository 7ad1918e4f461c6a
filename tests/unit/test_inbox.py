"""Which inboxes a conversation is in, who holds it, its inbox row's preview, and the keys the
stores sort inboxes and SLA checks by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.conversations import (
    PREVIEW_LENGTH,
    Conversation,
    ConversationStatus,
    preview_of,
)
from chalicelib.domain.inbox import (
    ALL_OPEN_KEY,
    InboxView,
    in_inbox,
    inbox_keys,
    inbox_sort_key,
    sla_check_key,
    urgency_key,
)

NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
ANA = "ana@town.example"
MINE, UNASSIGNED, TEAM, ALL = InboxView.MINE, InboxView.UNASSIGNED, InboxView.TEAM, InboxView.ALL


def conversation(status: ConversationStatus, **fields: Any) -> Conversation:
    defaults: dict[str, Any] = {
        "id": "c1",
        "resident_key": "wa:351912345678",
        "status": status,
        "team": "finance",
        "assignee": ANA,
        "opened_at": NOW,
        "updated_at": NOW,
    }
    return Conversation(**(defaults | fields))


@pytest.mark.parametrize(
    ("status", "holder", "keys"),
    [
        # A queued or resolved conversation may still name its last assignee: nobody holds it.
        (ConversationStatus.BOT, None, {MINE: None, UNASSIGNED: None, TEAM: None, ALL: None}),
        (
            ConversationStatus.QUEUED,
            None,
            {MINE: None, UNASSIGNED: "finance", TEAM: "finance", ALL: ALL_OPEN_KEY},
        ),
        (
            ConversationStatus.ASSIGNED,
            ANA,
            {MINE: ANA, UNASSIGNED: None, TEAM: "finance", ALL: ALL_OPEN_KEY},
        ),
        (
            ConversationStatus.SNOOZED,
            ANA,
            {MINE: ANA, UNASSIGNED: None, TEAM: "finance", ALL: ALL_OPEN_KEY},
        ),
        (ConversationStatus.RESOLVED, None, {MINE: None, UNASSIGNED: None, TEAM: None, ALL: None}),
    ],
)
def test_holder_and_inboxes_by_status(
    status: ConversationStatus, holder: str | None, keys: dict[InboxView, str | None]
) -> None:
    it = conversation(status)

    assert it.holder == holder
    assert dict(inbox_keys(it)) == keys
    for view, key in keys.items():
        assert in_inbox(it, view, key or "finance") is (key is not None)


def test_in_inbox_compares_the_key_except_for_all() -> None:
    assigned = conversation(ConversationStatus.ASSIGNED)

    assert in_inbox(assigned, TEAM, "finance") and not in_inbox(assigned, TEAM, "front_desk")
    assert in_inbox(assigned, MINE, ANA) and not in_inbox(assigned, MINE, "bruno@town.example")
    assert in_inbox(assigned, ALL, None)


def test_sort_keys_end_with_the_id() -> None:
    due = conversation(ConversationStatus.QUEUED, sla_next_check=NOW + timedelta(minutes=12))

    assert inbox_sort_key(due) == f"{urgency_key(due)}#c1"
    assert sla_check_key(due) == "2026-11-23T10:42:00.000000Z#c1"
    assert sla_check_key(conversation(ConversationStatus.QUEUED)) is None


def test_a_preview_is_one_short_line() -> None:
    assert preview_of("  Olá,\n  bom   dia ") == "Olá, bom dia"
    exact = "a" * PREVIEW_LENGTH
    assert preview_of(exact) == exact
    long = preview_of("palavra " * 100)
    assert len(long) == PREVIEW_LENGTH and long.endswith("…")
