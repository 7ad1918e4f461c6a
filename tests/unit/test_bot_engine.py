"""The bot engine's order of business and its menu, on a small town built in code
(tests/unit/bot_definitions.py). Flows, hand-offs, ratings, consent and language guessing have
their own test_bot_*.py; the bundled town's golden transcripts are in test_bot_transcripts.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from chalicelib.domain.bot.engine import BotInput, BotTurn, advance
from chalicelib.domain.bot.events import (
    FaqAnswered,
    HandoffRequested,
    LanguageChosen,
    OptedIn,
    OptedOut,
)
from chalicelib.domain.replies import (
    ButtonsReply,
    MediaReply,
    MenuReply,
    Reply,
    TextReply,
)
from chalicelib.domain.residents import ConsentState
from chalicelib.domain.tickets import Location, Ticket, TicketLookup, TicketStatus
from tests.unit.bot_definitions import (
    MENU_STATE,
    TUESDAY_MORNING,
    message,
    newcomer,
    send,
    town,
)

TOWN = town()


def said(reply: Reply) -> str:
    match reply:
        case TextReply(text=text):
            return text
        case MenuReply(body=body) | ButtonsReply(body=body):
            return body
        case MediaReply(media_type=media_type, link=link):
            return f"[{media_type} {link}]"
    raise AssertionError(reply)


def conversation(turn: BotTurn) -> list[str]:
    return [said(reply) for reply in turn.replies]


def row_ids(reply: Reply) -> list[str]:
    assert isinstance(reply, MenuReply), reply
    return [row.id for row in reply.rows]


MAIN_ROWS = ["report", "status", "faq_waste", "human", "language"]


# -- the basics ---------------------------------------------------------------------------------


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        advance(TOWN, {}, message(text="hi"), datetime(2026, 11, 24, 10, 0))  # noqa: DTZ001


def test_a_new_conversation_starts_with_the_menu() -> None:
    turn = send(TOWN, {}, message(text="hi there"))
    assert conversation(turn) == ["How can we help?"]  # not "not understood": it is new
    assert row_ids(turn.replies[0]) == MAIN_ROWS
    assert turn.replies[0].button == "Options"  # type: ignore[union-attr]
    assert turn.state == {"v": 2, "language": "en", "mode": "menu"}
    assert turn.events == ()


def test_the_welcome_is_for_accepting_consent_not_for_every_new_conversation() -> None:
    turn = send(TOWN, {}, message(text="when is the garbage collected?"))
    assert conversation(turn) == [
        "Bins are emptied on Mondays.",
        "[document https://example.org/calendar.pdf]",
        "Anything else?",
    ]


def test_the_state_is_plain_json_and_versioned() -> None:
    state: dict[str, Any] = {}
    for event in (
        message(text="hi"),
        message(reply_id="report"),
        message(reply_id="choice:pothole"),
        message(text="Deep hole"),
    ):
        turn = send(TOWN, state, event)
        assert json.loads(json.dumps(turn.state)) == turn.state
        assert turn.state["v"] == 2
        assert all(type(value) in (str, int, dict) for value in turn.state.values())
        state = turn.state
    assert state == {
        "v": 2,
        "language": "en",
        "mode": "flow",
        "flow": "report_problem",
        "step": 2,
        "answers": {"category": "pothole", "description": "Deep hole"},
    }


@pytest.mark.parametrize(
    "state",
    [
        {"v": 1, "language": "en", "mode": "from_a_future_version"},
        {"node": "menu", "answers": [1, 2]},
        {"v": 2, "language": "en", "mode": "flow", "flow": "gone", "step": 0, "answers": {}},
        {"v": 2, "language": "en", "mode": "flow", "flow": "report_problem", "step": 9,
         "answers": {}},
        {"v": 2, "language": "en", "mode": "flow", "flow": "report_problem", "step": "1"},
        {"v": 2, "language": "en", "mode": "flow", "flow": "report_problem", "step": 1,
         "answers": "x"},
        {"v": 2, "language": 7, "mode": "menu", "misses": "many"},
        {"v": 2, "language": "en", "mode": "awaiting_csat", "ratings": "x"},
    ],
)  # fmt: skip
def test_unknown_or_broken_states_fall_back_to_the_menu(state: dict[str, Any]) -> None:
    turn = send(TOWN, state, message(reply_id="faq_waste"))
    assert turn.events[-1] == FaqAnswered(faq="waste", matched_by="menu")
    assert turn.state["mode"] == "menu"


def test_a_version_1_state_still_works() -> None:
    turn = send(TOWN, {"v": 1, "language": "pt", "mode": "choosing_language"},
                message(reply_id="language:en"))  # fmt: skip
    assert turn.events == (LanguageChosen(language="en"),)
    silent = {"v": 1, "language": "pt", "mode": "with_person", "team": "front_desk"}
    assert send(TOWN, silent, message(text="hello?")) == BotTurn(state=silent)


def test_the_input_state_is_not_changed() -> None:
    state = {"v": 2, "language": "en", "mode": "menu", "misses": 1}
    before = json.dumps(state)
    send(TOWN, state, message(text="qwerty"))
    assert json.dumps(state) == before


# -- language -------------------------------------------------------------------------------------


def test_the_conversation_keeps_its_language_over_the_residents_stored_one() -> None:
    turn = send(TOWN, {"v": 2, "language": "pt", "mode": "menu"}, message(text="???"))
    assert conversation(turn) == ["Desculpe, não percebi."]


def test_a_language_the_town_no_longer_offers_falls_back_to_the_residents() -> None:
    turn = send(TOWN, {"v": 2, "language": "fr", "mode": "menu"}, message(text="???"))
    assert turn.state["language"] == "en"
    assert turn.events == ()


def test_without_any_language_one_is_guessed_and_recorded() -> None:
    turn = send(TOWN, {}, message(text="hi", resident_language="de", resident_phone="447700900"))
    assert turn.events == (LanguageChosen(language="en", guessed=True),)
    assert turn.state["language"] == "en"
    turn = send(TOWN, {}, message(text="hi", resident_language=None, resident_phone=None))
    assert turn.events == (LanguageChosen(language="pt", guessed=True),)  # the default


def test_the_language_list_and_choosing_from_it() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="language"))
    assert conversation(turn) == ["Which language?"]
    assert row_ids(turn.replies[0]) == ["language:en", "language:pt"]
    assert turn.replies[0].button == "Languages"  # type: ignore[union-attr]
    assert turn.state["mode"] == "choosing_language"
    chosen = send(TOWN, turn.state, message(text="portugues"))
    assert chosen.events == (LanguageChosen(language="pt"),)
    assert conversation(chosen) == ["Como podemos ajudar?"]
    assert chosen.state == {"v": 2, "language": "pt", "mode": "menu"}


def test_a_language_typed_outside_the_list_is_not_a_choice() -> None:
    turn = send(TOWN, MENU_STATE, message(text="Português"))
    assert turn.events == ()


def test_an_unknown_language_row_is_not_understood() -> None:
    state = {"v": 2, "language": "en", "mode": "choosing_language"}
    turn = send(TOWN, state, message(reply_id="language:xx", text="Klingon"))
    assert turn.events == ()
    assert conversation(turn) == ["Sorry, I didn't get that."]


# -- opt-out and opt-in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        {},
        MENU_STATE,
        {"v": 2, "language": "en", "mode": "with_person", "team": "front_desk"},
        {"v": 2, "language": "en", "mode": "flow", "flow": "report_problem", "step": 1,
         "answers": {"category": "pothole"}},
        {"v": 2, "language": "en", "mode": "awaiting_csat", "ratings": ["a", "b", "c", "d", "e"]},
    ],
    ids=["new", "menu", "with_person", "flow", "csat"],
)  # fmt: skip
def test_stop_and_start_work_in_every_mode_and_keep_the_state(state: dict[str, Any]) -> None:
    stop = send(TOWN, state, message(text=" stop! "))
    assert stop.events == (OptedOut(keyword="STOP"),)
    assert conversation(stop) == ["You won't get our notices any more."]
    assert stop.state == state
    start = send(TOWN, state, message(text="Start"))
    assert start.events == (OptedIn(keyword="START"),)
    assert conversation(start) == ["Notices are back on."]
    assert start.state == state


def test_stop_works_before_consent_in_the_guessed_language() -> None:
    turn = send(TOWN, {}, newcomer(text="PARAR"))
    assert turn.events == (OptedOut(keyword="PARAR"),)
    assert conversation(turn) == ["Deixa de receber os avisos."]  # a Portuguese number
    assert turn.state == {}


def test_opt_out_words_inside_a_sentence_or_with_typos_do_not_opt_out() -> None:
    for text in ("please stop the noise", "stpo", "STOPP"):
        turn = send(TOWN, MENU_STATE, message(text=text))
        assert not any(isinstance(e, OptedOut) for e in turn.events), text


def test_a_tapped_button_titled_stop_is_not_an_opt_out() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="x", text="STOP"))
    assert turn.events == ()


# -- with a person ---------------------------------------------------------------------------------


def test_handed_off_conversations_stay_silent_and_unchanged() -> None:
    state = {"v": 2, "language": "pt", "mode": "with_person", "team": "front_desk"}
    for event in (
        message(text="Olá"),
        message(reply_id="language:en"),
        message(message_type="location", location=Location(latitude=1, longitude=2)),
        newcomer(text="hello"),
        message(reply_id="csat:5"),
    ):
        assert send(TOWN, state, event) == BotTurn(state=state)


# -- the menu -------------------------------------------------------------------------------------


def test_menu_options_by_tap_and_by_typed_label_in_any_language() -> None:
    for event in (
        message(reply_id="faq_waste", text="Waste collection"),
        message(text="waste collection"),
        message(text="RECOLHA DO LIXO"),
        message(text="Waste colection"),  # one typo
    ):
        turn = send(TOWN, MENU_STATE, event)
        assert turn.events == (FaqAnswered(faq="waste", matched_by="menu"),), event.text


def test_an_faq_answer_with_a_link_previews_it() -> None:
    turn = send(TOWN, MENU_STATE, message(text="renew my licence"))
    assert turn.replies[0] == TextReply(text="Renew at https://example.org/renew", preview_url=True)
    assert turn.events == (FaqAnswered(faq="documents", matched_by="keywords"),)


@pytest.mark.parametrize(
    ("text", "faq"),
    [
        ("GARBAGE please", "waste"),
        ("garbgae", "waste"),  # two letters swapped
        ("rubish", "waste"),  # one letter missing
        ("a recolhaa", "waste"),
        ("bulky item", "waste"),  # a phrase, each long word forgiving a typo
        ("bulky", None),  # a phrase needs all its words
        ("lixeira", None),  # whole words only
        ("lxo", None),  # four letters: no typo allowed
        ("renew my rubbish licence", "documents"),  # more keywords of documents
        ("rubbish renew", "waste"),  # a tie: the first FAQ listed wins
        ("rubbish renw", "waste"),
        ("garbge renew", "documents"),  # a tie on found keywords; the exact match wins
    ],
)
def test_faq_keywords(text: str, faq: str | None) -> None:
    turn = send(TOWN, MENU_STATE, message(text=text))
    expected = (FaqAnswered(faq=faq, matched_by="keywords"),) if faq else ()
    assert turn.events == expected


def test_a_menu_keyword_brings_the_menu_back() -> None:
    turn = send(TOWN, {**MENU_STATE, "misses": 1}, message(text="help me"))
    assert conversation(turn) == ["How can we help?"]
    assert turn.state == MENU_STATE


def test_a_photo_sticker_voice_note_or_reaction_gets_the_menu_saying_only_text_is_read() -> None:
    for message_type in ("image", "sticker", "audio", "reaction", "video", "location"):
        event = message(message_type=message_type, media_id="m1", text="garbage here")
        turn = send(TOWN, {**MENU_STATE, "misses": 1}, event)
        assert conversation(turn) == ["I can only read written messages here."], message_type
        assert row_ids(turn.replies[0]) == MAIN_ROWS
        assert turn.events == ()  # a caption is not a question
        assert turn.state["misses"] == 1


def test_a_ticket_reference_typed_in_the_menu_tells_its_status() -> None:
    ticket = Ticket(
        reference="VNR-2026-000042",
        resident_key="wa:1",
        conversation_id="c1",
        flow="report_problem",
        category="pothole",
        status=TicketStatus.IN_PROGRESS,
        created_at=datetime.fromisoformat("2026-11-20T23:30:00+00:00"),
        updated_at=TUESDAY_MORNING,
    )
    lookup = TicketLookup(reference="VNR-2026-000042", ticket=ticket)
    turn = send(TOWN, MENU_STATE, message(text="how is vnr 2026 42?", ticket_lookup=lookup))
    assert conversation(turn) == [
        "VNR-2026-000042 (Pothole, 20/11/2026): Being handled.",
        "Anything else?",
    ]
    missing = TicketLookup(reference="VNR-2026-000043", ticket=None)
    turn = send(TOWN, MENU_STATE, message(text="VNR-2026-000043", ticket_lookup=missing))
    assert conversation(turn) == ["I can't find VNR-2026-000043.", "Anything else?"]


# -- not understood, twice: offer a person ------------------------------------------------------


def test_the_second_miss_in_a_row_offers_a_person() -> None:
    first = send(TOWN, MENU_STATE, message(text="qwerty"))
    assert conversation(first) == ["Sorry, I didn't get that."]
    assert row_ids(first.replies[0]) == MAIN_ROWS
    assert first.state["misses"] == 1
    second = send(TOWN, first.state, message(text="asdf"))
    assert isinstance(second.replies[0], ButtonsReply)
    assert conversation(second) == ["Shall I pass you to a person?"]
    buttons = second.replies[0].buttons  # type: ignore[union-attr]
    assert [(b.id, b.title) for b in buttons] == [
        ("offer:person", "Talk to a person"),
        ("offer:menu", "Back to menu"),
    ]
    third = send(TOWN, second.state, message(text="zxcv"))
    assert conversation(third) == ["Shall I pass you to a person?"]


def test_a_recognised_message_resets_the_misses() -> None:
    first = send(TOWN, MENU_STATE, message(text="qwerty"))
    answered = send(TOWN, first.state, message(text="garbage"))
    assert "misses" not in answered.state
    again = send(TOWN, answered.state, message(text="qwerty"))
    assert conversation(again) == ["Sorry, I didn't get that."]


def test_accepting_the_offer_hands_off_to_the_menus_person_team() -> None:
    offered = {**MENU_STATE, "misses": 2}
    for event in (message(reply_id="offer:person"), message(text="talk to a person")):
        turn = send(TOWN, offered, event)
        assert turn.events == (HandoffRequested(team="front_desk", reason="not_understood"),)
        assert turn.state == {"v": 2, "language": "en", "mode": "with_person",
                              "team": "front_desk"}  # fmt: skip


def test_without_a_person_in_the_menu_the_offer_goes_to_the_first_team() -> None:
    menu = replace(TOWN.main_menu, items=tuple(i for i in TOWN.main_menu.items if i.id != "human"))
    teams = {"roads": TOWN.teams["roads"], **TOWN.teams}
    turn = send(town(main_menu=menu, teams=teams), {**MENU_STATE, "misses": 2},
                message(reply_id="offer:person"))  # fmt: skip
    assert turn.events == (HandoffRequested(team="roads", reason="not_understood"),)


def test_declining_the_offer_shows_the_menu() -> None:
    turn = send(TOWN, {**MENU_STATE, "misses": 2}, message(text="back to menu"))
    assert conversation(turn) == ["How can we help?"]
    assert turn.state == MENU_STATE


def test_a_stale_consent_tap_after_consenting_shows_the_menu() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="consent:accept", text="I agree"))
    assert conversation(turn) == ["How can we help?"]
    assert turn.events == ()


def test_bot_input_and_turn_are_frozen() -> None:
    event = BotInput(message_type="text", text="hi")
    with pytest.raises(AttributeError):
        event.text = "changed"  # type: ignore[misc]
    assert replace(event, text="x").text == "x"
    assert event.text == "hi"  # replace made a copy
    assert event.consent is ConsentState.UNKNOWN
    turn = send(TOWN, MENU_STATE, message(text="hi"))
    with pytest.raises(AttributeError):
        turn.replies = ()  # type: ignore[misc]


def test_a_tap_on_a_reminders_button_reaches_a_person() -> None:
    tap = message(message_type="button", text="More info", reply_id="reminder|rem|lic-1|-42")
    turn = send(TOWN, MENU_STATE, tap)
    assert turn.events == (HandoffRequested(team="front_desk", reason="reminder"),)
    assert turn.state["mode"] == "with_person"
