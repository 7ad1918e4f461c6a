"""Use cases for operators: see what the senders gave up on, and send it again."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.messages import Priority, StoredMessage
from chalicelib.services.ports import MessageStore, OutboundQueue


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    message_ids: tuple[str, ...]
    reason: str  # ours, or "exceeded the queue's receive count" when SQS moved it
    handle: Any  # the adapter's way to remove it


class DeadLetterQueue(Protocol):
    def peek(self, priority: Priority, limit: int) -> list[DeadLetter]:
        """What is parked, without taking it off the queue."""
        ...

    def remove(self, priority: Priority, letter: DeadLetter) -> None: ...


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    letter: DeadLetter
    messages: tuple[StoredMessage, ...]


def list_dead_letters(
    dead_letters: DeadLetterQueue, messages: MessageStore, priority: Priority, limit: int = 100
) -> list[DeadLetterView]:
    return [
        DeadLetterView(letter, tuple(messages.get_many(letter.message_ids)))
        for letter in dead_letters.peek(priority, limit)
    ]


def replay_dead_letters(
    dead_letters: DeadLetterQueue,
    messages: MessageStore,
    outbound: OutboundQueue,
    priority: Priority,
    now: datetime,
    *,
    only: Collection[str] = (),
    limit: int = 1000,
) -> list[str]:
    """Queue parked messages again with a clean attempt count; returns the message ids sent
    back. `only` limits it to those message ids. A message that was sent meanwhile stays sent:
    its claim refuses a second send."""
    replayed: list[str] = []
    for letter in dead_letters.peek(priority, limit):
        if only and not set(letter.message_ids) & set(only):
            continue
        ids: Sequence[str] = [
            message.id
            for message in messages.get_many(letter.message_ids)
            if messages.requeue(message.id, now) is not None
        ]
        if ids:
            outbound.enqueue(ids, priority)
            replayed.extend(ids)
        dead_letters.remove(priority, letter)
    return replayed
