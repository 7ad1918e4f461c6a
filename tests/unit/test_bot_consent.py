"""Consent first: nothing but the privacy question until the resident accepts it."""

from __future__ import annotations

from chalicelib.domain.bot.events import (
    ConsentDeclined,
    ConsentGiven,
    FaqAnswered,
    LanguageChosen,
)
from chalicelib.domain.replies import Button, ButtonsReply, MenuReply, TextReply
from chalicelib.domain.residents import ConsentState
from tests.unit.bot_definitions import CONSENT_VERSION, newcomer, send, town

TOWN = town()
PROMPT_EN = ButtonsReply(
    body="We keep your number. Do you agree?",
    buttons=(
        Button(id="consent:accept", title="I agree"),
        Button(id="consent:decline", title="No thanks"),
        Button(id="consent:language", title="Languages"),
    ),
)
PROMPT_PT = ButtonsReply(
    body="Guardamos o seu número. Aceita?",
    buttons=(
        Button(id="consent:accept", title="Aceito"),
        Button(id="consent:decline", title="Não aceito"),
        Button(id="consent:language", title="Idiomas"),
    ),
)


def test_the_first_message_gets_the_consent_question_in_a_guessed_language() -> None:
    turn = send(TOWN, {}, newcomer(text="when is the garbage collected?"))
    assert turn.replies == (PROMPT_EN,)  # English words beat the Portuguese number
    assert turn.events == (LanguageChosen(language="en", guessed=True),)
    assert turn.state == {"v": 2, "language": "en", "mode": "consent"}


def test_a_stored_language_is_used_without_guessing() -> None:
    turn = send(TOWN, {}, newcomer(text="garbage", resident_language="pt"))
    assert turn.replies == (PROMPT_PT,)
    assert turn.events == ()


def test_accepting_by_tap_gives_consent_the_welcome_and_the_menu() -> None:
    asked = send(TOWN, {}, newcomer(text="hi"))
    turn = send(TOWN, asked.state, newcomer(reply_id="consent:accept", text="Aceito"))
    assert turn.events == (ConsentGiven(version=CONSENT_VERSION),)
    assert turn.replies[0] == TextReply(text="Bem-vindo a Testville!")
    assert isinstance(turn.replies[1], MenuReply)
    assert turn.replies[1].body == "Como podemos ajudar?"
    assert turn.state == {"v": 2, "language": "pt", "mode": "menu"}


def test_the_accept_or_decline_label_typed_in_any_language_counts() -> None:
    state = {"v": 2, "language": "pt", "mode": "consent"}
    for text in ("I agree", "aceito", "Acepto"):  # "Acepto": one letter from "Aceito"
        turn = send(TOWN, state, newcomer(text=text))
        assert turn.events == (ConsentGiven(version=CONSENT_VERSION),), text
    for text in ("no thanks", "NÃO ACEITO", "nao aceito"):
        turn = send(TOWN, state, newcomer(text=text))
        assert turn.events == (ConsentDeclined(version=CONSENT_VERSION),), text


def test_declining_says_so_and_the_question_comes_back_on_the_next_message() -> None:
    state = {"v": 2, "language": "en", "mode": "consent"}
    turn = send(TOWN, state, newcomer(reply_id="consent:decline"))
    assert turn.events == (ConsentDeclined(version=CONSENT_VERSION),)
    assert turn.replies == (TextReply(text="Understood, we keep nothing."),)
    again = send(TOWN, turn.state, newcomer(text="garbage", consent=ConsentState.DECLINED))
    assert again.replies == (PROMPT_EN,)
    accepted = send(TOWN, turn.state,
                    newcomer(reply_id="consent:accept", consent=ConsentState.DECLINED))  # fmt: skip
    assert accepted.events == (ConsentGiven(version=CONSENT_VERSION),)


def test_changing_the_language_before_answering() -> None:
    asked = send(TOWN, {}, newcomer(text="hi"))
    listed = send(TOWN, asked.state, newcomer(reply_id="consent:language", text="Idiomas"))
    assert isinstance(listed.replies[0], MenuReply)
    assert [row.id for row in listed.replies[0].rows] == ["language:en", "language:pt"]
    assert listed.state["mode"] == "choosing_language"
    chosen = send(TOWN, listed.state, newcomer(reply_id="language:en", text="English"))
    assert chosen.events == (LanguageChosen(language="en"),)
    assert chosen.replies == (PROMPT_EN,)
    assert chosen.state == {"v": 2, "language": "en", "mode": "consent"}
    typed = send(TOWN, listed.state, newcomer(text="english"))
    assert typed.events == (LanguageChosen(language="en"),)


def test_nothing_else_is_answered_before_consent() -> None:
    state = {"v": 2, "language": "en", "mode": "consent"}
    for event in (
        newcomer(text="garbage"),
        newcomer(reply_id="faq_waste"),
        newcomer(message_type="image", media_id="m"),
        newcomer(text="english"),  # the language list was not shown
    ):
        turn = send(TOWN, state, event)
        assert turn.replies == (PROMPT_EN,)
        assert not any(isinstance(e, FaqAnswered) for e in turn.events)


def test_consent_to_an_older_notice_is_asked_again() -> None:
    state = {"v": 2, "language": "en", "mode": "menu"}
    old = newcomer(text="garbage", consent=ConsentState.GIVEN, consent_version="2025-01")
    assert send(TOWN, state, old).replies == (PROMPT_EN,)


def test_a_town_with_one_language_has_no_language_button() -> None:
    single = town(languages=("en",), default_language="en")
    turn = send(single, {}, newcomer(text="hi"))
    assert turn.replies[0].buttons == PROMPT_EN.buttons[:2]  # type: ignore[union-attr]
