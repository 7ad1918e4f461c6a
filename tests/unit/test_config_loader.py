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
    CSAT_ROW_TITLE,
    CSAT_SCORES,
    AnswerFaq,
    FlowOutcome,
    HandOff,
    MunicipalityDefinition,
    Period,
    StartFlow,
    StepKind,
    TimeRange,
)
from chalicelib.domain.tickets import TicketStatus
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
        "alerts",
        "language",
    ]
    assert [item.action for item in town.main_menu.items] == [
        StartFlow("report_problem"),
        StartFlow("report_status"),
        AnswerFaq("waste_collection"),
        AnswerFaq("documents"),
        HandOff("front_desk"),
        StartFlow("choose_topics"),
        StartFlow("choose_language"),
    ]
    assert set(town.templates) == {
        "licence_renewal",
        "visa_renewal",
        "payment_due",
        "document_ready",
        "payment_receipt",
        "reopen_conversation",
        "town_news",  # broadcasts
        "summer_festival",  # a marketing template, refused unless broadcasts.allow_marketing
    }
    assert town.templates["payment_due"].languages == ("pt", "es", "en")
    # Meta has no bare "pt": the town's Portuguese templates are approved and sent as pt_PT
    assert town.template_language_codes == {"pt": "pt_PT"}
    assert [town.template_language_code(language) for language in SHIPPED_LANGUAGES] == [
        "pt_PT",
        "es",
        "en",
        "ar",
    ]
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


def test_the_bundled_example_runs_its_flows_by_itself(town: MunicipalityDefinition) -> None:
    report = town.flows["report_problem"]
    assert report.outcome is FlowOutcome.CREATE_TICKET
    assert [(step.ask, step.expect, step.optional) for step in report.steps] == [
        ("category", StepKind.CHOICE, False),
        ("description", StepKind.TEXT, False),
        ("photo", StepKind.IMAGE, True),
        ("location", StepKind.LOCATION, False),
    ]
    category = report.steps[0]
    assert [choice.id for choice in category.choices] == [
        "pothole",
        "street_light",
        "waste",
        "noise",
        "other",
    ]
    assert {choice.team for choice in category.choices} <= set(town.teams)
    assert category.choices[0].team == "public_works"
    assert "📎" in report.steps[3].prompt["pt"]
    status = town.flows["report_status"]
    assert status.outcome is FlowOutcome.TICKET_STATUS
    assert [step.expect for step in status.steps] == [StepKind.REFERENCE]
    assert status.routes_to is None


def test_the_bundled_example_names_tickets_days_and_ratings(town: MunicipalityDefinition) -> None:
    assert town.tickets is not None
    assert town.tickets.reference_prefix == "VNR"
    assert set(town.tickets.statuses) == {status.value for status in TicketStatus}
    assert town.weekday_names["pt"][0] == "segunda-feira"
    assert town.weekday_names["en"][6] == "Sunday"
    assert all(len(names) == 7 for names in town.weekday_names.values())
    assert town.csat is not None and town.csat.ratings is not None
    assert town.csat.ratings["pt"] == ("Muito mau", "Mau", "Razoável", "Bom", "Muito bom")
    # unquoted calling codes are numbers to YAML, and keys of text here
    assert town.language_by_calling_code["351"] == "pt"
    assert town.language_by_calling_code["1"] == "en"
    assert town.language_by_calling_code["966"] == "ar"
    assert len(town.language_by_calling_code) == 40
    assert set(town.language_by_calling_code.values()) == set(SHIPPED_LANGUAGES)


def test_the_bundled_example_has_every_system_text_in_every_language(
    town: MunicipalityDefinition,
) -> None:
    assert set(town.texts) == set(TEXT_KEYS)
    assert "flow_unavailable" not in TEXT_KEYS
    for key in TEXT_KEYS:
        assert set(town.texts[key]) == set(SHIPPED_LANGUAGES), key
        assert all(text.strip() for text in town.texts[key].values()), key
    for language in SHIPPED_LANGUAGES:
        assert "{reference}" in town.texts["ticket_created"][language]
        assert "{when}" in town.texts["out_of_hours"][language]
        assert "{weekday}" in town.texts["when_day"][language]


def test_placeholders_are_filled_from_the_municipality_section(
    town: MunicipalityDefinition,
) -> None:
    for language in SHIPPED_LANGUAGES:
        assert town.consent.text[language].endswith(": https://example.org/privacy")
    assert "https://example.org/renovar" in town.faq["documents"].answer["pt"]
    assert "Vila Nova do Rio" in town.consent.text["es"]
    # filled per message by the engine, so kept
    assert "{team}" in town.texts["handoff"]["en"]
    assert "{when}" in town.texts["out_of_hours"]["es"]
    assert "https://example.org" in town.texts["consent_declined"]["ar"]


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
        if path == "template_language_codes":  # keyed by language, but codes, not texts
            return
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
    assert len(found) > 70  # the walk does find the texts
    for path, texts in found.items():
        assert tuple(texts) == SHIPPED_LANGUAGES, path
        for language, text in texts.items():
            # a text, or a list of them (weekday names, ratings)
            items = text if isinstance(text, list) else [text]
            assert items, f"{path}.{language}"
            for item in items:
                assert isinstance(item, str) and item.strip(), f"{path}.{language}"


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
        for flow in town.flows.values():
            for step in flow.steps:
                assert len(step.prompt[language]) <= limits.INTERACTIVE_BODY
                assert len(step.choices) <= limits.LIST_ROWS
                for choice in step.choices:
                    assert len(choice.label[language]) <= limits.ROW_TITLE
                    if choice.description:
                        assert len(choice.description[language]) <= limits.ROW_DESCRIPTION
        assert town.csat.button is not None and town.csat.ratings is not None
        assert len(town.csat.button[language]) <= limits.LIST_BUTTON
        for score, label in zip(CSAT_SCORES, town.csat.ratings[language], strict=True):
            assert len(CSAT_ROW_TITLE.format(score=score, label=label)) <= limits.ROW_TITLE


# -- broken variants: one change, exactly these problems -------------------------------------------

ITEMS = ("main_menu", "items")
EXTRA_ITEMS = [
    {
        "id": f"extra_{n}",
        "label": {lang: f"Extra {n}" for lang in SHIPPED_LANGUAGES},
        "faq": "documents",
    }
    for n in range(4)  # the bundled menu has 7
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
        "templates in Portuguese without Meta's code for it",
        [(("template_language_codes",), DELETE)],
        [
            "templates: language 'pt' has no template code at Meta: add "
            "template_language_codes: {pt: pt_PT} (or pt_BR)"
        ],
    ),
    (
        "a template language code Meta does not have",
        [(("template_language_codes", "pt"), "pt_pt")],
        [
            "template_language_codes.pt: 'pt_pt' is not a template language code at Meta "
            "(Meta's codes for this language: pt_PT, pt_BR)",
            "templates: language 'pt' has no template code at Meta: add "
            "template_language_codes: {pt: pt_PT} (or pt_BR)",
        ],
    ),
    (
        "a made-up template language code",
        [(("template_language_codes", "es"), "castellano")],
        [
            "template_language_codes.es: 'castellano' is not a template language code at Meta "
            "(Meta's codes for this language: es, es_ES, es_AR, es_CL, es_CO, es_CR, es_DO, "
            "es_EC, es_HN, es_MX, es_PA, es_PE, es_UY)"
        ],
    ),
    (
        "a template language code for a language not offered",
        [(("template_language_codes", "fr"), "fr_CA")],
        ["template_language_codes.fr: 'fr' is not in municipality.languages"],
    ),
    (
        "two languages sent under one template code",
        [(("template_language_codes", "es"), "pt_PT")],
        [
            "template_language_codes.es: 'pt_PT' is already the code of 'pt': one template has "
            "one translation per code"
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

STEPS = ("flows", "report_problem", "steps")
CATEGORY = (*STEPS, 0, "choices")
STATUS_STEPS = ("flows", "report_status", "steps")
ELEVEN_CHOICES = [
    {"id": f"kind_{n}", "label": {lang: f"Kind {n}" for lang in SHIPPED_LANGUAGES}}
    for n in range(11)
]
# Each rule of the flows, tickets, satisfaction survey, weekday names and calling codes.
BROKEN_NEW_SECTIONS: list[tuple[str, list[tuple[tuple[Any, ...], Any]], list[str]]] = [
    (
        "a choice label too long",
        [((*CATEGORY, 2, "label", "es"), "Basura y limpieza de calles")],
        [
            "flows.report_problem.steps[0].choices[2].label.es: 27 characters, at most 24 "
            "(WhatsApp list row title)"
        ],
    ),
    (
        "a choice description too long",
        [
            (
                (*CATEGORY, 2, "description", "en"),
                "Full bins, litter in the street, dumped furniture, dog mess and broken bins",
            )
        ],
        [
            "flows.report_problem.steps[0].choices[2].description.en: 75 characters, at most 72 "
            "(WhatsApp list row description)"
        ],
    ),
    (
        "a choice without a translation",
        [((*CATEGORY, 1, "label", "ar"), DELETE)],
        ["flows.report_problem.steps[0].choices[1].label.ar: missing translation"],
    ),
    (
        "a choice routed to an unknown team",
        [((*CATEGORY, 0, "team"), "roads")],
        [
            "teams: choice routes to unknown team 'roads' at "
            "flows.report_problem.steps[0].choices[0].team"
        ],
    ),
    (
        "the same choice twice",
        [((*CATEGORY, 4, "id"), "pothole")],
        ["flows.report_problem.steps[0].choices[4].id: 'pothole' is already used by choices[0]"],
    ),
    (
        "a choice list on a text step",
        [((*STEPS, 1, "choices"), [{"id": "x", "label": {"pt": "x"}}])],
        [
            "flows.report_problem.steps[1].choices: only steps expecting choice have choices, "
            "this one expects text"
        ],
    ),
    (
        "more choices than one WhatsApp list holds",
        [(CATEGORY, ELEVEN_CHOICES)],
        ["flows.report_problem.steps[0].choices: 11 choices, at most 10 (one WhatsApp list)"],
    ),
    (
        "a choice step without choices",
        [(CATEGORY, DELETE)],
        ["flows.report_problem.steps[0].choices: missing"],
    ),
    (
        "a choice step with an empty list",
        [(CATEGORY, [])],
        ["flows.report_problem.steps[0].choices: at least 1 choice is required"],
    ),
    (
        "a step expecting something the bot cannot take",
        [((*STEPS, 2, "expect"), "video")],
        [
            "flows.report_problem.steps[2].expect: 'video' is not one of "
            "choice, text, image, location, reference"
        ],
    ),
    (
        "a step without its prompt",
        [((*STEPS, 1, "prompt"), DELETE)],
        ["flows.report_problem.steps[1].prompt: missing"],
    ),
    (
        "a choice prompt longer than a list body",
        [((*STEPS, 0, "prompt", "en"), "x" * 1025)],
        [
            "flows.report_problem.steps[0].prompt.en: 1025 characters, at most 1024 "
            "(WhatsApp list body)"
        ],
    ),
    (
        "an optional step that cannot be skipped",
        [((*STEPS, 1, "optional"), True)],
        [
            "flows.report_problem.steps[1].optional: only image steps can be skipped, "
            "this one expects text"
        ],
    ),
    (
        "the same answer asked twice",
        [((*STEPS, 3, "ask"), "description")],
        ["flows.report_problem.steps[3].ask: 'description' is already asked by steps[1]"],
    ),
    (
        "a flow that both creates and answers",
        [(("flows", "report_problem", "answers"), "ticket_status")],
        [
            "flows.report_problem: has creates and answers: give only one of "
            "creates: ticket or answers: ticket_status"
        ],
    ),
    (
        "a flow that neither creates nor answers",
        [(("flows", "report_status", "answers"), DELETE)],
        ["flows.report_status: needs one of creates: ticket or answers: ticket_status"],
    ),
    (
        "a flow that creates something else",
        [(("flows", "report_problem", "creates"), "tickets")],
        ["flows.report_problem.creates: 'tickets' is not one of ticket"],
    ),
    (
        "a status flow without a reference step",
        [((*STATUS_STEPS, 0, "expect"), "text")],
        ["flows.report_status.steps: answers: ticket_status needs a step expecting reference"],
    ),
    (
        "a status flow routed to a team",
        [(("flows", "report_status", "routes_to"), "front_desk")],
        ["flows.report_status.routes_to: only a flow that creates tickets routes them"],
    ),
    (
        "ticket flows without a tickets section",
        [(("tickets",), DELETE)],
        [
            "tickets: missing, needed by flows.report_problem (creates: ticket)",
            "tickets: missing, needed by flows.report_status (answers: ticket_status)",
        ],
    ),
    (
        "a reference step without a tickets section",
        [(("tickets",), DELETE), (("flows", "report_status", "answers"), DELETE)],
        [
            "tickets: missing, needed by flows.report_problem (creates: ticket)",
            "flows.report_status: needs one of creates: ticket or answers: ticket_status",
            "tickets: missing, needed by flows.report_status.steps[0] (expect: reference)",
        ],
    ),
    (
        "a reference prefix in lowercase",
        [(("tickets", "reference_prefix"), "vnr")],
        ["tickets.reference_prefix: 'vnr': use 2 to 6 capital letters, like VNR"],
    ),
    (
        "a ticket status without a name",
        [(("tickets", "statuses", "closed"), DELETE)],
        ["tickets.statuses.closed: missing"],
    ),
    (
        "a ticket status the service does not have",
        [(("tickets", "statuses", "pending"), {lang: "x" for lang in SHIPPED_LANGUAGES})],
        ["tickets.statuses.pending: unknown ticket status"],
    ),
    (
        "four ratings",
        [(("csat", "ratings", "en"), ["Poor", "OK", "Good", "Very good"])],
        ["csat.ratings.en: 4 ratings, exactly 5 are needed (the worst first)"],
    ),
    (
        "a rating too long for its numbered row",
        [(("csat", "ratings", "pt", 0), "Extremamente mau mesmo")],
        [
            "csat.ratings.pt[0]: 22 characters, at most 20 "
            "(WhatsApp list row title, after its number)"
        ],
    ),
    (
        "the same rating twice",
        [(("csat", "ratings", "en", 1), "very poor")],
        ["csat.ratings.en[1]: 'very poor' is also rating 1"],
    ),
    (
        "ratings in a language not offered",
        [(("csat", "ratings", "fr"), ["1", "2", "3", "4", "5"])],
        ["csat.ratings.fr: 'fr' is not in municipality.languages"],
    ),
    (
        "a satisfaction survey without its button",
        [(("csat", "button"), DELETE)],
        ["csat.button: missing"],
    ),
    (
        "a satisfaction survey without thanks in one language",
        [(("csat", "thanks", "es"), DELETE)],
        ["csat.thanks.es: missing translation"],
    ),
    (
        "six weekday names",
        [(("weekday_names", "pt"), lambda names: names[:6])],
        ["weekday_names.pt: 6 names, exactly 7 are needed (Monday first)"],
    ),
    (
        "weekday names in one language only",
        [(("weekday_names",), lambda names: names["en"])],
        ["weekday_names: expected one list per language (pt, es, en, ar), got a single list"],
    ),
    (
        "weekday names missing a language",
        [(("weekday_names", "ar"), DELETE)],
        ["weekday_names.ar: missing translation"],
    ),
    (
        "no weekday names",
        [(("weekday_names",), DELETE)],
        ["weekday_names: missing"],
    ),
    (
        "calling codes that are not 1-3 digits",
        [
            (("language_by_calling_code", "3511"), "pt"),
            (("language_by_calling_code", "+44"), "en"),
            (("language_by_calling_code", 0), "pt"),
        ],
        [
            "language_by_calling_code.3511: '3511' is not a calling code: 1 to 3 digits, like 351",
            "language_by_calling_code.+44: '+44' is not a calling code: 1 to 3 digits, like 351",
            "language_by_calling_code.0: '0' is not a calling code: 1 to 3 digits, like 351",
        ],
    ),
    (
        "a calling code given as a number and as a text",
        [(("language_by_calling_code", "351"), "pt")],
        ["language_by_calling_code.351: '351' is given twice"],
    ),
    (
        "a calling code for a language not offered",
        [(("language_by_calling_code", 33), "fr")],
        ["language_by_calling_code.33: 'fr' is not in municipality.languages"],
    ),
    (
        "the removed flow_unavailable text",
        [(("texts", "flow_unavailable"), {lang: "x" for lang in SHIPPED_LANGUAGES})],
        ["texts.flow_unavailable: unknown text"],
    ),
    (
        "a ticket confirmation without the reference",
        [(("texts", "ticket_created", "en"), "Thank you! Our {team} team will look into it.")],
        ["texts.ticket_created.en: lacks the placeholder {reference}"],
    ),
    (
        "a placeholder the text does not get",
        [(("texts", "out_of_hours", "pt"), "Estamos fechados até {hours}.")],
        ["texts.out_of_hours.pt: unknown placeholder {hours}"],
    ),
    (
        "offer buttons that read the same",
        [(("texts", "back_button", "es"), "Hablar con alguien")],
        ["texts.back_button.es: same title as person_button (reply buttons must differ)"],
    ),
    (
        "a language button that reads like a consent button",
        [(("texts", "language_button", "en"), "No thanks")],
        ["texts.language_button.en: same title as decline_button (reply buttons must differ)"],
    ),
    (
        "a skip button too long",
        [(("texts", "skip_button", "en"), "Continue without a photo")],
        ["texts.skip_button.en: 24 characters, at most 20 (WhatsApp reply button title)"],
    ),
    (
        "a choose button too long",
        [(("texts", "choose_button", "pt"), "Escolher uma das opções")],
        ["texts.choose_button.pt: 23 characters, at most 20 (WhatsApp list button label)"],
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(changes, expected, id=name)
        for name, changes, expected in BROKEN + BROKEN_NEW_SECTIONS
    ],
)
def test_a_broken_configuration_reports_exactly_what_is_wrong(
    bundled_data: dict[str, Any],
    changes: list[tuple[tuple[Any, ...], Any]],
    expected: list[str],
) -> None:
    assert problems_of(changed(bundled_data, *changes)) == expected


def renamed_language(node: Any, old: str, new: str) -> Any:
    """`node` with the language code `old` (as a key or a value) replaced by `new` throughout."""
    if isinstance(node, dict):
        return {
            (new if key == old else key): renamed_language(value, old, new)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [renamed_language(value, old, new) for value in node]
    return new if node == old else node


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh",
            "templates: language 'zh' has no template code at Meta: add "
            "template_language_codes: {zh: zh_CN} (or zh_HK, zh_TW)",
        ),
        (
            "pt-BR",
            "templates: language 'pt-BR' has no template code at Meta: add "
            "template_language_codes: {pt-BR: pt_BR}",
        ),
        (
            "eo",
            "templates: language 'eo' has no template code at Meta: templates cannot be "
            "approved in it, so leave it out of the templates' languages",
        ),
    ],
)
def test_a_template_language_meta_has_no_bare_code_for_is_refused_once(
    bundled_data: dict[str, Any], language: str, expected: str
) -> None:
    data = renamed_language(
        changed(bundled_data, (("template_language_codes",), DELETE)), "pt", language
    )
    assert problems_of(data) == [expected]


def test_a_language_with_a_bare_code_may_still_be_sent_under_a_regional_one(
    bundled_data: dict[str, Any],
) -> None:
    town = load_definition(changed(bundled_data, (("template_language_codes", "en"), "en_GB")))
    assert town.template_language_code("en") == "en_GB"
    assert town.template_language_code("pt") == "pt_PT"


def test_without_templates_no_code_is_needed(bundled_data: dict[str, Any]) -> None:
    data = changed(
        bundled_data,
        (("template_language_codes",), DELETE),
        (("templates",), DELETE),
        (("reminders",), DELETE),
        (("notifications",), DELETE),
    )
    town = load_definition(data)
    assert town.template_language_codes == {}
    assert town.template_language_code("pt") == "pt"


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


def test_every_problem_of_flows_tickets_and_surveys_is_reported_at_once(
    bundled_data: dict[str, Any],
) -> None:
    data = changed(
        bundled_data,
        ((*ITEMS, 3, "label", "ar"), DELETE),
        ((*CATEGORY, 2, "label", "es"), "Basura y limpieza de calles"),
        ((*CATEGORY, 0, "team"), "roads"),
        ((*STEPS, 1, "choices"), [{"id": "x", "label": {"pt": "x"}}]),
        (("flows", "report_status", "creates"), "ticket"),
        (("tickets",), DELETE),
        (("csat", "ratings", "en"), ["Bad", "Good"]),
        (("weekday_names", "es"), ["lunes"]),
        (("language_by_calling_code", "+351"), "pt"),
        (("language_by_calling_code", 33), "fr"),
        (("texts", "flow_unavailable"), {"pt": "x"}),
    )
    assert sorted(problems_of(data)) == sorted(
        [
            "main_menu.items[3].label.ar: missing translation",
            "flows.report_problem.steps[0].choices[2].label.es: 27 characters, at most 24 "
            "(WhatsApp list row title)",
            "teams: choice routes to unknown team 'roads' at "
            "flows.report_problem.steps[0].choices[0].team",
            "flows.report_problem.steps[1].choices: only steps expecting choice have choices, "
            "this one expects text",
            "flows.report_status: has creates and answers: give only one of "
            "creates: ticket or answers: ticket_status",
            "tickets: missing, needed by flows.report_problem (creates: ticket)",
            "tickets: missing, needed by flows.report_status.steps[0] (expect: reference)",
            "csat.ratings.en: 2 ratings, exactly 5 are needed (the worst first)",
            "weekday_names.es: 1 name, exactly 7 are needed (Monday first)",
            "language_by_calling_code.+351: '+351' is not a calling code: 1 to 3 digits, like 351",
            "language_by_calling_code.33: 'fr' is not in municipality.languages",
            "texts.flow_unavailable: unknown text",
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
                "weekday_names: missing",
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
