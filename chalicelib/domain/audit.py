"""The audit log: who viewed, exported, erased or messaged a resident's data, and when.

An event names the resident by a pseudonym (`resident_ref`), never by their phone number: the
log outlives an erasure (it is the proof the erasure happened) without naming whom it was
about. The pseudonym is a keyed hash of the resident key under the stage's secret *pseudonym
key*: stable (the same resident always gets the same reference, so their history reads as one),
different per stage, and not reversible without the key. Asked "who looked at +351…?", the
service hashes the number again and looks the reference up.

Actors are written `kind:<id>`: `agent:<agent id>` (the console), `apikey:<name>` (the
back-office API), `cli:<os user>` (operator commands), `system:<job>` (scheduled work).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from chalicelib.domain.replies import MediaReply, Reply, TemplateReply, TextReply

RESIDENT_REF_LENGTH = 32  # hex characters: 128 bits of the HMAC, plenty against collisions
DETAIL_MAX_LENGTH = 500  # a longer detail is cut: the log says what happened, not the content
# Opening a conversation is recorded once per agent and conversation in this window: the console
# re-reads an open conversation every 30 seconds, and a write per poll says nothing new.
VIEW_WINDOW = timedelta(minutes=10)
DEFAULT_RETENTION_YEARS = 5  # when the configuration sets no `retention.audit`
ACTOR_KINDS = ("agent", "apikey", "cli", "system")


class AuditAction(StrEnum):
    VIEWED = "viewed"  # a conversation (messages, resident's details) was opened
    EXPORTED = "exported"  # the resident's data was exported (data rights)
    ERASED = "erased"  # the resident's data was erased (data rights)
    MESSAGED = "messaged"  # a person or system sent, or registered a message for, the resident


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One entry. `detail`: free text naming what was touched (a conversation id, a template,
    a notification id; never message text or the phone number). `counts`: numbers worth keeping
    (e.g. items erased per table)."""

    resident_ref: str
    at: datetime  # timezone-aware
    actor: str
    action: AuditAction
    detail: str | None = None
    counts: Mapping[str, int] | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.resident_ref:
            raise ValueError("an audit event needs a resident_ref")
        if self.at.tzinfo is None:
            raise ValueError("an audit event's time must be timezone-aware")
        kind, _, name = self.actor.partition(":")
        if kind not in ACTOR_KINDS or not name:
            raise ValueError(f"actor must be one of {', '.join(ACTOR_KINDS)} + ':<id>'")
        object.__setattr__(self, "action", AuditAction(self.action))
        if self.detail is not None and len(self.detail) > DETAIL_MAX_LENGTH:
            object.__setattr__(self, "detail", self.detail[: DETAIL_MAX_LENGTH - 1] + "…")
        if self.counts is not None:
            object.__setattr__(
                self, "counts", MappingProxyType({str(k): int(v) for k, v in self.counts.items()})
            )

    @property
    def fingerprint(self) -> str:
        """What makes two events the same one (same resident, moment, actor, action, detail):
        stores key entries by it, so recording the same event twice (a retried request, a
        redelivered message) keeps one entry."""
        text = "\x1f".join((self.resident_ref, self.actor, self.action.value, self.detail or ""))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def resident_ref(resident_key: str, key: bytes) -> str:
    """The resident's pseudonym: hex HMAC-SHA256 of `resident_key` ("wa:<digits>", ...) under
    the stage's pseudonym key, first RESIDENT_REF_LENGTH characters."""
    if not key:
        raise ValueError("the pseudonym key is empty")
    if not resident_key:
        raise ValueError("the resident key is empty")
    digest = hmac.new(key, resident_key.encode(), hashlib.sha256).hexdigest()
    return digest[:RESIDENT_REF_LENGTH]


def broadcast_ref(broadcast_id: str) -> str:
    """Where a broadcast's one `messaged` event is filed: a broadcast reaches thousands, and one
    event per resident would say nothing the broadcast's messages (each carries its
    `broadcast_id`) do not. Not a pseudonym: it names no resident."""
    return f"broadcast:{broadcast_id}"


def agent_actor(agent_id: str) -> str:
    return f"agent:{agent_id}"


def api_key_actor(name: str) -> str:
    return f"apikey:{name}"


def cli_actor(user: str) -> str:
    return f"cli:{user}"


def system_actor(job: str) -> str:
    return f"system:{job}"


def reply_kind(reply: Reply) -> str:
    """What a `messaged` event says was sent, never its content: "text", "template <name>",
    "image", "document", ..."""
    if isinstance(reply, TemplateReply):
        return f"template {reply.name}"
    if isinstance(reply, MediaReply):
        return reply.media_type
    if isinstance(reply, TextReply):
        return "text"
    return "message"


def viewed_recently(
    events: list[AuditEvent] | tuple[AuditEvent, ...],
    *,
    actor: str,
    detail: str | None,
    now: datetime,
    window: timedelta = VIEW_WINDOW,
) -> bool:
    """Whether `actor` already has a `viewed` event with this `detail` in the `window` before
    `now` among `events` (a resident's latest): then opening it again is not recorded."""
    return any(
        event.action is AuditAction.VIEWED
        and event.actor == actor
        and event.detail == detail
        and now - window < event.at <= now + window
        for event in events
    )
