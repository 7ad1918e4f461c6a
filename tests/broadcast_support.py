"""Residents for the broadcast tests: subscribed to a topic, unsubscribed again, or opted out by
STOP — built as the bot records them (consent given, topic subscriptions, consent history)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.residents import (
    ConsentAction,
    ConsentEvent,
    ConsentState,
    Resident,
    TopicSubscription,
)

JOINED = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def resident(
    digits: str,
    *,
    topic: str = "waste",
    subscribed: bool = True,
    unsubscribed: bool = False,
    opted_out: bool = False,
    language: str | None = "pt",
    consent: ConsentState = ConsentState.GIVEN,
    **changes: Any,
) -> Resident:
    """A resident who consented and (if `subscribed`) chose `topic`; `unsubscribed`: then left
    it again; `opted_out`: then sent STOP."""
    history = [ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=JOINED, text_version="v1")]
    subscriptions: tuple[TopicSubscription, ...] = ()
    if subscribed:
        at = JOINED + timedelta(minutes=1)
        history.append(
            ConsentEvent(action=ConsentAction.SUBSCRIBED, at=at, text_version="t1", topic=topic)
        )
        subscriptions = (TopicSubscription(topic=topic, subscribed=True, at=at, text_version="t1"),)
        if unsubscribed:
            later = at + timedelta(days=3)
            history.append(
                ConsentEvent(
                    action=ConsentAction.UNSUBSCRIBED, at=later, text_version="t1", topic=topic
                )
            )
            subscriptions = (
                TopicSubscription(topic=topic, subscribed=False, at=later, text_version="t1"),
            )
    stop_at = None
    if opted_out:
        stop_at = JOINED + timedelta(days=5)
        history.append(ConsentEvent(action=ConsentAction.OPTED_OUT, at=stop_at))
    base = Resident(
        key=f"wa:{digits}",
        wa_id=digits,
        profile_name=f"Resident {digits[-4:]}",
        language=language,
        consent=consent,
        consent_version="v1",
        consent_at=JOINED,
        opted_out=opted_out,
        opted_out_at=stop_at,
        subscriptions=subscriptions,
        consent_history=tuple(history),
        last_inbound_at=JOINED,
        created_at=JOINED,
    )
    return dataclasses.replace(base, **changes)


def town_of(count: int, *, unsubscribed: int = 0, stopped: int = 0, prefix: str = "35192") -> dict:
    """`count` residents subscribed to "waste": the first `unsubscribed` of them left the topic
    again, the next `stopped` sent STOP. Returns {"all", "expected", "excluded"} lists."""
    everyone, expected, excluded = [], [], []
    for n in range(count):
        digits = f"{prefix}{n:07d}"
        left = n < unsubscribed
        stop = unsubscribed <= n < unsubscribed + stopped
        languages = ("pt", "es", "en", "ar")
        one = resident(digits, unsubscribed=left, opted_out=stop, language=languages[n % 4])
        everyone.append(one)
        (excluded if left or stop else expected).append(one)
    return {"all": everyone, "expected": expected, "excluded": excluded}
