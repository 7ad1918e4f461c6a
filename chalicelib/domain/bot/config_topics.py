"""Reading `topics:`, `topics_version:` and `topics_keywords:`: the broadcast topics residents
subscribe to through the bot's `choose_topics` list. Part of `config_loader`, split out to keep
each module small.

The section is optional. Without it the bot offers no topics: no menu item may start
`choose_topics`, `topics_version` and `topics_keywords` are out of place, and the topics' texts
(TOPIC_TEXT_KEYS) may be left out. With it, `topics_version` and those texts are required, and
residents need a way in: a main menu item starting `choose_topics` or a topics keyword.

A topics keyword is none of the other keywords: opt-out and opt-in ones are handled before it
(so it would never open the list), and it would hide a menu or FAQ keyword that is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_reader import ROW_DESCRIPTION, Reader, join
from chalicelib.domain.bot.definition import CHOOSE_TOPICS, FaqEntry, Topic
from chalicelib.domain.bot.matching import words
from chalicelib.domain.bot.topics import LABEL_LIMIT, SUBSCRIBED_MARK, TOPIC_ID_LIMIT

# The texts only the topics list needs (see config_loader.TEXT_KEYS).
TOPIC_TEXT_KEYS = frozenset({"topics_prompt", "subscribed", "subscribed_opted_out", "unsubscribed"})
_LABEL = (LABEL_LIMIT, f"WhatsApp list row title, less the '{SUBSCRIBED_MARK.strip()} ' mark")


@dataclass(frozen=True, slots=True)
class TopicsSection:
    topics: Mapping[str, Topic] = field(default_factory=lambda: MappingProxyType({}))
    version: str | None = None
    keywords: tuple[str, ...] = ()


def read_topics(
    reader: Reader, root: Mapping[str, Any], keywords: tuple[str, ...]
) -> TopicsSection:
    """`keywords`: `topics_keywords`, already read as a keyword list."""
    raw = root.get("topics")
    if raw is None:
        for key in ("topics_version", "topics_keywords"):
            if root.get(key) is not None:
                reader.problem(key, "given without topics")
        return TopicsSection()
    topics = _topics(reader, raw)
    version = _version(reader, root.get("topics_version"))
    if not keywords and not _menu_items_choosing_topics(root.get("main_menu")):
        reader.problem(
            "topics",
            "residents have no way to the topics: add a main_menu item with flow: "
            f"{CHOOSE_TOPICS}, or topics_keywords",
        )
    return TopicsSection(topics=topics, version=version, keywords=keywords)


def check_topics_keywords(
    reader: Reader,
    keywords: Any,
    *,
    opt_in: tuple[str, ...],
    menu: tuple[str, ...],
    faq: Mapping[str, FaqEntry],
) -> None:
    """Each topics keyword is no opt-in, menu or FAQ keyword (opt-out ones are refused as the
    list is read). `keywords`: `topics_keywords` as given, so that the paths say where."""
    others: list[tuple[str, str, tuple[str, ...]]] = [
        ("an opt-in keyword", "opt_in_keywords", opt_in),
        ("a menu keyword", "menu_keywords", menu),
        *(
            (f"a keyword of faq.{entry.id}", f"faq.{entry.id}.keywords", entry.keywords)
            for entry in faq.values()
        ),
    ]
    for i, keyword in enumerate(keywords if isinstance(keywords, list) else ()):
        if not isinstance(keyword, str):
            continue  # reported as the list is read
        for what, path, taken in others:
            if (at := _index_of(keyword, taken)) is not None:
                reader.problem(
                    join("topics_keywords", i), f"'{keyword}' is also {what} ({join(path, at)})"
                )


def _index_of(keyword: str, keywords: Iterable[str]) -> int | None:
    wanted = words(keyword)
    return next((i for i, k in enumerate(keywords) if words(k) == wanted), None)


def _menu_items_choosing_topics(main_menu: Any) -> list[int]:
    if not isinstance(main_menu, Mapping) or not isinstance(main_menu.get("items"), list):
        return []
    return [
        i
        for i, item in enumerate(main_menu["items"])
        if isinstance(item, Mapping) and item.get("flow") == CHOOSE_TOPICS
    ]


def _topics(reader: Reader, value: Any) -> Mapping[str, Topic]:
    data = reader.mapping(value, "topics")
    topics: dict[str, Topic] = {}
    if data is None:
        return MappingProxyType(topics)
    if not data:
        reader.problem("topics", "at least 1 topic is required (or leave the section out)")
    if len(data) > limits.LIST_ROWS:
        reader.problem(
            "topics", f"{len(data)} topics, at most {limits.LIST_ROWS} (one WhatsApp list)"
        )
    for key, raw in data.items():
        path = join("topics", key)
        topic_id = reader.key_identifier(key, path)
        if topic_id is not None and len(topic_id) > TOPIC_ID_LIMIT:
            reader.problem(path, f"{len(topic_id)} characters, at most {TOPIC_ID_LIMIT}")
            topic_id = None
        entry = reader.mapping(raw, path)
        if topic_id is None or entry is None:
            continue
        reader.keys(entry, path, ("label", "description"))
        label = reader.localized(entry.get("label"), f"{path}.label", limit=_LABEL)
        description = None
        if entry.get("description") is not None:
            description = reader.localized(
                entry["description"], f"{path}.description", limit=ROW_DESCRIPTION
            )
        if label is not None:
            topics[topic_id] = Topic(id=topic_id, label=label, description=description)
    return MappingProxyType(topics)


def _version(reader: Reader, value: Any) -> str | None:
    if value is None:
        reader.problem("topics_version", "missing, needed with topics (like consent.version)")
        return None
    if isinstance(value, date | int) and not isinstance(value, bool):
        value = str(value)  # YAML reads 2026-11-01 as a date and 3 as a number
    return reader.text(value, "topics_version")


def check_topics_menu(reader: Reader, main_menu: Any, topics_given: bool) -> None:
    """A main menu item may start choose_topics only when there are topics to choose."""
    if topics_given:
        return
    for i in _menu_items_choosing_topics(main_menu):
        reader.problem(
            f"main_menu.items[{i}].flow",
            f"{CHOOSE_TOPICS} needs the topics section: add topics or remove this item",
        )


def missing_topic_texts(reader: Reader, texts: Any, topics_given: bool) -> None:
    """With topics, their texts are required like every other; without, they are optional."""
    if not topics_given or not isinstance(texts, Mapping):
        return
    for key in sorted(TOPIC_TEXT_KEYS):
        if texts.get(key) is None:
            reader.problem(f"texts.{key}", "missing, needed with topics")
