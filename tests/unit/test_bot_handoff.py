"""Handing a conversation to a person: which team, its languages, and when they will answer."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from chalicelib.domain.bot.definition import (
    BusinessHours,
    HandOff,
    MunicipalityDefinition,
    RoutingRule,
)
from chalicelib.domain.bot.events import HandoffRequested
from chalicelib.domain.replies import TextReply
from tests.unit.bot_definitions import (
    CHRISTMAS_EVE_EVENING,
    MENU_STATE,
    SATURDAY_EVENING,
    TUESDAY_EVENING,
    TUESDAY_MORNING,
    message,
    send,
    town,
)

TOWN = town()
HANDOFF = "A person from the front desk will answer you."


def hand_off_text(definition: MunicipalityDefinition, now: datetime, language: str = "en") -> str:
    state = {**MENU_STATE, "language": language}
    turn = send(definition, state, message(reply_id="human"), now)
    assert turn.events == (HandoffRequested(team="front_desk", reason="menu"),)
    assert turn.state == {"v": 2, "language": language, "mode": "with_person",
                          "team": "front_desk"}  # fmt: skip
    (reply,) = turn.replies
    assert isinstance(reply, TextReply)
    return reply.text


def test_in_office_hours_with_an_sla_the_resident_learns_how_soon() -> None:
    assert hand_off_text(TOWN, TUESDAY_MORNING) == f"{HANDOFF}\n\nUsually within 15 minutes."


def test_in_office_hours_without_an_sla_nothing_is_promised() -> None:
    assert hand_off_text(town(sla=None), TUESDAY_MORNING) == HANDOFF


@pytest.mark.parametrize(
    ("now", "when"),
    [
        (datetime(2026, 11, 24, 7, 0, tzinfo=UTC), "today at 09:00"),
        (TUESDAY_EVENING, "tomorrow at 09:00"),
        (SATURDAY_EVENING, "on Monday 30/11 at 09:00"),
        (CHRISTMAS_EVE_EVENING, "on Saturday 26/12 at 09:00"),  # Christmas Day is a holiday
        (datetime(2026, 7, 6, 7, 30, tzinfo=UTC), "today at 09:00"),  # 08:30 in Lisbon's summer
        (datetime(2026, 7, 6, 16, 30, tzinfo=UTC), "tomorrow at 09:00"),  # 17:30 WEST: closed
    ],
)
def test_out_of_hours_the_resident_learns_when_the_office_opens(now: datetime, when: str) -> None:
    assert hand_off_text(TOWN, now) == f"{HANDOFF}\n\nWe're closed; we open {when}."


def test_the_opening_is_told_in_the_conversations_language() -> None:
    assert hand_off_text(TOWN, SATURDAY_EVENING, "pt") == (
        "Uma pessoa de atendimento vai responder.\n\n"
        "Estamos fechados; abrimos na segunda-feira, 30/11, às 09:00."
    )


def test_without_business_hours_someone_is_always_there() -> None:
    assert hand_off_text(town(business_hours=None), SATURDAY_EVENING) == (
        f"{HANDOFF}\n\nUsually within 15 minutes."
    )


def test_when_nothing_opens_soon_no_time_is_promised() -> None:
    never = BusinessHours(weekly={})
    assert hand_off_text(town(business_hours=never), TUESDAY_MORNING) == HANDOFF


def test_a_team_that_does_not_speak_the_language_says_which_it_speaks() -> None:
    items = tuple(
        dataclasses.replace(item, action=HandOff("public_works")) if item.id == "human" else item
        for item in TOWN.main_menu.items
    )
    definition = town(main_menu=dataclasses.replace(TOWN.main_menu, items=items), sla=None)
    turn = send(definition, MENU_STATE, message(reply_id="human"), SATURDAY_EVENING)
    assert turn.replies == (
        TextReply(
            text="A person from public works will answer you.\n\nThey speak: Português.\n\n"
            "We're closed; we open on Monday 30/11 at 09:00."
        ),
    )
    assert turn.events == (HandoffRequested(team="public_works", reason="menu"),)


# -- routing rules: the team is chosen by what the resident said, their tags and language ----

ROUTED = town(
    sla=None,
    routing=(
        RoutingRule(team="public_works", text_contains=("buraco", "pothole")),
        RoutingRule(team="roads", contact_tag="contractor"),
        RoutingRule(team="roads", language="pt"),
    ),
)


def _ask_for_a_person(state: dict, **fields) -> tuple[dict, tuple]:
    turn = send(ROUTED, state, message(reply_id="human", **fields), TUESDAY_MORNING)
    return turn.state, turn.events


def test_words_the_bot_did_not_understand_route_the_hand_off() -> None:
    turn = send(ROUTED, MENU_STATE, message(text="There is a huge pothole here"), TUESDAY_MORNING)
    assert turn.state["said"] == ["There is a huge pothole here"]

    state, events = _ask_for_a_person(turn.state)
    assert events == (HandoffRequested(team="public_works", reason="menu"),)
    assert state["team"] == "public_works" and "said" not in state


def test_a_contact_tag_routes_the_hand_off() -> None:
    _, events = _ask_for_a_person(MENU_STATE, resident_tags=("contractor",))
    assert events == (HandoffRequested(team="roads", reason="menu"),)


def test_the_language_routes_the_hand_off() -> None:
    _, events = _ask_for_a_person({**MENU_STATE, "language": "pt"})
    assert events == (HandoffRequested(team="roads", reason="menu"),)


def test_without_a_matching_rule_the_menu_item_team_takes_it() -> None:
    _, events = _ask_for_a_person(MENU_STATE)
    assert events == (HandoffRequested(team="front_desk", reason="menu"),)


def test_only_the_last_unrecognised_messages_are_kept() -> None:
    state = MENU_STATE
    for text in ("first", "second", "third"):
        state = send(ROUTED, state, message(text=text), TUESDAY_MORNING).state
    assert len(state["said"]) <= 2 and state["said"][-1] == "third"
