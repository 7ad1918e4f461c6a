"""Plain configuration data (parsed YAML or JSON) → a validated `MunicipalityDefinition`.

Validation reports every problem at once, each with the path of the setting at fault, so a
municipality can fix its file in one go. Texts are checked in every configured language, against
WhatsApp's limits for where they are shown, and their {placeholders} are filled from the
`municipality:` section here, once, rather than on every message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_back_office import ASSIGNMENTS
from chalicelib.domain.bot.config_broadcasts import read_broadcasts
from chalicelib.domain.bot.config_flows import FlowSections
from chalicelib.domain.bot.config_reader import (
    BUTTON_TITLE,
    BUTTONS_BODY,
    CAPTION,
    LIST_BODY,
    LIST_BUTTON,
    ROW_DESCRIPTION,
    ROW_TITLE,
    TEXT_MESSAGE,
    Limit,
    join,
)
from chalicelib.domain.bot.config_topics import (
    TOPIC_TEXT_KEYS,
    check_topics_keywords,
    check_topics_menu,
    missing_topic_texts,
    read_topics,
)
from chalicelib.domain.bot.definition import (
    BUILTIN_FLOWS,
    CHOOSE_LANGUAGE,
    AnswerFaq,
    Attachment,
    Consent,
    FaqEntry,
    HandOff,
    Localized,
    MainMenu,
    MenuAction,
    MenuItem,
    MunicipalityDefinition,
    StartFlow,
    Team,
)
from chalicelib.domain.bot.errors import ConfigError, ConfigProblem
from chalicelib.domain.bot.matching import words

__all__ = ["TEXT_KEYS", "ConfigError", "ConfigProblem", "load_definition"]

_T = TypeVar("_T")

# The bot's own texts (`texts:`): where each is shown, and the placeholders filled per message.
TEXT_KEYS: Mapping[str, tuple[Limit, frozenset[str]]] = MappingProxyType(
    {
        "menu_button": (LIST_BUTTON, frozenset()),  # opens the main menu list
        "language_button": (LIST_BUTTON, frozenset()),  # opens the language list; a consent button
        "anything_else": (LIST_BODY, frozenset()),  # the menu again, after an answer
        "not_understood": (LIST_BODY, frozenset()),  # the menu again, after unknown input
        "language_prompt": (LIST_BODY, frozenset()),  # above the language list
        "handoff": (TEXT_MESSAGE, frozenset({"team"})),
        "out_of_hours": (TEXT_MESSAGE, frozenset({"when"})),  # added to a handoff outside hours
        "team_languages": (TEXT_MESSAGE, frozenset({"languages"})),  # team lacks their language
        "answer_soon": (TEXT_MESSAGE, frozenset({"minutes"})),  # added to a handoff within hours
        # {when} of out_of_hours, for the next opening: today, tomorrow, or another day
        "when_today": (TEXT_MESSAGE, frozenset({"time"})),
        "when_tomorrow": (TEXT_MESSAGE, frozenset({"time"})),
        "when_day": (TEXT_MESSAGE, frozenset({"weekday", "date", "time"})),
        "consent_declined": (TEXT_MESSAGE, frozenset()),
        "opted_out": (TEXT_MESSAGE, frozenset()),  # after an opt-out keyword
        "opted_in": (TEXT_MESSAGE, frozenset()),  # after an opt-in keyword
        "only_text": (LIST_BODY, frozenset()),  # the menu again, after a photo, voice note, ...
        "choose_button": (LIST_BUTTON, frozenset()),  # opens the choices of a flow step
        "skip_button": (BUTTON_TITLE, frozenset()),  # skips an optional photo
        "reprompt_choice": (LIST_BODY, frozenset()),
        "reprompt_photo": (BUTTONS_BODY, frozenset()),
        "reprompt_location": (TEXT_MESSAGE, frozenset()),
        "reprompt_reference": (TEXT_MESSAGE, frozenset({"example"})),
        "ticket_created": (TEXT_MESSAGE, frozenset({"reference", "team"})),
        "ticket_status": (TEXT_MESSAGE, frozenset({"reference", "status", "category", "date"})),
        "ticket_not_found": (TEXT_MESSAGE, frozenset({"reference"})),
        "offer_person": (BUTTONS_BODY, frozenset()),  # after two messages not understood
        "person_button": (BUTTON_TITLE, frozenset()),
        "back_button": (BUTTON_TITLE, frozenset()),
        # the topics list (config_topics.TOPIC_TEXT_KEYS: required with topics only); {topic}:
        # the topic's label. Each is the list's body, the topics marked as they are now.
        "topics_prompt": (LIST_BODY, frozenset()),  # above the topics list
        "subscribed": (LIST_BODY, frozenset({"topic"})),
        "subscribed_opted_out": (LIST_BODY, frozenset({"topic"})),  # ... but STOP was sent
        "unsubscribed": (LIST_BODY, frozenset({"topic"})),
    }
)
# Placeholders a text cannot do without: the resident must learn their ticket's reference.
_REQUIRED_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"ticket_created": ("reference",)}
)
WEEKDAYS = 7
_CALLING_CODE = re.compile(r"^[1-9][0-9]{0,2}$")

_SECTIONS = (
    "municipality",
    "business_hours",
    "welcome",
    "texts",
    "language_names",
    "consent",
    "opt_out_keywords",
    "opt_in_keywords",
    "menu_keywords",
    "main_menu",
    "topics",
    "topics_version",
    "topics_keywords",
    "faq",
    "flows",
    "teams",
    "routing",
    "assignment",
    "sla",
    "quick_replies",
    "reminders",
    "notifications",
    "templates",
    "template_language_codes",
    "csat",
    "retention",
    "tickets",
    "weekday_names",
    "language_by_calling_code",
    "broadcasts",
)
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")
_MEDIA_TYPES = ("document", "image", "video", "audio")
_MENU_ACTIONS = ("flow", "faq", "handoff")


def load_definition(data: Mapping[str, Any]) -> MunicipalityDefinition:
    """Validate `data` and build the definition; raises ConfigError listing every problem."""
    loader = _Loader()
    definition = loader.load(data)
    if loader.problems or definition is None:
        raise ConfigError(loader.problems)
    return definition


class _Loader(FlowSections):
    def __init__(self) -> None:
        super().__init__()
        self.faq_ids: set[str] = set()
        self.opt_out: set[tuple[str, ...]] = set()

    def load(self, data: Any) -> MunicipalityDefinition | None:
        root = self.mapping(data, "")
        if root is None:
            return None
        self.keys(root, "", _SECTIONS, what="section")
        # Order matters: languages and placeholder values first, then what others refer to.
        name, timezone = self.municipality(root.get("municipality"))
        teams = self.teams(root.get("teams"))
        templates = self.templates(root.get("templates"))
        template_codes = self.template_language_codes(
            root.get("template_language_codes"), templates
        )
        opt_out = self.keyword_list(root.get("opt_out_keywords"), "opt_out_keywords")
        self.opt_out = {words(keyword) for keyword in opt_out}
        faq = self.faq(root.get("faq"))
        tickets = self.optional(root, "tickets", self.tickets)
        flows = self.flows(root.get("flows"), tickets_given=root.get("tickets") is not None)
        welcome = self.localized(root.get("welcome"), "welcome", limit=TEXT_MESSAGE)
        texts = self.texts(root.get("texts"))
        weekday_names = self.weekday_names(root.get("weekday_names"))
        names = self.localized(root.get("language_names"), "language_names", limit=ROW_TITLE)
        by_calling_code = self.language_by_calling_code(root.get("language_by_calling_code"))
        consent = self.consent(root.get("consent"), texts.get("language_button"))
        main_menu = self.main_menu(root.get("main_menu"))
        routing = self.routing(root.get("routing"))
        assignment = "least_busy"
        if root.get("assignment") is not None:
            assignment = self.choice(root["assignment"], "assignment", ASSIGNMENTS) or assignment
        sla = self.optional(root, "sla", self.sla)
        business_hours = self.optional(root, "business_hours", self.business_hours)
        opt_in = self.keyword_list(root.get("opt_in_keywords"), "opt_in_keywords", not_opt_out=True)
        menu_keywords = self.keyword_list(root.get("menu_keywords"), "menu_keywords")
        topics_keywords = self.keyword_list(
            root.get("topics_keywords"), "topics_keywords", not_opt_out=True
        )
        topics = read_topics(self, root, topics_keywords)
        check_topics_keywords(
            self, root.get("topics_keywords"), opt_in=opt_in, menu=menu_keywords, faq=faq
        )
        check_topics_menu(self, root.get("main_menu"), root.get("topics") is not None)
        missing_topic_texts(self, root.get("texts"), root.get("topics") is not None)
        quick_replies = self.quick_replies(root.get("quick_replies"))
        reminders = self.optional(root, "reminders", self.reminders)
        notifications = self.notifications(root.get("notifications"))
        csat = self.optional(root, "csat", self.csat)
        retention = self.optional(root, "retention", self.retention)
        broadcasts = self.optional(root, "broadcasts", partial(read_broadcasts, self))
        if (
            self.problems
            or name is None
            or timezone is None
            or self.default_language is None
            or welcome is None
            or names is None
            or consent is None
            or main_menu is None
            or weekday_names is None
        ):
            return None
        return MunicipalityDefinition(
            name=name,
            timezone=timezone,
            languages=self.languages,
            default_language=self.default_language,
            values=MappingProxyType(dict(self.values)),
            welcome=welcome,
            texts=texts,
            language_names=names,
            consent=consent,
            main_menu=main_menu,
            faq=faq,
            flows=flows,
            teams=teams,
            routing=routing,
            assignment=assignment,
            sla=sla,
            business_hours=business_hours,
            opt_out_keywords=opt_out,
            opt_in_keywords=opt_in,
            menu_keywords=menu_keywords,
            quick_replies=quick_replies,
            reminders=reminders,
            notifications=notifications,
            templates=templates,
            template_language_codes=template_codes,
            csat=csat,
            retention=retention,
            tickets=tickets,
            weekday_names=weekday_names,
            language_by_calling_code=by_calling_code,
            topics=topics.topics,
            topics_version=topics.version,
            topics_keywords=topics.keywords,
            broadcasts=broadcasts,
        )

    def optional(self, root: Mapping[str, Any], key: str, read: Callable[[Any], _T]) -> _T | None:
        """An optional section: absent (or empty) is fine, present must be valid."""
        return read(root[key]) if root.get(key) is not None else None

    # -- municipality ----------------------------------------------------------------------------

    def municipality(self, value: Any) -> tuple[str | None, str | None]:
        data = self.mapping(value, "municipality")
        if data is None:
            return None, None
        self.languages = self.language_codes(data.get("languages"))
        for key, raw in data.items():
            if key != "languages":
                text = self.text(raw, join("municipality", key))
                if text is not None:
                    self.values[str(key)] = text
        for key in ("name", "timezone", "default_language"):
            if key not in data:
                self.missing(f"municipality.{key}")
        name = self.values.get("name")
        default = self.values.get("default_language")
        if default is not None and self.languages and default not in self.languages:
            self.problem("municipality.default_language", f"'{default}' is not in languages")
        else:
            self.default_language = default
        timezone = self.values.get("timezone")
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.problem("municipality.timezone", f"unknown time zone '{timezone}'")
                timezone = None
        return name, timezone

    def language_codes(self, value: Any) -> tuple[str, ...]:
        path = "municipality.languages"
        codes: list[str] = []
        for i, raw in enumerate(self.sequence(value, path)):
            code = self.text(raw, join(path, i))
            if code is None:
                continue
            if not _LANGUAGE_CODE.match(code):
                self.problem(join(path, i), f"'{code}' is not a language code like 'pt' or 'ar'")
            elif code in codes:
                self.problem(join(path, i), f"'{code}' is listed twice")
            else:
                codes.append(code)
        if value == []:
            self.problem(path, "at least one language is required")
        return tuple(codes)

    # -- texts -----------------------------------------------------------------------------------

    def texts(self, value: Any) -> Mapping[str, Localized]:
        data = self.mapping(value, "texts")
        if data is None:
            return MappingProxyType({})
        self.keys(data, "texts", TEXT_KEYS, what="text")
        texts: dict[str, Localized] = {}
        for key, (limit, runtime) in TEXT_KEYS.items():
            if key in TOPIC_TEXT_KEYS and data.get(key) is None:
                continue  # needed with topics only: see config_topics.missing_topic_texts
            text = self.localized(data.get(key), f"texts.{key}", limit=limit, runtime=runtime)
            if text is not None:
                texts[key] = text
        for key, names in _REQUIRED_PLACEHOLDERS.items():
            for language, text in texts.get(key, {}).items():
                for name in names:
                    if f"{{{name}}}" not in text:
                        self.problem(f"texts.{key}.{language}", f"lacks the placeholder {{{name}}}")
        self.distinct_buttons(
            [
                ("texts.person_button", texts.get("person_button")),
                ("texts.back_button", texts.get("back_button")),
            ]
        )
        return MappingProxyType(texts)

    def weekday_names(self, value: Any) -> Mapping[str, tuple[str, ...]] | None:
        if value is None:
            self.missing("weekday_names")
            return None
        return self.localized_list(
            value, "weekday_names", count=WEEKDAYS, noun="name", order="Monday first"
        )

    def language_by_calling_code(self, value: Any) -> Mapping[str, str]:
        """Phone calling codes ("351", unquoted 351 too) → the language to greet them in."""
        path = "language_by_calling_code"
        data = self.mapping(value, path) if value is not None else None
        languages: dict[str, str] = {}
        for key, raw in (data or {}).items():
            where = f"{path}.{key}"
            code = str(key).strip() if isinstance(key, int | str) else ""
            if isinstance(key, bool) or not _CALLING_CODE.match(code):
                self.problem(where, f"'{key}' is not a calling code: 1 to 3 digits, like 351")
                code = ""
            elif code in languages:
                self.problem(where, f"'{code}' is given twice")
            language = self.language(raw, where)
            if code and language is not None:
                languages.setdefault(code, language)
        return MappingProxyType(languages)

    def consent(self, value: Any, language_button: Localized | None) -> Consent | None:
        data = self.mapping(value, "consent")
        if data is None:
            return None
        self.keys(data, "consent", ("version", "text", "accept_button", "decline_button"))
        version = data.get("version")
        if isinstance(version, date | int) and not isinstance(version, bool):
            # YAML reads 2026-11-01 as a date and 3 as a number
            version = str(version)
        accept = self.localized(
            data.get("accept_button"), "consent.accept_button", limit=BUTTON_TITLE
        )
        decline = self.localized(
            data.get("decline_button"), "consent.decline_button", limit=BUTTON_TITLE
        )
        # the consent prompt offers the language list as its third button
        self.distinct_buttons(
            [
                ("consent.accept_button", accept),
                ("consent.decline_button", decline),
                ("texts.language_button", language_button),
            ]
        )
        text = self.localized(data.get("text"), "consent.text", limit=BUTTONS_BODY)
        version = self.text(version, "consent.version")
        if version is None or text is None or accept is None or decline is None:
            return None
        return Consent(version=version, text=text, accept_button=accept, decline_button=decline)

    def keyword_list(self, value: Any, path: str, *, not_opt_out: bool = False) -> tuple[str, ...]:
        if value is None:
            return ()
        keywords = []
        for i, raw in enumerate(self.sequence(value, path)):
            keyword = self.text(raw, join(path, i))
            if keyword is None:
                continue
            if not words(keyword):
                self.problem(join(path, i), f"'{keyword}' has no letters or digits")
            elif not_opt_out and words(keyword) in self.opt_out:
                self.problem(join(path, i), f"'{keyword}' is also an opt-out keyword")
            else:
                keywords.append(keyword)
        return tuple(keywords)

    # -- what the menu refers to -----------------------------------------------------------------

    def teams(self, value: Any) -> Mapping[str, Team]:
        data = self.mapping(value, "teams")
        teams: dict[str, Team] = {}
        if data is None:
            return MappingProxyType(teams)
        if not data:
            self.problem("teams", "at least one team is required")
        for key, raw in data.items():
            path = join("teams", key)
            team_id = self.key_identifier(key, path)
            entry = self.mapping(raw, path)
            if team_id is None or entry is None:
                continue
            self.team_ids.add(team_id)
            self.keys(entry, path, ("name", "display_name", "languages"))
            name = self.text(entry.get("name"), f"{path}.name")
            display_name = self.localized(entry.get("display_name"), f"{path}.display_name")
            languages = self.language_list(entry.get("languages"), f"{path}.languages")
            if entry.get("languages") == []:
                self.problem(f"{path}.languages", "at least one language is required")
            if name and display_name is not None and languages:
                teams[team_id] = Team(
                    id=team_id, name=name, display_name=display_name, languages=languages
                )
        return MappingProxyType(teams)

    def faq(self, value: Any) -> Mapping[str, FaqEntry]:
        entries: dict[str, FaqEntry] = {}
        data = self.mapping(value, "faq") if value is not None else None
        for key, raw in (data or {}).items():
            path = join("faq", key)
            faq_id = self.key_identifier(key, path)
            entry = self.mapping(raw, path)
            if faq_id is None or entry is None:
                continue
            self.faq_ids.add(faq_id)
            self.keys(entry, path, ("keywords", "answer", "attachment"))
            keywords = self.keyword_list(
                entry.get("keywords"), f"{path}.keywords", not_opt_out=True
            )
            answer = self.localized(entry.get("answer"), f"{path}.answer", limit=TEXT_MESSAGE)
            attachment = None
            if entry.get("attachment") is not None:
                attachment = self.attachment(entry["attachment"], f"{path}.attachment")
            if answer is not None:
                entries[faq_id] = FaqEntry(
                    id=faq_id, keywords=keywords, answer=answer, attachment=attachment
                )
        return MappingProxyType(entries)

    def attachment(self, value: Any, path: str) -> Attachment | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        self.keys(data, path, ("type", "url", "filename", "caption"))
        media_type = self.choice(data.get("type"), f"{path}.type", _MEDIA_TYPES)
        url = self.text(data.get("url"), f"{path}.url")
        if url is not None:
            url = self.fill(url, f"{path}.url")
            if urlparse(url).scheme not in ("https", "http") or not urlparse(url).netloc:
                self.problem(f"{path}.url", f"'{url}' is not an http(s) URL")
        filename = None
        if data.get("filename") is not None:
            filename = self.text(data["filename"], f"{path}.filename")
            if media_type not in (None, "document"):
                self.problem(f"{path}.filename", "only documents have a file name")
        elif media_type == "document" and url:
            filename = urlparse(url).path.rsplit("/", 1)[-1] or None
        caption = None
        if data.get("caption") is not None:
            caption = self.localized(data["caption"], f"{path}.caption", limit=CAPTION)
            if media_type == "audio":
                self.problem(f"{path}.caption", "WhatsApp sends audio without a caption")
        if media_type is None or url is None:
            return None
        return Attachment(media_type=media_type, url=url, filename=filename, caption=caption)

    # -- the menu --------------------------------------------------------------------------------

    def main_menu(self, value: Any) -> MainMenu | None:
        data = self.mapping(value, "main_menu")
        if data is None:
            return None
        self.keys(data, "main_menu", ("title", "items"))
        title = self.localized(data.get("title"), "main_menu.title", limit=LIST_BODY)
        raw_items = self.sequence(data.get("items"), "main_menu.items")
        if data.get("items") == []:
            self.problem("main_menu.items", "at least 1 item is required")
        if len(raw_items) > limits.LIST_ROWS:
            self.problem("main_menu.items", f"{len(raw_items)} items, at most {limits.LIST_ROWS}")
        items: list[MenuItem] = []
        first_use: dict[str, int] = {}
        for i, raw in enumerate(raw_items):
            item = self.menu_item(raw, f"main_menu.items[{i}]")
            if item is None:
                continue
            if item.id in first_use:
                self.problem(
                    f"main_menu.items[{i}].id",
                    f"'{item.id}' is already used by main_menu.items[{first_use[item.id]}]",
                )
            first_use.setdefault(item.id, i)
            items.append(item)
        offers_languages = any(item.action == StartFlow(CHOOSE_LANGUAGE) for item in items)
        if offers_languages and len(self.languages) > limits.LIST_ROWS:
            self.problem(
                "municipality.languages",
                f"{len(self.languages)} languages, at most {limits.LIST_ROWS} "
                f"for the {CHOOSE_LANGUAGE} list",
            )
        return MainMenu(title=title, items=tuple(items)) if title is not None else None

    def menu_item(self, value: Any, path: str) -> MenuItem | None:
        data = self.mapping(value, path)
        if data is None:
            return None
        self.keys(data, path, ("id", "label", "description", *_MENU_ACTIONS))
        item_id = self.identifier(data.get("id"), f"{path}.id")
        if item_id is not None and len(item_id) > limits.ROW_ID:
            self.problem(f"{path}.id", f"{len(item_id)} characters, at most {limits.ROW_ID}")
        label = self.localized(data.get("label"), f"{path}.label", limit=ROW_TITLE)
        description = None
        if data.get("description") is not None:
            description = self.localized(
                data["description"], f"{path}.description", limit=ROW_DESCRIPTION
            )
        action = self.menu_action(data, path)
        if item_id is None or label is None or action is None:
            return None
        return MenuItem(id=item_id, label=label, description=description, action=action)

    def menu_action(self, data: Mapping[str, Any], path: str) -> MenuAction | None:
        given = [key for key in _MENU_ACTIONS if data.get(key) is not None]
        if not given:
            self.problem(path, "needs one of flow, faq or handoff")
            return None
        if len(given) > 1:
            self.problem(path, f"has {' and '.join(given)}: give only one of flow, faq or handoff")
            return None
        kind = given[0]
        where = f"{path}.{kind}"
        if kind == "handoff":
            team = self.team_reference(data[kind], where, "handoff to", at=path)
            return HandOff(team) if team is not None else None
        target = self.identifier(data[kind], where)
        if target is None:
            return None
        if kind == "faq":
            if target not in self.faq_ids:
                self.problem(where, f"unknown faq '{target}'")
                return None
            return AnswerFaq(target)
        if target not in self.flow_ids and target not in BUILTIN_FLOWS:
            self.problem(where, f"unknown flow '{target}'")
            return None
        return StartFlow(target)
