"""Guessing a new resident's language from their first words or their number."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from chalicelib.domain.bot.language_guess import (
    guess_language,
    language_of_phone,
    language_of_text,
)
from tests.unit.bot_definitions import town

TOWN = town()


@pytest.mark.parametrize(
    ("phone", "language"),
    [
        ("351912345678", "pt"),
        ("5511987654321", "pt"),
        ("447700900123", "en"),
        ("12025550123", "en"),
        ("34600000000", None),  # Spanish, which this town does not speak
        ("49301234567", None),
        (None, None),
        ("", None),
    ],
)
def test_by_calling_code(phone: str | None, language: str | None) -> None:
    assert language_of_phone(TOWN, phone) == language


def test_the_longest_calling_code_wins() -> None:
    codes = {"1": "en", "124": "pt"}  # a made-up split of +1
    definition = dataclasses.replace(TOWN, language_by_calling_code=codes)
    assert language_of_phone(definition, "12465550123") == "pt"
    assert language_of_phone(definition, "12025550123") == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I agree, thanks", "en"),
        ("Bem-vindo, aceito", "pt"),
        ("Olá, quero reportar um problema", "pt"),
        ("How do I report a problem?", "en"),
        ("Testville", None),  # in every language's texts
        ("qwerty", None),
        ("", None),
    ],
)
def test_by_words_of_each_languages_own_texts(text: str, language: str | None) -> None:
    assert language_of_text(TOWN, text) == language


def test_arabic_script_means_arabic_when_offered() -> None:
    assert language_of_text(TOWN, "مرحبا") is None  # not offered
    names = MappingProxyType({**TOWN.language_names, "ar": "العربية"})
    arabic = dataclasses.replace(TOWN, languages=("en", "pt", "ar"), language_names=names)
    assert language_of_text(arabic, "مرحبا، أريد تجديد رخصتي") == "ar"


def test_clear_text_beats_the_number_and_the_number_decides_otherwise() -> None:
    assert guess_language(TOWN, text="I agree", phone="351912345678") == "en"
    assert guess_language(TOWN, text="hmm", phone="351912345678") == "pt"
    assert guess_language(TOWN, text="hmm", phone="447700900123") == "en"
    assert guess_language(TOWN, text=None, phone=None) is None
