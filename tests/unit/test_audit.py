"""The audit log's domain: the resident's pseudonym (a keyed hash: stable, per-stage, never the
number), the events' rules, and when opening a conversation again is not worth a new entry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.audit import (
    DETAIL_MAX_LENGTH,
    RESIDENT_REF_LENGTH,
    VIEW_WINDOW,
    AuditAction,
    AuditEvent,
    resident_ref,
    viewed_recently,
)

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_pseudonym_is_stable_for_one_key() -> None:
    assert resident_ref("wa:351912345678", KEY) == resident_ref("wa:351912345678", KEY)
    assert re.fullmatch(f"[0-9a-f]{{{RESIDENT_REF_LENGTH}}}", resident_ref("wa:1", KEY))


def test_the_pseudonym_differs_per_key_and_per_resident() -> None:
    one = resident_ref("wa:351912345678", KEY)
    assert resident_ref("wa:351912345678", b"another stage's key") != one
    assert resident_ref("wa:351912345679", KEY) != one
    assert resident_ref("bsuid:PT.123", KEY) != one


def test_the_pseudonym_never_contains_the_number() -> None:
    for digits in ("351912345678", "34600111222", "12025550123"):
        ref = resident_ref(f"wa:{digits}", KEY)
        for start in range(len(digits) - 5):
            assert digits[start : start + 6] not in ref  # not even a part of it


def test_a_pseudonym_needs_a_key_and_a_resident() -> None:
    with pytest.raises(ValueError, match="pseudonym key"):
        resident_ref("wa:351912345678", b"")
    with pytest.raises(ValueError, match="resident key"):
        resident_ref("", KEY)


def test_an_event_names_a_known_kind_of_actor() -> None:
    for actor in ("agent:a-1", "apikey:billing", "cli:maria", "system:broadcasts"):
        AuditEvent(resident_ref="r", at=NOW, actor=actor, action=AuditAction.VIEWED)
    for actor in ("ana", "agent:", "robot:x"):
        with pytest.raises(ValueError, match="actor"):
            AuditEvent(resident_ref="r", at=NOW, actor=actor, action=AuditAction.VIEWED)


def test_an_event_needs_an_aware_time_and_a_known_action() -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone"):
        AuditEvent(resident_ref="r", at=naive, actor="cli:x", action=AuditAction.VIEWED)
    event = AuditEvent(resident_ref="r", at=NOW, actor="cli:x", action="erased")  # type: ignore[arg-type]
    assert event.action is AuditAction.ERASED
    with pytest.raises(ValueError):
        AuditEvent(resident_ref="r", at=NOW, actor="cli:x", action="deleted")  # type: ignore[arg-type]


def test_a_long_detail_is_cut_and_counts_are_frozen() -> None:
    event = AuditEvent(
        resident_ref="r",
        at=NOW,
        actor="cli:x",
        action=AuditAction.ERASED,
        detail="x" * 2000,
        counts={"messages": 3},
    )
    assert len(event.detail or "") == DETAIL_MAX_LENGTH
    with pytest.raises(TypeError):
        event.counts["messages"] = 4  # type: ignore[index]


def test_the_fingerprint_tells_events_apart_but_not_repeats() -> None:
    def event(**changes: str) -> AuditEvent:
        fields = {"actor": "agent:a", "detail": "conversation c"} | changes
        return AuditEvent(resident_ref="r", at=NOW, action=AuditAction.VIEWED, **fields)

    assert event().fingerprint == event().fingerprint
    assert event(actor="agent:b").fingerprint != event().fingerprint
    assert event(detail="conversation d").fingerprint != event().fingerprint


def test_a_view_is_recorded_once_per_actor_and_thing_in_the_window() -> None:
    seen = [
        AuditEvent(
            resident_ref="r",
            at=NOW,
            actor="agent:a",
            action=AuditAction.VIEWED,
            detail="conversation c",
        ),
        AuditEvent(
            resident_ref="r",
            at=NOW + timedelta(minutes=1),
            actor="agent:b",
            action=AuditAction.MESSAGED,
            detail="conversation c",
        ),
    ]

    def again(actor: str, detail: str, after: timedelta) -> bool:
        return viewed_recently(seen, actor=actor, detail=detail, now=NOW + after)

    assert again("agent:a", "conversation c", timedelta(minutes=9))
    assert not again("agent:a", "conversation c", VIEW_WINDOW)  # the window is over
    assert not again("agent:a", "conversation d", timedelta(minutes=1))  # another conversation
    assert not again("agent:b", "conversation c", timedelta(minutes=1))  # b only messaged
