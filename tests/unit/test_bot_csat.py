"""The satisfaction question after a resolved conversation, and its answers."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib.domain.bot.engine import ask_csat, is_csat_answer
from chalicelib.domain.bot.events import CsatRated, FaqAnswered
from chalicelib.domain.replies import MenuReply, MenuRow, TextReply
from tests.unit.bot_definitions import message, send, town

TOWN = town()


def test_the_question_is_a_list_of_five_ratings() -> None:
    turn = ask_csat(TOWN, "pt")
    assert turn.replies == (
        MenuReply(
            body="Como correu?",
            button="Avaliar",
            rows=(
                MenuRow(id="csat:1", title="1 – Muito mau"),
                MenuRow(id="csat:2", title="2 – Mau"),
                MenuRow(id="csat:3", title="3 – Razoável"),
                MenuRow(id="csat:4", title="4 – Bom"),
                MenuRow(id="csat:5", title="5 – Muito bom"),
            ),
        ),
    )
    assert turn.state == {
        "v": 2,
        "mode": "awaiting_csat",
        "language": "pt",
        "ratings": ["Muito mau", "Mau", "Razoável", "Bom", "Muito bom"],
    }
    assert json.loads(json.dumps(turn.state)) == turn.state


def test_an_unknown_language_asks_in_the_default_one() -> None:
    assert ask_csat(TOWN, "de").state["language"] == "pt"
    assert ask_csat(TOWN, "en-GB").state["language"] == "en"


def test_long_labels_are_cut_to_fit_a_row() -> None:
    csat = TOWN.csat
    assert csat is not None and csat.ratings is not None
    ratings = {**csat.ratings, "en": ("Extremely disappointing!", *csat.ratings["en"][1:])}
    turn = ask_csat(town(csat=dataclasses.replace(csat, ratings=ratings)), "en")
    title = turn.replies[0].rows[0].title  # type: ignore[union-attr]
    assert title == "1 – Extremely disappoin…" and len(title) == 24


def test_without_a_question_configured_there_is_nothing_to_ask() -> None:
    with pytest.raises(ValueError, match="ratings"):
        ask_csat(town(csat=None), "en")


@pytest.mark.parametrize(
    ("fields", "score"),
    [
        ({"reply_id": "csat:4", "text": "4 – Bom"}, 4),
        ({"text": "5"}, 5),
        ({"text": " 1 "}, 1),
        ({"text": "bom"}, 4),
        ({"text": "MUITO BOM"}, 5),
        ({"text": "razoavel"}, 3),
        ({"text": "4 - Bom"}, 4),
        ({"text": "6"}, None),
        ({"text": "0"}, None),
        ({"text": "where is my ticket?"}, None),
        ({"reply_id": "csat:9"}, None),
        ({"reply_id": "faq_waste"}, None),
        ({"message_type": "sticker"}, None),
    ],
)
def test_answers(fields: dict[str, object], score: int | None) -> None:
    state = ask_csat(TOWN, "pt").state
    event = message(**fields)
    assert is_csat_answer(state, event) is (score is not None)
    turn = send(TOWN, state, event)
    if score is None:
        assert not any(isinstance(e, CsatRated) for e in turn.events)
    else:
        assert turn.events == (CsatRated(score=score),)
        assert turn.replies == (TextReply(text="Obrigado pela avaliação!"),)
        assert turn.state == {"v": 2, "language": "pt", "mode": "menu"}


def test_only_a_conversation_waiting_for_a_rating_takes_one() -> None:
    menu = {"v": 2, "language": "en", "mode": "menu"}
    assert not is_csat_answer(menu, message(reply_id="csat:5"))
    assert not is_csat_answer({}, message(text="5"))
    assert not is_csat_answer(None, message(text="5"))


def test_anything_else_is_answered_as_a_new_question() -> None:
    turn = send(TOWN, ask_csat(TOWN, "en").state, message(text="garbage"))
    assert turn.events == (FaqAnswered(faq="waste", matched_by="keywords"),)
    assert turn.state["mode"] == "menu"
