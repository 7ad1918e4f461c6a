"""`topics:`, `topics_version:` and `topics_keywords:` in a municipality's configuration: the
bundled example with one thing changed must report exactly the problems listed, with paths."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from chalicelib.domain.bot.config_loader import load_definition
from chalicelib.domain.bot.config_topics import TOPIC_TEXT_KEYS
from chalicelib.domain.bot.definition import StartFlow
from chalicelib.settings import BUNDLED_CONFIG
from tests.unit.test_config_loader import DELETE, changed, problems_of

LANGUAGES = ("pt", "es", "en", "ar")


@pytest.fixture(scope="module")
def bundled() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


def alerts_index(data: dict[str, Any]) -> int:
    items = data["main_menu"]["items"]
    return next(i for i, item in enumerate(items) if item.get("flow") == "choose_topics")


def without_topics(data: dict[str, Any], *, keep_menu_item: bool = False) -> dict[str, Any]:
    result = changed(
        data,
        (("topics",), DELETE),
        (("topics_version",), DELETE),
        (("topics_keywords",), DELETE),
        *((("texts", key), DELETE) for key in TOPIC_TEXT_KEYS),
    )
    if not keep_menu_item:
        del result["main_menu"]["items"][alerts_index(data)]
    return result


def every(text: str) -> dict[str, str]:
    return dict.fromkeys(LANGUAGES, text)


def test_the_bundled_topics(bundled: dict[str, Any]) -> None:
    town = load_definition(bundled)

    assert list(town.topics) == ["waste", "roadworks", "culture", "emergencies"]
    assert town.topics_version == "2026-11"
    assert town.topics["roadworks"].label["en"] == "Roadworks and traffic"
    assert "alerts" in town.topics_keywords
    assert StartFlow("choose_topics") in [item.action for item in town.main_menu.items]


def test_a_town_without_topics_loads_and_offers_none(bundled: dict[str, Any]) -> None:
    town = load_definition(without_topics(bundled))

    assert town.topics == {} and town.topics_version is None and town.topics_keywords == ()
    assert StartFlow("choose_topics") not in [item.action for item in town.main_menu.items]
    assert not TOPIC_TEXT_KEYS & set(town.texts)


def test_the_topics_menu_item_needs_topics(bundled: dict[str, Any]) -> None:
    data = without_topics(bundled, keep_menu_item=True)
    assert problems_of(data) == [
        f"main_menu.items[{alerts_index(bundled)}].flow: choose_topics needs the topics "
        "section: add topics or remove this item"
    ]


def test_a_version_or_keywords_without_topics(bundled: dict[str, Any]) -> None:
    data = without_topics(bundled)
    data["topics_version"] = "2026-11"
    data["topics_keywords"] = ["alerts"]
    assert problems_of(data) == [
        "topics_version: given without topics",
        "topics_keywords: given without topics",
    ]


def test_the_topics_texts_are_required_with_topics(bundled: dict[str, Any]) -> None:
    data = changed(bundled, (("texts", "subscribed"), DELETE))
    assert problems_of(data) == ["texts.subscribed: missing, needed with topics"]


TOPICS = ("topics",)
CHOOSE = "choose_topics"
ELEVEN = {f"topic_{n}": {"label": every(f"Topic {n}")} for n in range(11)}
BROKEN: list[tuple[str, list[tuple[tuple[Any, ...], Any]], list[str]]] = [
    (
        "no topics_version",
        [(("topics_version",), DELETE)],
        ["topics_version: missing, needed with topics (like consent.version)"],
    ),
    (
        "a label without room for the mark",
        [((*TOPICS, "roadworks", "label", "en"), "Roadworks and the traffic")],
        [
            "topics.roadworks.label.en: 25 characters, at most 22 "
            "(WhatsApp list row title, less the '✓ ' mark)"
        ],
    ),
    (
        "a description too long",
        [((*TOPICS, "waste", "description", "es"), "Cambios " * 10)],
        ["topics.waste.description.es: 79 characters, at most 72 (WhatsApp list row description)"],
    ),
    (
        "a missing translation",
        [((*TOPICS, "culture", "label", "ar"), DELETE)],
        ["topics.culture.label.ar: missing translation"],
    ),
    (
        "a misspelt setting and so no label",
        [((*TOPICS, "culture", "lable"), {"pt": "x"}), ((*TOPICS, "culture", "label"), DELETE)],
        ["topics.culture.lable: unknown setting", "topics.culture.label: missing"],
    ),
    (
        "a topic id that is not an identifier",
        [(TOPICS, lambda topics: {**topics, "Road Works": {"label": every("Obras")}})],
        ["topics.Road Works: 'Road Works': use lowercase letters, digits and underscores"],
    ),
    (
        "more topics than one WhatsApp list holds",
        [(TOPICS, ELEVEN)],
        ["topics: 11 topics, at most 10 (one WhatsApp list)"],
    ),
    (
        "an empty section",
        [(TOPICS, {})],
        ["topics: at least 1 topic is required (or leave the section out)"],
    ),
    (
        "a per-message placeholder the text does not get",
        [(("texts", "subscribed", "en"), "Done: {topic} for {team}.")],
        ["texts.subscribed.en: unknown placeholder {team}"],
    ),
    (
        "an opt-out keyword that would open the topics",
        [(("topics_keywords",), ["alerts", "STOP"])],
        ["topics_keywords[1]: 'STOP' is also an opt-out keyword"],
    ),
    (
        "an opt-in keyword, handled first, so it would never open the topics",
        [(("topics_keywords",), ["alerts", "start"])],
        ["topics_keywords[1]: 'start' is also an opt-in keyword (opt_in_keywords[0])"],
    ),
    (
        "a menu keyword the topics would hide",
        [(("topics_keywords",), ["Ajuda", "alerts"])],
        ["topics_keywords[0]: 'Ajuda' is also a menu keyword (menu_keywords[4])"],
    ),
    (
        "an FAQ keyword the topics would hide",
        [(("topics_keywords",), ["alerts", "Lixo"])],
        [
            "topics_keywords[1]: 'Lixo' is also a keyword of faq.waste_collection "
            "(faq.waste_collection.keywords[0])"
        ],
    ),
    (
        "no way to the topics: neither a menu item nor a keyword",
        [
            (("topics_keywords",), DELETE),
            (("main_menu", "items"), lambda items: [i for i in items if i.get("flow") != CHOOSE]),
        ],
        [
            "topics: residents have no way to the topics: add a main_menu item with flow: "
            "choose_topics, or topics_keywords"
        ],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [pytest.param(c, e, id=name) for name, c, e in BROKEN]
)
def test_a_broken_topics_section_reports_exactly_what_is_wrong(
    bundled: dict[str, Any], changes: list[tuple[tuple[Any, ...], Any]], expected: list[str]
) -> None:
    assert problems_of(changed(bundled, *changes)) == expected


def test_one_way_to_the_topics_is_enough(bundled: dict[str, Any]) -> None:
    keywords_only = changed(bundled, (("main_menu", "items"), lambda items: [
        item for item in items if item.get("flow") != CHOOSE
    ]))  # fmt: skip
    menu_only = changed(bundled, (("topics_keywords",), DELETE))

    assert load_definition(keywords_only).topics_keywords
    assert load_definition(menu_only).topics_keywords == ()


def test_a_version_yaml_reads_as_a_date_is_text(bundled: dict[str, Any]) -> None:
    data = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8").replace(
        'topics_version: "2026-11"', "topics_version: 2026-11-01"
    ))  # fmt: skip
    assert load_definition(data).topics_version == "2026-11-01"
