"""Template language codes: Meta approves and matches a template per exact code and has no bare
`pt` (only pt_PT and pt_BR), so what civicchat sends must be the code the town submitted, and the
simulator must refuse anything else as Meta does (132001)."""

from __future__ import annotations

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.template_languages import (
    TEMPLATE_LANGUAGE_CODES,
    is_template_language_code,
    template_codes_for,
)
from chalicelib.domain.reminder_plan import template_for
from chalicelib.domain.replies import TemplateReply
from chalicelib.local_stack.stack import approved_templates
from chalicelib.settings import BUNDLED_CONFIG
from chalicelib.simulator.errors import GraphError
from chalicelib.simulator.validation import (
    OutboundMessage,
    TemplateCatalog,
    ValidationContext,
    parse_messages_request,
)
from chalicelib.whatsapp.payloads import build_message_payload

RESIDENT = "351912345678"


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


def send_to_simulator(approved: dict[str, list[str]], reply: TemplateReply) -> OutboundMessage:
    context = ValidationContext(TemplateCatalog(approved), media_exists=lambda _: False)
    parsed = parse_messages_request(build_message_payload(RESIDENT, reply), context)
    assert isinstance(parsed, OutboundMessage)
    return parsed


def test_meta_has_no_bare_portuguese_or_chinese_but_has_bare_spanish_and_arabic() -> None:
    assert {"pt", "zh"}.isdisjoint(TEMPLATE_LANGUAGE_CODES)
    assert {"pt_PT", "pt_BR", "zh_CN", "zh_HK", "zh_TW"} <= TEMPLATE_LANGUAGE_CODES
    assert all(map(is_template_language_code, ("es", "en", "ar", "fr", "de", "en_US", "fil")))
    assert not is_template_language_code("pt-PT")


@pytest.mark.parametrize(
    ("language", "codes"),
    [
        ("pt", ("pt_PT", "pt_BR")),
        ("zh", ("zh_CN", "zh_HK", "zh_TW")),
        ("pt-BR", ("pt_BR", "pt_PT")),
        ("ar", ("ar", "ar_AE", "ar_EG", "ar_LB", "ar_MA", "ar_QA")),
        ("eo", ()),
    ],
)
def test_the_codes_a_language_could_be_submitted_under(
    language: str, codes: tuple[str, ...]
) -> None:
    assert template_codes_for(language) == codes


def test_the_simulator_is_told_the_codes_the_town_submitted(
    town: MunicipalityDefinition,
) -> None:
    approved = approved_templates(town)
    assert approved["reopen_conversation"] == ["pt_PT", "es", "en", "ar"]
    assert approved["payment_due"] == ["pt_PT", "es", "en"]
    assert not any("pt" in codes for codes in approved.values())


def test_the_simulator_refuses_a_code_the_template_is_not_approved_under(
    town: MunicipalityDefinition,
) -> None:
    approved = approved_templates(town)
    with pytest.raises(GraphError) as refused:
        send_to_simulator(approved, TemplateReply(name="reopen_conversation", language="pt"))
    assert refused.value.code == 132001
    assert refused.value.title == "Template name does not exist in the translation"
    with pytest.raises(GraphError):
        send_to_simulator(approved, TemplateReply(name="payment_due", language="pt_BR"))


def test_a_portuguese_reminder_is_accepted_by_the_simulator_as_pt_pt(
    town: MunicipalityDefinition,
) -> None:
    reply = template_for(town, "visa_renewal", ("name",), "pt", {"name": "Omar"})
    sent = send_to_simulator(approved_templates(town), reply)
    assert sent.body["template"]["language"] == {"code": "pt_PT"}
