"""A resident's consent history and topic subscriptions (domain/consent_history.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.consent_history import (
    appended,
    with_consent_event,
    with_opt_out,
    with_subscription,
)
from chalicelib.domain.residents import (
    CONSENT_HISTORY_LIMIT,
    ConsentAction,
    ConsentEvent,
    Resident,
    TopicSubscription,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
RESIDENT = Resident(key="wa:351912345678", wa_id="351912345678", created_at=NOW)


def test_a_subscription_is_kept_with_its_time_and_version_and_recorded() -> None:
    resident = with_subscription(RESIDENT, "roadworks", True, NOW, "2026-11")

    assert resident.subscriptions == (
        TopicSubscription(topic="roadworks", subscribed=True, at=NOW, text_version="2026-11"),
    )
    assert resident.consent_history == (
        ConsentEvent(
            action=ConsentAction.SUBSCRIBED, at=NOW, text_version="2026-11", topic="roadworks"
        ),
    )
    assert resident.subscribed_to("roadworks") and not resident.subscribed_to("waste")


def test_unsubscribing_replaces_the_topics_choice_in_place() -> None:
    later = NOW + timedelta(days=1)
    resident = with_subscription(RESIDENT, "waste", True, NOW, "v1")
    resident = with_subscription(resident, "culture", True, NOW, "v1")
    resident = with_subscription(resident, "waste", False, later, "v2")

    assert [(s.topic, s.subscribed, s.at, s.text_version) for s in resident.subscriptions] == [
        ("waste", False, later, "v2"),
        ("culture", True, NOW, "v1"),
    ]
    assert [(e.action, e.topic) for e in resident.consent_history] == [
        (ConsentAction.SUBSCRIBED, "waste"),
        (ConsentAction.SUBSCRIBED, "culture"),
        (ConsentAction.UNSUBSCRIBED, "waste"),
    ]
    assert not resident.subscribed_to("waste")


def test_choosing_what_is_already_so_records_nothing() -> None:
    subscribed = with_subscription(RESIDENT, "waste", True, NOW, "v1")

    assert (
        with_subscription(subscribed, "waste", True, NOW + timedelta(hours=1), "v1") is subscribed
    )
    assert with_subscription(RESIDENT, "waste", False, NOW, "v1") is RESIDENT


def test_opting_out_and_in_is_recorded_and_keeps_the_topics() -> None:
    subscribed = with_subscription(RESIDENT, "waste", True, NOW, "v1")
    stopped = with_opt_out(subscribed, True, NOW + timedelta(minutes=1))
    resumed = with_opt_out(stopped, False, NOW + timedelta(minutes=2))

    assert (stopped.opted_out, stopped.opted_out_at) == (True, NOW + timedelta(minutes=1))
    assert (resumed.opted_out, resumed.opted_out_at) == (False, NOW + timedelta(minutes=2))
    assert resumed.subscriptions == subscribed.subscriptions
    assert [e.action for e in resumed.consent_history] == [
        ConsentAction.SUBSCRIBED,
        ConsentAction.OPTED_OUT,
        ConsentAction.OPTED_IN,
    ]


def test_the_history_keeps_the_newest_events_up_to_the_limit() -> None:
    events = [
        ConsentEvent(action=ConsentAction.OPTED_OUT, at=NOW + timedelta(seconds=n))
        for n in range(CONSENT_HISTORY_LIMIT + 5)
    ]
    resident = RESIDENT
    for event in events:
        resident = with_consent_event(resident, event)

    assert len(resident.consent_history) == CONSENT_HISTORY_LIMIT
    assert resident.consent_history == tuple(events[5:])
    assert appended((), events[0]) == (events[0],)


def test_topic_changes_never_push_out_the_latest_consent_and_opt_out() -> None:
    """Many topic toggles after consent: the proof of consent and the latest STOP/START stay,
    the oldest of the rest go; the order is kept."""
    given = ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=NOW, text_version="c1")
    older_out = ConsentEvent(action=ConsentAction.OPTED_OUT, at=NOW + timedelta(seconds=1))
    back_in = ConsentEvent(action=ConsentAction.OPTED_IN, at=NOW + timedelta(seconds=2))
    toggles = [
        ConsentEvent(
            action=ConsentAction.SUBSCRIBED if n % 2 == 0 else ConsentAction.UNSUBSCRIBED,
            at=NOW + timedelta(minutes=n + 1),
            text_version="2026-11",
            topic="waste",
        )
        for n in range(CONSENT_HISTORY_LIMIT + 10)
    ]
    resident = RESIDENT
    for event in (given, older_out, back_in, *toggles):
        resident = with_consent_event(resident, event)

    history = resident.consent_history
    assert len(history) == CONSENT_HISTORY_LIMIT
    assert history[:2] == (given, back_in)  # older_out, an earlier opt event, went first
    assert history[2:] == tuple(toggles[-(CONSENT_HISTORY_LIMIT - 2) :])


def test_a_later_consent_answer_replaces_the_kept_one() -> None:
    declined = ConsentEvent(action=ConsentAction.CONSENT_DECLINED, at=NOW, text_version="c1")
    given = ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=NOW, text_version="c2")
    subscribed = ConsentEvent(action=ConsentAction.SUBSCRIBED, at=NOW, topic="waste")
    history = (declined, given, *[subscribed] * (CONSENT_HISTORY_LIMIT - 2))

    assert appended(history, subscribed) == (given, *[subscribed] * (CONSENT_HISTORY_LIMIT - 1))
