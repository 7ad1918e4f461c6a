"""Typed reading of plain configuration data that records problems instead of stopping at the
first: each reader returns None (or an empty value) when the data is wrong, and the caller
carries on so that one run reports everything."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from types import MappingProxyType, UnionType
from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.definition import Localized, Period, TimeRange
from chalicelib.domain.bot.errors import ConfigProblem
from chalicelib.domain.bot.matching import words

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")
_DURATION = re.compile(r"^([+-]?)(\d+)\s*([mhdw])$")
_PERIOD = re.compile(r"^(\d+)\s*(day|week|month|year)s?$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

TIME_RANGE_FORMAT = 'expected "HH:MM-HH:MM"'

Limit = tuple[int, str]  # (characters, the WhatsApp element that imposes it)
TEXT_MESSAGE: Limit = (limits.TEXT_BODY, "WhatsApp text message")
LIST_BODY: Limit = (limits.INTERACTIVE_BODY, "WhatsApp list body")
BUTTONS_BODY: Limit = (limits.INTERACTIVE_BODY, "WhatsApp buttons body")
LIST_BUTTON: Limit = (limits.LIST_BUTTON, "WhatsApp list button label")
ROW_TITLE: Limit = (limits.ROW_TITLE, "WhatsApp list row title")
ROW_DESCRIPTION: Limit = (limits.ROW_DESCRIPTION, "WhatsApp list row description")
BUTTON_TITLE: Limit = (limits.BUTTON_TITLE, "WhatsApp reply button title")
CAPTION: Limit = (limits.MEDIA_CAPTION, "WhatsApp media caption")


def join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _describe(value: object) -> str:
    # YAML turns unquoted yes/no/on/off into booleans and 800000000 or 09:00 into numbers.
    if isinstance(value, bool):
        return f"{str(value).lower()} (put it in quotes if it is a text)"
    if isinstance(value, int | float):
        return f"the number {value} (put it in quotes if it is a text)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:37] + "...")
    return repr(value)


class Reader:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.languages: tuple[str, ...] = ()
        self.values: dict[str, str] = {}  # placeholders filled when loading

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def missing(self, path: str) -> None:
        self.problem(path, "missing")

    def wrong(self, path: str, expected: str, value: Any) -> None:
        if value is None:
            self.problem(path, "missing")
        else:
            self.problem(path, f"expected {expected}, got {_describe(value)}")

    # -- shapes ------------------------------------------------------------------------------

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.wrong(path, "a mapping", value)
        return None

    def sequence(self, value: Any, path: str) -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        self.wrong(path, "a list", value)
        return []

    def keys(
        self, data: Mapping[str, Any], path: str, allowed: Collection[str], *, what: str = "setting"
    ) -> None:
        for key in data:
            if key not in allowed:
                self.problem(join(path, key), f"unknown {what}")

    # -- scalars -----------------------------------------------------------------------------

    def text(self, value: Any, path: str) -> str | None:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, str):
            self.problem(path, "empty text")
        else:
            self.wrong(path, "text", value)
        return None

    def identifier(self, value: Any, path: str) -> str | None:
        text = self.text(value, path)
        if text is not None and not IDENTIFIER.match(text):
            self.problem(path, f"'{text}': use lowercase letters, digits and underscores")
            return None
        return text

    def key_identifier(self, key: Any, path: str) -> str | None:
        """A mapping key used as an id (a team, an FAQ, a flow)."""
        if isinstance(key, str) and IDENTIFIER.match(key):
            return key
        self.problem(path, f"'{key}': use lowercase letters, digits and underscores")
        return None

    def flag(self, value: Any, path: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.wrong(path, "true or false", value)
        return None

    def choice(self, value: Any, path: str, options: Iterable[str]) -> str | None:
        options = tuple(options)
        text = self.text(value, path)
        if text is not None and text not in options:
            self.problem(path, f"'{text}' is not one of {', '.join(options)}")
            return None
        return text

    def language(self, value: Any, path: str) -> str | None:
        code = self.text(value, path)
        if code is not None and self.languages and code not in self.languages:
            self.problem(path, f"'{code}' is not in municipality.languages")
            return None
        return code

    def text_list(self, value: Any, path: str) -> tuple[str, ...]:
        return self._each(value, path, self.text)

    def language_list(self, value: Any, path: str) -> tuple[str, ...]:
        return self._each(value, path, self.language)

    def _each(
        self, value: Any, path: str, read: Callable[[Any, str], str | None]
    ) -> tuple[str, ...]:
        items = (read(item, join(path, i)) for i, item in enumerate(self.sequence(value, path)))
        return tuple(item for item in items if item is not None)

    def time_range(self, value: Any, path: str) -> TimeRange | None:
        if value is None:
            return self.missing(path)
        match = _TIME_RANGE.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(path, TIME_RANGE_FORMAT)
            return None
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            self.problem(path, f"{TIME_RANGE_FORMAT}, with hours 00-23 and minutes 00-59")
            return None
        start, end = time(h1, m1), time(h2, m2)
        if start >= end:
            self.problem(path, f"starts at {start:%H:%M}, not before it ends at {end:%H:%M}")
            return None
        return TimeRange(start, end)

    def day(self, value: Any, path: str) -> date | None:
        if value is None:
            return self.missing(path)
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.problem(path, "expected a date YYYY-MM-DD")
        return None

    def duration(self, value: Any, path: str, *, signed: bool = False) -> timedelta | None:
        if value is None:
            return self.missing(path)
        match = _DURATION.match(value.strip()) if isinstance(value, str) else None
        if match is None or (match.group(1) and not signed):
            example = '"-7d" or "+3d"' if signed else '"15m", "4h" or "2d"'
            self.problem(path, f"expected a duration like {example}")
            return None
        sign, amount, unit = match.groups()
        delta = timedelta(**{_DURATION_UNITS[unit]: int(amount)})
        return -delta if sign == "-" else delta

    def period(self, value: Any, path: str) -> Period | None:
        if value is None:
            return self.missing(path)
        match = _PERIOD.match(value.strip()) if isinstance(value, str) else None
        if match is None or int(match.group(1)) == 0:
            self.problem(path, 'expected a period like "24 months" or "5 years"')
            return None
        return Period(int(match.group(1)), match.group(2) + "s")

    def percentage(self, value: Any, path: str) -> float | None:
        if value is None:
            return self.missing(path)
        text = value.strip() if isinstance(value, str) else ""
        if text.endswith("%") and text[:-1].strip().isdigit() and 0 < int(text[:-1]) <= 100:
            return int(text[:-1]) / 100
        self.problem(path, 'expected a percentage like "80%"')
        return None

    # -- residents' texts ----------------------------------------------------------------------

    def fill(self, text: str, path: str, runtime: Collection[str] = ()) -> str:
        """Replace load-time {placeholders} (from `municipality:`); leave the runtime ones."""

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in runtime:
                return match.group(0)
            if name in self.values:
                return self.values[name]
            self.problem(path, f"unknown placeholder {{{name}}}")
            return match.group(0)

        return PLACEHOLDER.sub(replace, text)

    def check_length(self, text: str, path: str, limit: Limit | None) -> None:
        if limit is not None and len(text) > limit[0]:
            self.problem(path, f"{len(text)} characters, at most {limit[0]} ({limit[1]})")

    def localized(
        self,
        value: Any,
        path: str,
        *,
        limit: Limit | None = None,
        runtime: Collection[str] = (),
    ) -> Localized | None:
        """A text in every configured language, placeholders filled, within `limit`."""
        data = self.per_language(value, path, single=str, noun="text")
        if data is None:
            return None
        texts: dict[str, str] = {}
        for language in self.languages:
            where = join(path, language)
            raw = data.get(language)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                self.problem(where, "missing translation")
                continue
            text = self.text(raw, where)
            if text is None:
                continue
            text = self.fill(text, where, runtime)
            self.check_length(text, where, limit)
            texts[language] = text
        self.only_our_languages(data, path)
        return MappingProxyType(texts)

    def localized_list(
        self,
        value: Any,
        path: str,
        *,
        count: int,
        noun: str,
        order: str,
        limit: Limit | None = None,
    ) -> Mapping[str, tuple[str, ...]] | None:
        """Exactly `count` texts in every language; `noun` and `order` ("name", "Monday first")
        explain the count when it is wrong."""
        data = self.per_language(value, path, single=list | tuple, noun="list")
        if data is None:
            return None
        lists: dict[str, tuple[str, ...]] = {}
        for language in self.languages:
            where = join(path, language)
            raw = data.get(language)
            if raw is None or raw == []:
                self.problem(where, "missing translation")
                continue
            items = self.sequence(raw, where)
            texts = []
            for i, item in enumerate(items):
                text = self.text(item, join(where, i))
                if text is not None:
                    text = self.fill(text, join(where, i))
                    self.check_length(text, join(where, i), limit)
                    texts.append(text)
            if items and len(items) != count:
                plural = "" if len(items) == 1 else "s"
                self.problem(
                    where, f"{len(items)} {noun}{plural}, exactly {count} are needed ({order})"
                )
            elif len(texts) == count:
                lists[language] = tuple(texts)
        self.only_our_languages(data, path)
        return MappingProxyType(lists)

    def per_language(
        self, value: Any, path: str, *, single: type | UnionType, noun: str
    ) -> Mapping[str, Any] | None:
        """A mapping by language; a lone `single` value (one `noun` for all) is reported."""
        if isinstance(value, single):
            languages = ", ".join(self.languages) or "each language"
            self.problem(
                path, f"expected one {noun} per language ({languages}), got a single {noun}"
            )
            return None
        return self.mapping(value, path)

    def only_our_languages(self, data: Mapping[str, Any], path: str) -> None:
        for language in data:
            if self.languages and language not in self.languages:
                self.problem(join(path, language), f"'{language}' is not in municipality.languages")

    def distinct_buttons(self, buttons: Sequence[tuple[str, Localized | None]]) -> None:
        """Reply buttons sent together (given by path, in order) must read differently: WhatsApp
        refuses two equal titles, and residents who type a title must get the one they meant."""
        for language in self.languages:
            seen: dict[tuple[str, ...], str] = {}
            for path, titles in buttons:
                if not titles or language not in titles:
                    continue
                key = words(titles[language])
                if key in seen:
                    self.problem(
                        join(path, language),
                        f"same title as {seen[key]} (reply buttons must differ)",
                    )
                else:
                    seen[key] = path.rsplit(".", 1)[-1]
