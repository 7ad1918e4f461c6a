"""A small municipality built in code, for the bot engine's unit tests: English and Portuguese,
short distinct texts, every feature the engine uses. `town(**changes)` varies it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot.definition import (
    AnswerFaq,
    Attachment,
    BusinessHours,
    Choice,
    Consent,
    Csat,
    FaqEntry,
    Flow,
    FlowOutcome,
    FlowStep,
    HandOff,
    MainMenu,
    MenuItem,
    MunicipalityDefinition,
    Sla,
    StartFlow,
    StepKind,
    Team,
    Tickets,
    TimeRange,
)
from chalicelib.domain.bot.engine import BotInput, BotTurn, advance
from chalicelib.domain.residents import ConsentState

CONSENT_VERSION = "2026-11"
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Lisbon is on UTC in winter
TUESDAY_EVENING = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
SATURDAY_EVENING = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
CHRISTMAS_EVE_EVENING = datetime(2026, 12, 24, 19, 0, tzinfo=UTC)  # Christmas is a holiday


def both(en: str, pt: str) -> Mapping[str, str]:
    return MappingProxyType({"en": en, "pt": pt})


TEXTS = {
    "menu_button": both("Options", "Opções"),
    "language_button": both("Languages", "Idiomas"),
    "anything_else": both("Anything else?", "Mais alguma coisa?"),
    "not_understood": both("Sorry, I didn't get that.", "Desculpe, não percebi."),
    "language_prompt": both("Which language?", "Que idioma prefere?"),
    "handoff": both("A person from {team} will answer you.", "Uma pessoa de {team} vai responder."),
    "team_languages": both("They speak: {languages}.", "Falam: {languages}."),
    "out_of_hours": both("We're closed; we open {when}.", "Estamos fechados; abrimos {when}."),
    "consent_declined": both("Understood, we keep nothing.", "Entendido, não guardamos nada."),
    "opted_out": both("You won't get our notices any more.", "Deixa de receber os avisos."),
    "opted_in": both("Notices are back on.", "Voltará a receber avisos."),
    "answer_soon": both("Usually within {minutes} minutes.", "Normalmente em {minutes} minutos."),
    "when_today": both("today at {time}", "hoje às {time}"),
    "when_tomorrow": both("tomorrow at {time}", "amanhã às {time}"),
    "when_day": both("on {weekday} {date} at {time}", "na {weekday}, {date}, às {time}"),
    "only_text": both("I can only read written messages here.", "Aqui só leio mensagens escritas."),
    "choose_button": both("Choose", "Escolher"),
    "skip_button": both("Skip", "Saltar"),
    "reprompt_choice": both("Please pick one from the list.", "Escolha uma opção da lista."),
    "reprompt_photo": both("Please send a photo, or skip.", "Envie uma fotografia ou salte."),
    "reprompt_location": both("Send a pin or type the address.", "Envie a localização ou a morada."),
    "reprompt_reference": both("References look like {example}.", "As referências são assim: {example}."),
    "ticket_created": both("Thanks! Reference {reference}; {team} will see to it.", "Obrigado! Referência {reference}; {team} vai tratar."),
    "ticket_status": both("{reference} ({category}, {date}): {status}.", "{reference} ({category}, {date}): {status}."),
    "ticket_not_found": both("I can't find {reference}.", "Não encontro {reference}."),
    "offer_person": both("Shall I pass you to a person?", "Quer falar com uma pessoa?"),
    "person_button": both("Talk to a person", "Falar com pessoa"),
    "back_button": both("Back to menu", "Voltar ao menu"),
}  # fmt: skip

CATEGORY = FlowStep(
    ask="category",
    expect=StepKind.CHOICE,
    prompt=both("What kind of problem?", "Que tipo de problema?"),
    choices=(
        Choice(
            id="pothole",
            label=both("Pothole", "Buraco"),
            description=both("In the road", "Na estrada"),
            team="roads",
        ),
        Choice(id="street_light", label=both("Street light", "Iluminação")),
    ),
)
REPORT_PROBLEM = Flow(
    id="report_problem",
    steps=(
        CATEGORY,
        FlowStep(ask="description", expect=StepKind.TEXT, prompt=both("Describe it.", "Descreva.")),
        FlowStep(
            ask="photo",
            expect=StepKind.IMAGE,
            optional=True,
            prompt=both("A photo?", "Uma fotografia?"),
        ),
        FlowStep(ask="location", expect=StepKind.LOCATION, prompt=both("Where?", "Onde?")),
    ),
    outcome=FlowOutcome.CREATE_TICKET,
    routes_to="public_works",
)
REPORT_STATUS = Flow(
    id="report_status",
    steps=(
        FlowStep(
            ask="reference",
            expect=StepKind.REFERENCE,
            prompt=both("Your reference?", "A sua referência?"),
        ),
    ),
    outcome=FlowOutcome.TICKET_STATUS,
)

MENU = MainMenu(
    title=both("How can we help?", "Como podemos ajudar?"),
    items=(
        MenuItem(
            id="report",
            label=both("Report a problem", "Reportar problema"),
            action=StartFlow("report_problem"),
        ),
        MenuItem(
            id="status",
            label=both("Status of a request", "Estado de um pedido"),
            action=StartFlow("report_status"),
        ),
        MenuItem(
            id="faq_waste",
            label=both("Waste collection", "Recolha do lixo"),
            description=both("Days and bulky items", "Dias e monos"),
            action=AnswerFaq("waste"),
        ),
        MenuItem(
            id="human", label=both("Talk to us", "Falar connosco"), action=HandOff("front_desk")
        ),
        MenuItem(
            id="language",
            label=both("Change language", "Mudar idioma"),
            action=StartFlow("choose_language"),
        ),
    ),
)

FAQ = {
    "waste": FaqEntry(
        id="waste",
        keywords=("garbage", "rubbish", "collection", "lixo", "recolha", "bulky items"),
        answer=both("Bins are emptied on Mondays.", "O lixo é recolhido à segunda."),
        attachment=Attachment(
            media_type="document",
            url="https://example.org/calendar.pdf",
            filename="calendar.pdf",
            caption=both("Calendar", "Calendário"),
        ),
    ),
    "documents": FaqEntry(
        id="documents",
        keywords=("renew", "licence", "renovar", "carta", "visa"),
        answer=both("Renew at https://example.org/renew", "Renove em https://example.org/renovar"),
    ),
}

TEAMS = {
    "front_desk": Team(
        id="front_desk",
        name="Front desk",
        display_name=both("the front desk", "atendimento"),
        languages=("en", "pt"),
    ),
    "public_works": Team(
        id="public_works",
        name="Public works",
        display_name=both("public works", "obras"),
        languages=("pt",),
    ),
    "roads": Team(
        id="roads", name="Roads", display_name=both("roads", "vias"), languages=("pt", "en")
    ),
}

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "pt": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira",
           "sábado", "domingo"),
}  # fmt: skip

WORKDAY = (TimeRange(time(9), time(17, 30)),)
HOURS = BusinessHours(
    weekly={**dict.fromkeys(range(5), WORKDAY), 5: (TimeRange(time(9), time(13)),)},
    holidays=frozenset({date(2026, 12, 25)}),
)


def town(**changes: Any) -> MunicipalityDefinition:
    definition = MunicipalityDefinition(
        name="Testville",
        timezone="Europe/Lisbon",
        languages=("en", "pt"),
        default_language="pt",
        values={},
        welcome=both("Welcome to Testville!", "Bem-vindo a Testville!"),
        texts=MappingProxyType(TEXTS),
        language_names={"en": "English", "pt": "Português"},
        consent=Consent(
            version=CONSENT_VERSION,
            text=both("We keep your number. Do you agree?", "Guardamos o seu número. Aceita?"),
            accept_button=both("I agree", "Aceito"),
            decline_button=both("No thanks", "Não aceito"),
        ),
        main_menu=MENU,
        faq=FAQ,
        flows={"report_problem": REPORT_PROBLEM, "report_status": REPORT_STATUS},
        teams=TEAMS,
        sla=Sla(first_response=timedelta(minutes=15), resolution=timedelta(days=2), warn_at=0.8),
        business_hours=HOURS,
        opt_out_keywords=("STOP", "PARAR"),
        opt_in_keywords=("START", "INICIAR"),
        menu_keywords=("menu", "help", "ajuda", "hello", "olá"),
        notifications={},
        templates={},
        csat=Csat(
            ask_after_resolution=True,
            question=both("How did we do?", "Como correu?"),
            button=both("Rate", "Avaliar"),
            ratings={
                "en": ("Very bad", "Bad", "OK", "Good", "Very good"),
                "pt": ("Muito mau", "Mau", "Razoável", "Bom", "Muito bom"),
            },
            thanks=both("Thanks for rating!", "Obrigado pela avaliação!"),
        ),
        tickets=Tickets(
            reference_prefix="VNR",
            statuses={
                "open": both("Received", "Recebido"),
                "in_progress": both("Being handled", "Em curso"),
                "resolved": both("Resolved", "Resolvido"),
                "closed": both("Closed", "Fechado"),
            },
        ),
        weekday_names=WEEKDAYS,
        language_by_calling_code={"351": "pt", "55": "pt", "44": "en", "1": "en", "34": "es"},
    )
    return dataclasses.replace(definition, **changes)


def message(**fields: Any) -> BotInput:
    """A message from an English-speaking resident who consented, unless told otherwise."""
    defaults: dict[str, Any] = {
        "message_type": "interactive" if "reply_id" in fields else "text",
        "resident_language": "en",
        "resident_phone": "351912345678",
        "consent": ConsentState.GIVEN,
        "consent_version": CONSENT_VERSION,
        "message_id": "wamid.in",
    }
    return BotInput(**{**defaults, **fields})


def newcomer(**fields: Any) -> BotInput:
    """A message from someone who has not answered the consent question."""
    return message(
        **{"resident_language": None, "consent": ConsentState.UNKNOWN, "consent_version": None}
        | fields
    )


MENU_STATE = {"v": 2, "language": "en", "mode": "menu"}


def send(
    definition: MunicipalityDefinition,
    state: Mapping[str, Any],
    event: BotInput,
    now: datetime = TUESDAY_MORNING,
) -> BotTurn:
    return advance(definition, state, event, now)
