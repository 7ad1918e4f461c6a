"""Keeping a resident's consent history and topic subscriptions: what they decided, when, and
the version of the text they answered (for the data export and for proving consent).

Pure functions over `Resident`; the callers are the inbound message use case (the bot's
decisions) and the stores' opt-out from Meta's `user_preferences` webhook.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime

from chalicelib.domain.residents import (
    CONSENT_HISTORY_LIMIT,
    ConsentAction,
    ConsentEvent,
    Resident,
    TopicSubscription,
)

# The proof of where a resident stands: the latest event of each group is never dropped, however
# many topic changes come after it.
_ALWAYS_KEPT = (
    frozenset({ConsentAction.CONSENT_GIVEN, ConsentAction.CONSENT_DECLINED}),
    frozenset({ConsentAction.OPTED_OUT, ConsentAction.OPTED_IN}),
)


def appended(history: tuple[ConsentEvent, ...], event: ConsentEvent) -> tuple[ConsentEvent, ...]:
    """`history` with `event` last, trimmed to CONSENT_HISTORY_LIMIT: the oldest events go first,
    except the latest consent given/declined and the latest opt-out/opt-in, which stay."""
    events = (*history, event)
    excess = len(events) - CONSENT_HISTORY_LIMIT
    if excess <= 0:
        return events
    kept = {_latest(events, actions) for actions in _ALWAYS_KEPT}
    droppable = (i for i in range(len(events)) if i not in kept)
    dropped = set(itertools.islice(droppable, excess))
    return tuple(e for i, e in enumerate(events) if i not in dropped)


def _latest(events: tuple[ConsentEvent, ...], actions: frozenset[ConsentAction]) -> int | None:
    return next((i for i in reversed(range(len(events))) if events[i].action in actions), None)


def with_consent_event(resident: Resident, event: ConsentEvent) -> Resident:
    return dataclasses.replace(resident, consent_history=appended(resident.consent_history, event))


def opt_out_event(opted_out: bool, at: datetime) -> ConsentEvent:
    action = ConsentAction.OPTED_OUT if opted_out else ConsentAction.OPTED_IN
    return ConsentEvent(action=action, at=at)


def with_opt_out(resident: Resident, opted_out: bool, at: datetime) -> Resident:
    """STOP (or Meta's "stop") / START (or "resume"), recorded; the topics are left as they are,
    so an opt-in brings back what the resident had chosen."""
    stopped = dataclasses.replace(resident, opted_out=opted_out, opted_out_at=at)
    return with_consent_event(stopped, opt_out_event(opted_out, at))


def with_subscription(
    resident: Resident, topic: str, subscribed: bool, at: datetime, text_version: str | None
) -> Resident:
    """The resident's choice for `topic` (replacing any earlier one, in place), recorded.
    Choosing what is already so changes nothing."""
    current = next((s for s in resident.subscriptions if s.topic == topic), None)
    if (current is not None and current.subscribed) == subscribed:
        return resident
    choice = TopicSubscription(topic=topic, subscribed=subscribed, at=at, text_version=text_version)
    if current is None:
        subscriptions = (*resident.subscriptions, choice)
    else:
        subscriptions = tuple(choice if s.topic == topic else s for s in resident.subscriptions)
    action = ConsentAction.SUBSCRIBED if subscribed else ConsentAction.UNSUBSCRIBED
    event = ConsentEvent(action=action, at=at, text_version=text_version, topic=topic)
    return with_consent_event(dataclasses.replace(resident, subscriptions=subscriptions), event)
