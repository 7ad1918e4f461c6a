"""Reading the sections that serve agents and back-office systems rather than the residents'
bot: templates, routing, SLA, business hours, quick replies, reminders, notifications,
satisfaction survey and retention. Part of `config_loader`, split out to keep each module small.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_reader import (
    LIST_BODY,
    LIST_BUTTON,
    TEXT_MESSAGE,
    Limit,
    Reader,
    join,
)
from chalicelib.domain.bot.definition import (
    CSAT_ROW_TITLE,
    CSAT_SCORES,
    BusinessHours,
    Csat,
    Notification,
    QuickReply,
    Reminder,
    Reminders,
    Retention,
    RoutingRule,
    Sla,
    Template,
    TimeRange,
)
from chalicelib.domain.bot.matching import words
from chalicelib.domain.bot.template_languages import (
    is_template_language_code,
    template_codes_for,
)

ASSIGNMENTS = ("least_busy", "round_robin")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")  # what Meta accepts as a template name
_TEMPLATE_CATEGORIES = ("utility", "marketing", "authentication")
_SHORTCUT = re.compile(r"^/\w+$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The rating rows are titled "N – label", so the label gets what the number leaves of the title.
_RATING: Limit = (
    limits.ROW_TITLE - len(CSAT_ROW_TITLE.format(score=max(CSAT_SCORES), label="")),
    "WhatsApp list row title, after its number",
)


class BackOfficeSections(Reader):
    def __init__(self) -> None:
        super().__init__()
        self.default_language: str | None = None
        self.team_ids: set[str] = set()
        self.template_ids: set[str] = set()

    def team_reference(
        self, value: Any, path: str, relation: str, at: str | None = None
    ) -> str | None:
        """A team id; an unknown one is reported under `teams`, naming where (`at`) it is used."""
        team = self.identifier(value, path)
        if team is not None and team not in self.team_ids:
            self.problem("teams", f"{relation} unknown team '{team}' at {at or path}")
            return None
        return team

    def templates(self, value: Any) -> Mapping[str, Template]:
        templates: dict[str, Template] = {}
        data = self.mapping(value, "templates") if value is not None else None
        for key, raw in (data or {}).items():
            path = join("templates", key)
            if not isinstance(key, str) or not _TEMPLATE_NAME.match(key):
                self.problem(path, "template names use lowercase letters, digits and underscores")
                continue
            entry = self.mapping(raw, path)
            if entry is None:
                continue
            self.template_ids.add(key)
            self.keys(entry, path, ("languages", "category", "buttons"))
            languages = self.language_list(entry.get("languages"), f"{path}.languages")
            if self.default_language and languages and self.default_language not in languages:
                self.problem(
                    f"{path}.languages", f"lacks the default language '{self.default_language}'"
                )
            category = self.choice(entry.get("category"), f"{path}.category", _TEMPLATE_CATEGORIES)
            buttons: tuple[str, ...] = ()
            if entry.get("buttons") is not None:
                buttons = self.text_list(entry["buttons"], f"{path}.buttons")
            if languages and category:
                templates[key] = Template(
                    name=key, languages=languages, category=category, buttons=buttons
                )
        return MappingProxyType(templates)

    def template_language_codes(
        self, value: Any, templates: Mapping[str, Template]
    ) -> Mapping[str, str]:
        """`template_language_codes:` (config language → Meta's template language code), checked
        against Meta's codes; and every language a template is in must end up with one: Meta
        has no bare `pt` or `zh`, so a template in them could never be approved or sent."""
        path = "template_language_codes"
        data = self.mapping(value, path) if value is not None else None
        codes: dict[str, str] = {}
        for key, raw in (data or {}).items():
            where = join(path, key)
            language = self.language(key, where)
            code = self.text(raw, where)
            if code is not None and not is_template_language_code(code):
                self.problem(where, _unknown_template_code(code, language))
                code = None
            if language is not None and code is not None:
                codes[language] = code
        used = {language for template in templates.values() for language in template.languages}
        owners: dict[str, str] = {}
        for language in self.languages:
            code = codes.get(language, language)
            if language in used and not is_template_language_code(code):
                self.problem("templates", _unmapped_language(language))
                continue
            if language not in used and language not in codes:
                continue
            if code in owners:
                self.problem(
                    join(path, language),
                    f"'{code}' is already the code of '{owners[code]}': one template has one "
                    "translation per code",
                )
            owners.setdefault(code, language)
        return MappingProxyType(codes)

    def template_reference(self, value: Any, path: str) -> str | None:
        name = self.text(value, path)
        if name is not None and name not in self.template_ids:
            self.problem(path, f"unknown template '{name}'")
            return None
        return name

    def routing(self, value: Any) -> tuple[RoutingRule, ...]:
        if value is None:
            return ()
        rules = []
        conditions = ("if_text_contains", "if_contact_tag", "if_language")
        for i, raw in enumerate(self.sequence(value, "routing")):
            path = f"routing[{i}]"
            data = self.mapping(raw, path)
            if data is None:
                continue
            self.keys(data, path, ("team", *conditions))
            team = self.team_reference(data.get("team"), f"{path}.team", "routing to", at=path)
            given = [key for key in conditions if data.get(key) is not None]
            if len(given) != 1:
                self.problem(path, "needs exactly one of " + ", ".join(conditions))
                continue
            condition, raw_condition = given[0], data[given[0]]
            where = f"{path}.{condition}"
            if condition == "if_text_contains":
                keywords = self.keyword_list(raw_condition, where)
                rule = RoutingRule(team=team or "", text_contains=keywords)
            elif condition == "if_contact_tag":
                rule = RoutingRule(team=team or "", contact_tag=self.text(raw_condition, where))
            else:
                rule = RoutingRule(team=team or "", language=self.language(raw_condition, where))
            rules.append(rule)
        return tuple(rules)

    def sla(self, value: Any) -> Sla | None:
        data = self.mapping(value, "sla")
        if data is None:
            return None
        self.keys(data, "sla", ("first_response", "resolution", "warn_at", "escalate_to"))
        first_response = self.duration(data.get("first_response"), "sla.first_response")
        resolution = self.duration(data.get("resolution"), "sla.resolution")
        warn_at = self.percentage(data.get("warn_at"), "sla.warn_at")
        escalate_to = None
        if data.get("escalate_to") is not None:
            escalate_to = self.team_reference(
                data["escalate_to"], "sla.escalate_to", "escalation to"
            )
        if first_response is None or resolution is None or warn_at is None:
            return None
        return Sla(
            first_response=first_response,
            resolution=resolution,
            warn_at=warn_at,
            escalate_to=escalate_to,
        )

    def business_hours(self, value: Any) -> BusinessHours | None:
        data = self.mapping(value, "business_hours")
        if data is None:
            return None
        weekly: dict[int, tuple[TimeRange, ...]] = {}
        given_by: dict[int, str] = {}
        holidays: set[date] = set()
        for key, raw in data.items():
            path = join("business_hours", key)
            if key == "holidays":
                for i, item in enumerate(self.sequence(raw, path)):
                    day = self.day(item, join(path, i))
                    if day is not None:
                        holidays.add(day)
                continue
            days = self.day_range(key, path)
            if isinstance(raw, list):
                spans = [self.time_range(item, join(path, i)) for i, item in enumerate(raw)]
            else:
                spans = [self.time_range(raw, path)]
            ranges = tuple(span for span in spans if span is not None)
            for weekday in days:
                if weekday in given_by:
                    self.problem(path, f"{_DAYS[weekday]} is already given by {given_by[weekday]}")
                    continue
                given_by[weekday] = str(key)
                weekly[weekday] = ranges
        return BusinessHours(weekly=MappingProxyType(weekly), holidays=frozenset(holidays))

    def day_range(self, key: Any, path: str) -> range:
        first, _, last = str(key).partition("-")
        if first in _DAYS and (not last or last in _DAYS):
            start, end = _DAYS.index(first), _DAYS.index(last or first)
            if start <= end:
                return range(start, end + 1)
        self.problem(
            path, "not a day: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri"
        )
        return range(0)

    def quick_replies(self, value: Any) -> tuple[QuickReply, ...]:
        if value is None:
            return ()
        replies: list[QuickReply] = []
        for i, raw in enumerate(self.sequence(value, "quick_replies")):
            path = f"quick_replies[{i}]"
            data = self.mapping(raw, path)
            if data is None:
                continue
            self.keys(data, path, ("shortcut", "text"))
            shortcut = self.text(data.get("shortcut"), f"{path}.shortcut")
            if shortcut is not None and not _SHORTCUT.match(shortcut):
                self.problem(f"{path}.shortcut", f"'{shortcut}' is not like /word")
                shortcut = None
            elif shortcut is not None and any(r.shortcut == shortcut for r in replies):
                self.problem(f"{path}.shortcut", f"'{shortcut}' is given twice")
            text = self.localized(data.get("text"), f"{path}.text", limit=TEXT_MESSAGE)
            if shortcut is not None and text is not None:
                replies.append(QuickReply(shortcut=shortcut, text=text))
        return tuple(replies)

    def reminders(self, value: Any) -> Reminders | None:
        data = self.mapping(value, "reminders")
        if data is None:
            return None
        kinds: dict[str, Reminder] = {}
        send_window = None
        for key, raw in data.items():
            path = join("reminders", key)
            if key == "send_window":
                send_window = self.time_range(raw, path)
                continue
            reminder_id = self.key_identifier(key, path)
            entry = self.mapping(raw, path)
            if reminder_id is None or entry is None:
                continue
            self.keys(entry, path, ("offsets", "template", "params", "weekdays_only"))
            offsets = tuple(
                offset
                for i, item in enumerate(self.sequence(entry.get("offsets"), f"{path}.offsets"))
                if (offset := self.duration(item, f"{path}.offsets[{i}]", signed=True)) is not None
            )
            if entry.get("offsets") == []:
                self.problem(f"{path}.offsets", "at least one offset is required")
            template = self.template_reference(entry.get("template"), f"{path}.template")
            params: tuple[str, ...] = ()
            if entry.get("params") is not None:
                params = self.text_list(entry["params"], f"{path}.params")
            weekdays_only = False
            if entry.get("weekdays_only") is not None:
                weekdays_only = bool(self.flag(entry["weekdays_only"], f"{path}.weekdays_only"))
            if template is not None:
                kinds[reminder_id] = Reminder(
                    id=reminder_id,
                    offsets=offsets,
                    template=template,
                    params=params,
                    weekdays_only=weekdays_only,
                )
        return Reminders(kinds=MappingProxyType(kinds), send_window=send_window)

    def notifications(self, value: Any) -> Mapping[str, Notification]:
        notifications: dict[str, Notification] = {}
        data = self.mapping(value, "notifications") if value is not None else None
        for key, raw in (data or {}).items():
            path = join("notifications", key)
            notification_id = self.key_identifier(key, path)
            entry = self.mapping(raw, path)
            if notification_id is None or entry is None:
                continue
            self.keys(entry, path, ("template", "params"))
            template = self.template_reference(entry.get("template"), f"{path}.template")
            params: tuple[str, ...] = ()
            if entry.get("params") is not None:
                params = self.text_list(entry["params"], f"{path}.params")
            if template is not None:
                notifications[notification_id] = Notification(
                    id=notification_id, template=template, params=params
                )
        return MappingProxyType(notifications)

    def csat(self, value: Any) -> Csat | None:
        data = self.mapping(value, "csat")
        if data is None:
            return None
        self.keys(data, "csat", ("ask_after_resolution", "question", "button", "ratings", "thanks"))
        ask = self.flag(data.get("ask_after_resolution"), "csat.ask_after_resolution")

        def needed(key: str) -> bool:  # all of it when the question is asked; checked if given
            return bool(ask) or data.get(key) is not None

        question = button = thanks = ratings = None
        if needed("question"):
            question = self.localized(data.get("question"), "csat.question", limit=LIST_BODY)
        if needed("button"):
            button = self.localized(data.get("button"), "csat.button", limit=LIST_BUTTON)
        if needed("ratings"):
            ratings = self.localized_list(
                data.get("ratings"),
                "csat.ratings",
                count=len(CSAT_SCORES),
                noun="rating",
                order="the worst first",
                limit=_RATING,
            )
            self.distinct_ratings(ratings or {})
        if needed("thanks"):
            thanks = self.localized(data.get("thanks"), "csat.thanks", limit=TEXT_MESSAGE)
        return Csat(
            ask_after_resolution=bool(ask),
            question=question,
            button=button,
            ratings=ratings,
            thanks=thanks,
        )

    def distinct_ratings(self, ratings: Mapping[str, tuple[str, ...]]) -> None:
        """A typed rating label must name one score."""
        for language, labels in ratings.items():
            first: dict[tuple[str, ...], int] = {}
            for i, label in enumerate(labels):
                key = words(label)
                if key in first:
                    self.problem(
                        f"csat.ratings.{language}[{i}]",
                        f"'{label}' is also rating {first[key] + 1}",
                    )
                first.setdefault(key, i)

    def retention(self, value: Any) -> Retention | None:
        data = self.mapping(value, "retention")
        if data is None:
            return None
        self.keys(data, "retention", ("messages", "tickets", "audit"))
        periods = {
            key: self.period(data[key], f"retention.{key}")
            for key in ("messages", "tickets", "audit")
            if data.get(key) is not None
        }
        return Retention(**periods)


def _unmapped_language(language: str) -> str:
    candidates = template_codes_for(language)
    if not candidates:
        return (
            f"language '{language}' has no template code at Meta: templates cannot be approved "
            "in it, so leave it out of the templates' languages"
        )
    others = candidates[1:] if candidates[0].lower() != language.replace("-", "_").lower() else ()
    alternatives = f" (or {', '.join(others)})" if others else ""
    return (
        f"language '{language}' has no template code at Meta: add template_language_codes: "
        f"{{{language}: {candidates[0]}}}{alternatives}"
    )


def _unknown_template_code(code: str, language: str | None) -> str:
    candidates = template_codes_for(code) or (template_codes_for(language) if language else ())
    hint = f" (Meta's codes for this language: {', '.join(candidates)})" if candidates else ""
    return f"'{code}' is not a template language code at Meta{hint}"
