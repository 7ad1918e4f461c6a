"""Loading and validating a municipality's configuration.

Broken variants are the bundled example with one thing changed; each must produce exactly the
problems listed, with their paths, and nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.adapters.config_file import load_municipality_file, parse_yaml
from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_loader import TEXT_KEYS, ConfigError, load_definition
from chalicelib.domain.bot.definition import (
    AnswerFaq,
    HandOff,
    MunicipalityDefinition,
    Period,
    StartFlow,
    TimeRange,
)
from chalicelib.settings import BUNDLED_CONFIG

SHIPPED_LANGUAGES = ("pt", "es", "en", "ar")
DELETE = object()


@pytest.fixture(scope="module")
def bundled_data() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


def changed(data: dict[str, Any], *changes: tuple[tuple[Any, ...], Any]) -> dict[str, Any]:
    """A deep copy of `data` with each (path, value) applied: DELETE removes the key, a function
    receives the current value and returns the new one."""
    result = copy.deepcopy(data)
    for path, value in changes:
        parent = result
        for key in path[:-1]:
            parent = parent[key]
        if value is DELETE:
            del parent[path[-1]]
        elif callable(value):
            parent[path[-1]] = value(parent[path[-1]])
        else:
            parent[path[-1]] = value
    return result


def problems_of(data: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_definition(data)
    return [str(problem) for problem in raised.value.problems]


# -- the bundled example -------------------------------------------------------------------------


def test_the_bundled_example_loads_without_problems(town: MunicipalityDefinition) -> None:
    assert town.name == "Vila Nova do Rio"
    assert town.languages == SHIPPED_LANGUAGES
    assert town.default_language == "pt"
    assert town.timezone == "Europe/Lisbon"
    assert list(town.teams) == ["front_desk", "public_works", "finance"]
    assert town.teams["public_works"].languages == ("pt", "es")
    assert town.fallback_team.id == "front_desk"
    assert [item.id for item in town.main_menu.items] == [
        "report_problem",
        "report_status",
        "faq_waste",
        "faq_documents",
        "human",
        "language",
    ]
    assert [item.action for item in town.main_menu.items] == [
        StartFlow("report_problem"),
        StartFlow("report_status"),
        AnswerFaq("waste_collection"),
        AnswerFaq("documents"),
        HandOff("front_desk"),
        StartFlow("choose_language"),
    ]
    assert set(town.templates) == {
        "licence_renewal",
        "visa_renewal",
        "payment_due",
        "document_ready",
        "payment_receipt",
        "reopen_conversation",
    }
    assert town.templates["payment_due"].languages == ("pt", "es", "en")
    assert town.templates["licence_renewal"].buttons == ("More info", "Renew")


def test_the_bundled_example_keeps_every_section_of_the_sketch(
    town: MunicipalityDefinition,
) -> None:
    assert town.business_hours is not None
    assert town.business_hours.weekly[0] == (TimeRange(time(9), time(17, 30)),)
    assert town.business_hours.weekly[5] == (TimeRange(time(9), time(13)),)
    assert 6 not in town.business_hours.weekly
    assert town.business_hours.holidays == {date(2026, 12, 25), date(2027, 1, 1)}
    assert town.consent.version == "2026-11"
    assert "STOP" in town.opt_out_keywords and "ابدأ" in town.opt_in_keywords
    assert town.flows["report_problem"].routes_to == "public_works"
    assert town.flows["report_problem"].steps[2].optional
    assert town.routing[0].team == "finance" and "payment" in town.routing[0].text_contains
    assert town.routing[1].contact_tag == "vip" and town.routing[2].language == "ar"
    assert town.assignment == "least_busy"
    assert town.sla is not None
    assert town.sla.first_response == timedelta(minutes=15)
    assert town.sla.warn_at == 0.8
    assert town.quick_replies[0].shortcut == "/horario"
    assert town.reminders is not None
    assert town.reminders.kinds["tax_payment"].offsets == (
        timedelta(days=-14),
        timedelta(days=-1),
        timedelta(days=3),
    )
    assert town.reminders.send_window == TimeRange(time(9), time(20))
    assert town.notifications["receipt"].template == "payment_receipt"
    assert town.csat is not None and town.csat.ask_after_resolution
    assert town.retention is not None
    assert town.retention.messages == Period(24, "months")
    assert town.retention.tickets == Period(5, "years")


def test_placeholders_are_filled_from_the_municipality_section(
    town: MunicipalityDefinition,
) -> None:
    assert town.consent.text["en"].endswith("Policy: https://example.org/privacy")
    assert "https://example.org/renovar" in town.faq["documents"].answer["pt"]
    assert "Vila Nova do Rio" in town.welcome["es"]
    # filled per message by the engine, so kept
    assert "{team}" in town.texts["handoff"]["en"]


def test_the_definition_cannot_be_changed(town: MunicipalityDefinition) -> None:
    with pytest.raises(AttributeError):
        town.name = "Elsewhere"  # type: ignore[misc]
    with pytest.raises(TypeError):
        town.welcome["pt"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        town.teams["x"] = town.teams["finance"]  # type: ignore[index]


def localized_mappings(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the raw file keyed by one or more language codes."""
    if isinstance(node, dict):
        if set(node) & set(SHIPPED_LANGUAGES):
            yield path, node
            return
        for key, value in node.items():
            yield from localized_mappings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from localized_mappings(value, f"{path}[{i}]")


def test_every_text_of_the_bundled_example_is_in_all_four_languages(
    bundled_data: dict[str, Any],
) -> None:
    found = dict(localized_mappings(bundled_data))
    assert len(found) > 30  # the walk does find the texts
    for path, texts in found.items():
        assert tuple(texts) == SHIPPED_LANGUAGES, path
        for language, text in texts.items():
            assert isinstance(text, str) and text.strip(), f"{path}.{language}"


def test_every_text_of_the_bundled_example_fits_whatsapp(town: MunicipalityDefinition) -> None:
    for language in SHIPPED_LANGUAGES:
        assert len(town.main_menu.title[language]) <= limits.INTERACTIVE_BODY
        assert len(town.main_menu.items) <= limits.LIST_ROWS
        for item in town.main_menu.items:
            assert len(item.label[language]) <= limits.ROW_TITLE, item.label[language]
            if item.description:
                assert len(item.description[language]) <= limits.ROW_DESCRIPTION
        for key, ((limit, _), _) in TEXT_KEYS.items():
            assert len(town.texts[key][language]) <= limit, (key, language)
        assert len(town.texts["menu_button"][language]) <= limits.LIST_BUTTON
        assert len(town.language_names[language]) <= limits.ROW_TITLE
        assert len(town.welcome[language]) <= limits.TEXT_BODY
        assert len(town.consent.text[language]) <= limits.INTERACTIVE_BODY
        assert len(town.consent.accept_button[language]) <= limits.BUTTON_TITLE
        assert len(town.consent.decline_button[language]) <= limits.BUTTON_TITLE
        for faq in town.faq.values():
            assert len(faq.answer[language]) <= limits.TEXT_BODY
            if faq.attachment and faq.attachment.caption:
                assert len(faq.attachment.caption[language]) <= limits.MEDIA_CAPTION
        for reply in town.quick_replies:
            assert len(reply.text[language]) <= limits.TEXT_BODY
        assert town.csat is not None and town.csat.question is not None
        assert len(town.csat.question[language]) <= limits.INTERACTIVE_BODY
        for team in town.teams.values():
            assert team.display_name[language]


# -- broken variants: one change, exactly these problems -------------------------------------------

ITEMS = ("main_menu", "items")
EXTRA_ITEMS = [
    {
        "id": f"extra_{n}",
        "label": {lang: f"Extra {n}" for lang in SHIPPED_LANGUAGES},
        "faq": "documents",
    }
    for n in range(5)
]
BROKEN: list[tuple[str, list[tuple[tuple[Any, ...], Any]], list[str]]] = [
    (
        "missing translation",
        [((*ITEMS, 3, "label", "ar"), DELETE)],
        ["main_menu.items[3].label.ar: missing translation"],
    ),
    (
        "empty translation",
        [(("welcome", "es"), "  ")],
        ["welcome.es: missing translation"],
    ),
    (
        "row title too long",
        [((*ITEMS, 0, "label", "es"), "Informar de un problema, ya")],
        ["main_menu.items[0].label.es: 27 characters, at most 24 (WhatsApp list row title)"],
    ),
    (
        "row description too long",
        [
            (
                (*ITEMS, 0, "description", "pt"),
                "Buracos, iluminação, lixo na rua, ruído, árvores caídas e sinais danificados",
            )
        ],
        [
            "main_menu.items[0].description.pt: 76 characters, at most 72 "
            "(WhatsApp list row description)"
        ],
    ),
    (
        "list button too long",
        [(("texts", "menu_button", "en"), "See all the options here")],
        ["texts.menu_button.en: 24 characters, at most 20 (WhatsApp list button label)"],
    ),
    (
        "reply button too long",
        [(("consent", "accept_button", "en"), "Yes, I agree to all of it")],
        ["consent.accept_button.en: 25 characters, at most 20 (WhatsApp reply button title)"],
    ),
    (
        "misspelt placeholder",
        [(("faq", "documents", "answer", "pt"), "Pode renovar online em {webstie}/renovar.")],
        ["faq.documents.answer.pt: unknown placeholder {webstie}"],
    ),
    (
        "a per-message placeholder where it is not filled",
        [(("texts", "anything_else", "en"), "Anything else for {team}?")],
        ["texts.anything_else.en: unknown placeholder {team}"],
    ),
    (
        "unknown faq",
        [((*ITEMS, 2, "faq"), "wast")],
        ["main_menu.items[2].faq: unknown faq 'wast'"],
    ),
    (
        "handoff to an unknown team",
        [((*ITEMS, 4, "handoff"), "frontdesk")],
        ["teams: handoff to unknown team 'frontdesk' at main_menu.items[4]"],
    ),
    (
        "unknown flow",
        [((*ITEMS, 0, "flow"), "report_pothole")],
        ["main_menu.items[0].flow: unknown flow 'report_pothole'"],
    ),
    (
        "two actions on one item",
        [((*ITEMS, 2, "handoff"), "front_desk")],
        ["main_menu.items[2]: has faq and handoff: give only one of flow, faq or handoff"],
    ),
    (
        "no action",
        [((*ITEMS, 2, "faq"), DELETE)],
        ["main_menu.items[2]: needs one of flow, faq or handoff"],
    ),
    (
        "the same item id twice",
        [((*ITEMS, 3, "id"), "faq_waste")],
        ["main_menu.items[3].id: 'faq_waste' is already used by main_menu.items[2]"],
    ),
    (
        "an item id that is not an identifier",
        [((*ITEMS, 3, "id"), "FAQ documents")],
        ["main_menu.items[3].id: 'FAQ documents': use lowercase letters, digits and underscores"],
    ),
    (
        "a misspelt setting",
        [((*ITEMS, 0, "lable"), {"pt": "x"})],
        ["main_menu.items[0].lable: unknown setting"],
    ),
    (
        "too many menu items",
        [(ITEMS, lambda items: items + EXTRA_ITEMS)],
        ["main_menu.items: 11 items, at most 10"],
    ),
    (
        "no menu items",
        [(ITEMS, [])],
        ["main_menu.items: at least 1 item is required"],
    ),
    (
        "default language not offered",
        [(("municipality", "default_language"), "fr")],
        ["municipality.default_language: 'fr' is not in languages"],
    ),
    (
        "a language listed twice",
        [(("municipality", "languages"), ["pt", "es", "en", "ar", "es"])],
        ["municipality.languages[4]: 'es' is listed twice"],
    ),
    (
        "unknown time zone",
        [(("municipality", "timezone"), "Europe/Lisboa")],
        ["municipality.timezone: unknown time zone 'Europe/Lisboa'"],
    ),
    (
        "a translation for a language not offered",
        [(("welcome", "fr"), "Bonjour !")],
        ["welcome.fr: 'fr' is not in municipality.languages"],
    ),
    (
        "a YAML boolean instead of a text",
        [(("consent", "decline_button", "en"), False)],
        ["consent.decline_button.en: expected text, got false (put it in quotes if it is a text)"],
    ),
    (
        "a number where a text is expected",
        [(("municipality", "phone"), 800000000)],
        [
            "municipality.phone: expected text, got the number 800000000 (put it in quotes if it is a text)"
        ],
    ),
    (
        "one text where one per language is expected",
        [(("main_menu", "title"), "Como podemos ajudar?")],
        ["main_menu.title: expected one text per language (pt, es, en, ar), got a single text"],
    ),
    (
        "unquoted time, read by YAML as minutes",
        [(("business_hours", "mon-fri"), 540)],
        ['business_hours.mon-fri: expected "HH:MM-HH:MM"'],
    ),
    (
        "opening hours the wrong way round",
        [(("business_hours", "sat"), "13:00-09:00")],
        ["business_hours.sat: starts at 13:00, not before it ends at 09:00"],
    ),
    (
        "split opening hours, one of them wrong",
        [(("business_hours", "sat"), ["09:00-13:00", "14:00-25:00"])],
        ['business_hours.sat[1]: expected "HH:MM-HH:MM", with hours 00-23 and minutes 00-59'],
    ),
    (
        "a day that is not a day",
        [(("business_hours", "weekdays"), "09:00-17:00")],
        [
            "business_hours.weekdays: not a day: use mon, tue, wed, thu, fri, sat, sun "
            "or a range like mon-fri"
        ],
    ),
    (
        "a day given twice",
        [(("business_hours", "fri"), "09:00-15:00")],
        ["business_hours.fri: fri is already given by mon-fri"],
    ),
    (
        "a holiday that is not a date",
        [(("business_hours", "holidays"), ["2026-13-01"])],
        ["business_hours.holidays[0]: expected a date YYYY-MM-DD"],
    ),
    (
        "a missing system text",
        [(("texts", "handoff"), DELETE)],
        ["texts.handoff: missing"],
    ),
    (
        "an unknown system text",
        [(("texts", "goodbye"), {"pt": "Adeus"})],
        ["texts.goodbye: unknown text"],
    ),
    (
        "a missing language name",
        [(("language_names", "ar"), DELETE)],
        ["language_names.ar: missing translation"],
    ),
    (
        "a missing required section",
        [(("welcome",), DELETE)],
        ["welcome: missing"],
    ),
    (
        "an unknown section",
        [(("faqs",), {})],
        ["faqs: unknown section"],
    ),
    (
        "consent buttons that read the same",
        [(("consent", "decline_button", "en"), "I AGREE")],
        ["consent.decline_button.en: same title as accept_button (reply buttons must differ)"],
    ),
    (
        "an opt-in keyword that is also an opt-out keyword",
        [(("opt_in_keywords",), ["START", "stop"])],
        ["opt_in_keywords[1]: 'stop' is also an opt-out keyword"],
    ),
    (
        "an FAQ keyword that is also an opt-out keyword",
        [(("faq", "documents", "keywords"), ["renovar", "Cancelar"])],
        ["faq.documents.keywords[1]: 'Cancelar' is also an opt-out keyword"],
    ),
    (
        "a keyword without words",
        [(("menu_keywords",), ["menu", "?!"])],
        ["menu_keywords[1]: '?!' has no letters or digits"],
    ),
    (
        "a flow routed to an unknown team",
        [(("flows", "report_problem", "routes_to"), "roads")],
        ["teams: flow routes to unknown team 'roads' at flows.report_problem.routes_to"],
    ),
    (
        "redefining the built-in language flow",
        [(("flows", "choose_language"), {"steps": [{"ask": "language"}]})],
        ["flows.choose_language: a built-in flow, it cannot be redefined"],
    ),
    (
        "routing to an unknown team",
        [(("routing", 0, "team"), "billing")],
        ["teams: routing to unknown team 'billing' at routing[0]"],
    ),
    (
        "routing on a language not offered",
        [(("routing", 2, "if_language"), "fr")],
        ["routing[2].if_language: 'fr' is not in municipality.languages"],
    ),
    (
        "escalating to an unknown team",
        [(("sla", "escalate_to"), "supervisors")],
        ["teams: escalation to unknown team 'supervisors' at sla.escalate_to"],
    ),
    (
        "a duration in words",
        [(("sla", "first_response"), "15 minutes")],
        ['sla.first_response: expected a duration like "15m", "4h" or "2d"'],
    ),
    (
        "a fraction instead of a percentage",
        [(("sla", "warn_at"), 0.8)],
        ['sla.warn_at: expected a percentage like "80%"'],
    ),
    (
        "a reminder offset in words",
        [(("reminders", "tax_payment", "offsets"), ["14 days before"])],
        ['reminders.tax_payment.offsets[0]: expected a duration like "-7d" or "+3d"'],
    ),
    (
        "a reminder with an unknown template",
        [(("reminders", "tax_payment", "template"), "payment_reminder")],
        ["reminders.tax_payment.template: unknown template 'payment_reminder'"],
    ),
    (
        "a notification with an unknown template",
        [(("notifications", "receipt", "template"), "receipt")],
        ["notifications.receipt.template: unknown template 'receipt'"],
    ),
    (
        "a template without the default language",
        [(("templates", "payment_due", "languages"), ["es", "en"])],
        ["templates.payment_due.languages: lacks the default language 'pt'"],
    ),
    (
        "a template category Meta does not have",
        [(("templates", "payment_due", "category"), "transactional")],
        [
            "templates.payment_due.category: 'transactional' is not one of "
            "utility, marketing, authentication"
        ],
    ),
    (
        "a template name Meta would refuse",
        [(("templates", "Payment-Due"), {"languages": ["pt"], "category": "utility"})],
        ["templates.Payment-Due: template names use lowercase letters, digits and underscores"],
    ),
    (
        "an attachment that is not a web address",
        [(("faq", "waste_collection", "attachment", "url"), "calendario.pdf")],
        ["faq.waste_collection.attachment.url: 'calendario.pdf' is not an http(s) URL"],
    ),
    (
        "an attachment of an unknown type",
        [(("faq", "waste_collection", "attachment", "type"), "pdf")],
        ["faq.waste_collection.attachment.type: 'pdf' is not one of document, image, video, audio"],
    ),
    (
        "a team speaking a language not offered",
        [(("teams", "finance", "languages"), ["pt", "fr"])],
        ["teams.finance.languages[1]: 'fr' is not in municipality.languages"],
    ),
    (
        "a team without a name for residents",
        [(("teams", "finance", "display_name"), DELETE)],
        ["teams.finance.display_name: missing"],
    ),
    (
        "a quick reply without its slash",
        [(("quick_replies", 0, "shortcut"), "horario")],
        ["quick_replies[0].shortcut: 'horario' is not like /word"],
    ),
    (
        "a satisfaction question missing a language",
        [(("csat", "question", "en"), DELETE)],
        ["csat.question.en: missing translation"],
    ),
    (
        "a retention period without a unit",
        [(("retention", "messages"), "24")],
        ['retention.messages: expected a period like "24 months" or "5 years"'],
    ),
    (
        "an unknown assignment strategy",
        [(("assignment",), "random")],
        ["assignment: 'random' is not one of least_busy, round_robin"],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [pytest.param(changes, expected, id=name) for name, changes, expected in BROKEN],
)
def test_a_broken_configuration_reports_exactly_what_is_wrong(
    bundled_data: dict[str, Any],
    changes: list[tuple[tuple[Any, ...], Any]],
    expected: list[str],
) -> None:
    assert problems_of(changed(bundled_data, *changes)) == expected


def test_every_problem_is_reported_at_once(bundled_data: dict[str, Any]) -> None:
    data = changed(
        bundled_data,
        ((*ITEMS, 3, "label", "ar"), DELETE),
        ((*ITEMS, 0, "label", "es"), "Informar de un problema, ya"),
        (("faq", "documents", "answer", "pt"), "Em {webstie}/renovar."),
        ((*ITEMS, 2, "faq"), "wast"),
        ((*ITEMS, 4, "handoff"), "frontdesk"),
        (("business_hours", "mon-fri"), "9 to 5"),
        (("texts", "menu_button"), DELETE),
        (("reminders", "tax_payment", "template"), "payment_reminder"),
    )
    assert sorted(problems_of(data)) == sorted(
        [
            "main_menu.items[3].label.ar: missing translation",
            "main_menu.items[0].label.es: 27 characters, at most 24 (WhatsApp list row title)",
            "faq.documents.answer.pt: unknown placeholder {webstie}",
            "main_menu.items[2].faq: unknown faq 'wast'",
            "teams: handoff to unknown team 'frontdesk' at main_menu.items[4]",
            'business_hours.mon-fri: expected "HH:MM-HH:MM"',
            "texts.menu_button: missing",
            "reminders.tax_payment.template: unknown template 'payment_reminder'",
        ]
    )


def test_a_missing_language_is_reported_for_every_text(bundled_data: dict[str, Any]) -> None:
    data = changed(bundled_data, (("municipality", "languages"), [*SHIPPED_LANGUAGES, "fr"]))
    problems = problems_of(data)
    assert "welcome.fr: missing translation" in problems
    assert "main_menu.items[5].label.fr: missing translation" in problems
    assert "texts.handoff.fr: missing translation" in problems
    assert "teams.front_desk.display_name.fr: missing translation" in problems
    assert all(problem.endswith("missing translation") for problem in problems)


def test_the_language_list_must_fit_one_whatsapp_list(bundled_data: dict[str, Any]) -> None:
    many = [*SHIPPED_LANGUAGES, "fr", "de", "it", "nl", "uk", "ro", "ne"]
    problems = problems_of(changed(bundled_data, (("municipality", "languages"), many)))
    assert "municipality.languages: 11 languages, at most 10 for the choose_language list" in (
        problems
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], ["expected a mapping, got a list"]),
        (None, ["missing"]),
        (
            {"municipality": {"name": "X"}},
            [
                "municipality.languages: missing",
                "municipality.timezone: missing",
                "municipality.default_language: missing",
                "teams: missing",
                "welcome: missing",
                "texts: missing",
                "language_names: missing",
                "consent: missing",
                "main_menu: missing",
            ],
        ),
    ],
    ids=["a list", "nothing", "almost nothing"],
)
def test_a_configuration_that_is_barely_one(data: Any, expected: list[str]) -> None:
    assert problems_of(data) == expected


def test_the_error_message_lists_every_problem(bundled_data: dict[str, Any]) -> None:
    data = changed(bundled_data, ((*ITEMS, 2, "faq"), "wast"), (("welcome", "fr"), "Bonjour"))
    with pytest.raises(ConfigError) as raised:
        load_definition(data)
    assert str(raised.value) == (
        "2 problems in the configuration\n"
        "  welcome.fr: 'fr' is not in municipality.languages\n"
        "  main_menu.items[2].faq: unknown faq 'wast'"
    )


# -- the YAML file ---------------------------------------------------------------------------------


def test_a_yaml_syntax_error_gives_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "town.yaml"
    path.write_text("municipality:\n  name: Vila\n  languages: [pt, es\nwelcome: x\n")
    with pytest.raises(ConfigError) as raised:
        load_municipality_file(path)
    [problem] = raised.value.problems
    assert problem.path == "line 4, column 8"
    assert "expected ',' or ']'" in problem.message
    assert raised.value.source == str(path)
    assert str(raised.value).startswith(f"{path}: 1 problem in the configuration\n  line 4")


def test_a_key_given_twice_is_an_error_not_a_silent_overwrite() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_yaml("faq:\n  waste:\n    answer: a\n  waste:\n    answer: b\n")
    [problem] = raised.value.problems
    assert problem.path == "line 4, column 3"
    assert problem.message == (
        "while reading a mapping key 'waste' is given twice (first on line 2)"
    )


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_municipality_file(tmp_path / "nowhere.yaml")
    assert raised.value.problems[0].message.startswith("cannot read the file")


def test_validation_problems_from_a_file_name_the_file(tmp_path: Path) -> None:
    text = BUNDLED_CONFIG.read_text(encoding="utf-8").replace("handoff: front_desk", "handoff: x")
    path = tmp_path / "town.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_municipality_file(path)
    assert [str(p) for p in raised.value.problems] == [
        "teams: handoff to unknown team 'x' at main_menu.items[4]"
    ]
    assert raised.value.source == str(path)
