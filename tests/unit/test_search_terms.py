"""Search terms: what is indexed for messages and names, and what a typed query looks up."""

from __future__ import annotations

import pytest

from chalicelib.domain.search_terms import (
    name_terms,
    normalize,
    phone_digits,
    query_terms,
    text_terms,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Olá, CONCEIÇÃO!", "ola conceicao"),
        ("  renovación\tdel   DNI ", "renovacion del dni"),
        ("Straße", "strasse"),
        ("İstanbul", "istanbul"),
        ("café-bar_n.º 12", "cafe bar n o 12"),
        ("أَحْمَد", "احمد"),  # harakat dropped
        ("إبراهيم آمنة أحمد", "ابراهيم امنة احمد"),  # hamza forms fold to a bare alef
        ("مـحـمـد", "محمد"),  # tatweel ignored
        ("رقم ٢٠٢٦", "رقم 2026"),  # Arabic-Indic digits become 0-9
        ("Ｆｕｌｌ ｗｉｄｔｈ", "full width"),
        ("emoji 🗑️ lixo", "emoji lixo"),
        ("", ""),
        ("?!…", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_text_terms_are_distinct_words_of_three_characters() -> None:
    assert text_terms("O lixo não foi recolhido na Rua do Sol. LIXO!") == (
        "w:lixo",
        "w:nao",
        "w:foi",
        "w:recolhido",
        "w:rua",
        "w:sol",
    )


def test_text_terms_skip_short_numbers_only() -> None:
    assert text_terms("porta 12, lote 123, ano 2026, ref VNR2026") == (
        "w:porta",
        "w:lote",
        "w:ano",
        "w:2026",
        "w:ref",
        "w:vnr2026",
    )


def test_text_terms_keep_the_first_limit() -> None:
    text = " ".join(f"word{n}" for n in range(20))
    assert text_terms(text) == tuple(f"w:word{n}" for n in range(12))
    assert text_terms(text, limit=3) == ("w:word0", "w:word1", "w:word2")
    assert text_terms(text, limit=0) == ()
    assert text_terms("lixo " * 30) == ("w:lixo",)  # repeats do not use up the limit


def test_text_terms_of_nothing() -> None:
    assert text_terms(None) == ()
    assert text_terms("") == ()
    assert text_terms("ok a 12") == ()


def test_text_terms_in_arabic_and_accented_text() -> None:
    assert text_terms("أريد دفع فاتورة الماء") == ("w:اريد", "w:دفع", "w:فاتورة", "w:الماء")
    assert text_terms("Renovación del carné") == ("w:renovacion", "w:del", "w:carne")


def test_very_long_words_are_cut_the_same_way_everywhere() -> None:
    long_word = "a" * 100
    assert text_terms(long_word) == ("w:" + "a" * 64,)
    assert query_terms(long_word)[1] == "w:" + "a" * 64


def test_name_terms_are_prefixes_of_each_word() -> None:
    assert name_terms("Ana Conceição") == (
        "n:ana",
        "n:con",
        "n:conc",
        "n:conce",
        "n:concei",
        "n:conceic",
        "n:conceica",
        "n:conceicao",
    )


def test_name_prefixes_stop_at_twelve_characters() -> None:
    terms = name_terms("Vasconcelosmenezes")
    assert terms[0] == "n:vas"
    assert terms[-1] == "n:vasconcelosm"  # 12 characters
    assert len(terms) == 10


def test_name_terms_skip_short_words_and_repeats() -> None:
    assert name_terms("Jo da Silva Silva") == ("n:sil", "n:silv", "n:silva")
    assert name_terms(None) == ()
    assert name_terms("") == ()
    assert name_terms("أحمد") == ("n:احم", "n:احمد")


def test_query_terms_use_the_longest_word() -> None:
    assert query_terms("maria conceição") == ("n:conceicao", "w:conceicao")
    assert query_terms("ANA") == ("n:ana", "w:ana")
    assert query_terms("rua do sol") == ("n:rua", "w:rua")  # the first of equals
    assert query_terms("recolhimento-extraordinario") == (
        "n:extraordinar",  # 12 characters
        "w:extraordinario",
    )


def test_a_typed_name_prefix_finds_the_indexed_name() -> None:
    indexed = set(name_terms("Maria da Conceição Gonçalves"))
    for typed in ("mar", "Mari", "CONCEI", "gonc", "Gonçalves"):
        assert query_terms(typed)[0] in indexed
    assert query_terms("ahmad")[0] not in indexed


def test_a_typed_word_finds_the_indexed_message() -> None:
    indexed = set(text_terms("Quero pagar a taxa de ocupação"))
    assert query_terms("OCUPACAO")[1] in indexed
    assert query_terms("أريد")[1] in set(text_terms("أريد دفع الفاتورة"))
    assert query_terms("اريد")[1] in set(text_terms("أريد دفع الفاتورة"))


def test_query_terms_of_short_queries() -> None:
    assert query_terms("") == ()
    assert query_terms("a b 12") == ()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("+351 912 345 678", "351912345678"),
        ("912-345-678", "912345678"),
        ("(+44) 20 7946 0958", "442079460958"),
        ("123456", "123456"),
        (" 912345678 ", "912345678"),
        ("12345", None),  # too short
        ("912 345 abc", None),
        ("VNR-2026-000123", None),
        ("maria", None),
        ("", None),
        ("+-() ", None),
        ("912.345.678", None),
    ],
)
def test_phone_digits(query: str, expected: str | None) -> None:
    assert phone_digits(query) == expected
