"""A municipality's validated configuration: what the bot says, to whom it hands off, and the
data the rest of the service (agents' inbox, reminders, retention) reads.

Built only by `config_loader.load_definition`, which guarantees that every `Localized` has a text
for every language in `languages`, that every reference (team, FAQ, flow, template) resolves,
and that texts fit WhatsApp's limits. Read-only and shared across invocations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

Localized = Mapping[str, str]  # language code → text, one entry per configured language

CHOOSE_LANGUAGE = "choose_language"  # the built-in flow: the language list
CHOOSE_TOPICS = "choose_topics"  # the built-in flow: the list of topics to (un)subscribe to
BUILTIN_FLOWS = frozenset({CHOOSE_LANGUAGE, CHOOSE_TOPICS})
CHOICE_ROW = "choice:"  # the list row id of a flow step's choice is "choice:<id>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    media_type: str  # document | image | video | audio
    url: str
    filename: str | None = None
    caption: Localized | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqEntry:
    id: str
    keywords: tuple[str, ...]  # any language; matched word by word, ignoring case and accents
    answer: Localized
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class StartFlow:
    flow: str


@dataclass(frozen=True, slots=True)
class AnswerFaq:
    faq: str


@dataclass(frozen=True, slots=True)
class HandOff:
    team: str


MenuAction = StartFlow | AnswerFaq | HandOff


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuItem:
    id: str  # also the list row id WhatsApp sends back
    label: Localized
    action: MenuAction
    description: Localized | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MainMenu:
    title: Localized
    items: tuple[MenuItem, ...]

    def item(self, item_id: str) -> MenuItem | None:
        return next((item for item in self.items if item.id == item_id), None)


class StepKind(StrEnum):
    """What a flow step waits for."""

    CHOICE = "choice"  # one of `choices`, sent as a list (≤ 10 rows)
    TEXT = "text"  # free text
    IMAGE = "image"  # a photo (optional steps offer a skip button)
    LOCATION = "location"  # a WhatsApp location pin, or a typed address
    REFERENCE = "reference"  # a ticket reference such as VNR-2026-000123


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    id: str  # also the list row id WhatsApp sends back
    label: Localized
    description: Localized | None = None
    team: str | None = None  # overrides the flow's routes_to for tickets in this category


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStep:
    ask: str  # the answer's name, e.g. "category", "description"
    expect: StepKind
    prompt: Localized
    choices: tuple[Choice, ...] = ()  # CHOICE steps only
    optional: bool = False


class FlowOutcome(StrEnum):
    CREATE_TICKET = "create_ticket"  # `creates: ticket` in the file
    TICKET_STATUS = "ticket_status"  # `answers: ticket_status`: tell the status of a reference


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    id: str
    steps: tuple[FlowStep, ...]
    outcome: FlowOutcome
    routes_to: str | None = None  # a team id: who handles the tickets it creates


@dataclass(frozen=True, slots=True, kw_only=True)
class Tickets:
    reference_prefix: str  # "VNR" → VNR-2026-000123
    statuses: Mapping[str, Localized]  # TicketStatus value → how residents read it


@dataclass(frozen=True, slots=True, kw_only=True)
class Team:
    id: str
    name: str  # as agents know it
    display_name: Localized  # as residents read it
    languages: tuple[str, ...]  # the languages its agents answer in


@dataclass(frozen=True, slots=True)
class TimeRange:
    """From `start` (included) to `end` (excluded), within one day."""

    start: time
    end: time

    def __contains__(self, moment: time) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True, slots=True, kw_only=True)
class BusinessHours:
    """When agents work, in the municipality's local time. The bot answers at any hour."""

    weekly: Mapping[int, tuple[TimeRange, ...]]  # weekday (0 = Monday) → opening ranges
    holidays: frozenset[date] = frozenset()

    def is_open(self, local: datetime) -> bool:
        if local.date() in self.holidays:
            return False
        return any(local.time() in span for span in self.weekly.get(local.weekday(), ()))

    def next_opening(self, local: datetime, *, horizon_days: int = 31) -> datetime | None:
        """The next moment agents start work after `local` (aware, local time), or None when
        nothing opens within `horizon_days`. When open at `local`, that is `local` itself."""
        if self.is_open(local):
            return local
        for offset in range(horizon_days + 1):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for span in sorted(self.weekly.get(day.weekday(), ()), key=lambda s: s.start):
                start = datetime.combine(day, span.start, tzinfo=local.tzinfo)
                if start > local:
                    return start
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    version: str
    text: Localized
    accept_button: Localized
    decline_button: Localized


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    """A subject of broadcasts residents subscribe to through the bot (`topics:`)."""

    id: str
    label: Localized  # a list row title, with room for the mark of a subscribed topic
    description: Localized | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRule:
    """Exactly one condition is set; the first matching rule picks the team."""

    team: str
    text_contains: tuple[str, ...] = ()
    contact_tag: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sla:
    first_response: timedelta  # counted in business hours
    resolution: timedelta
    warn_at: float  # fraction of the target, e.g. 0.8
    escalate_to: str | None = None  # a team id


@dataclass(frozen=True, slots=True, kw_only=True)
class QuickReply:
    shortcut: str  # "/horario"
    text: Localized


@dataclass(frozen=True, slots=True, kw_only=True)
class Template:
    """An approved WhatsApp template, by name, and the languages it was approved in."""

    name: str
    languages: tuple[str, ...]
    category: str  # utility | marketing | authentication
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Reminder:
    id: str
    offsets: tuple[timedelta, ...]  # relative to the due date; negative = before
    template: str
    params: tuple[str, ...] = ()
    weekdays_only: bool = False  # a reminder due on a weekend goes out the Monday after


@dataclass(frozen=True, slots=True, kw_only=True)
class Reminders:
    kinds: Mapping[str, Reminder]
    send_window: TimeRange | None = None  # local time


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    id: str
    template: str
    params: tuple[str, ...] = ()


CSAT_SCORES = range(1, 6)  # 1 (worst) to 5
CSAT_ROW_TITLE = "{score} – {label}"  # a rating's list row title


@dataclass(frozen=True, slots=True, kw_only=True)
class Csat:
    """The 1–5 satisfaction question sent after a conversation with a person is resolved."""

    ask_after_resolution: bool
    question: Localized | None = None  # list body; set when ask_after_resolution
    button: Localized | None = None  # the list button that opens the ratings
    ratings: Mapping[str, tuple[str, ...]] | None = None  # language → 5 labels, 1 (worst) first
    thanks: Localized | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar length such as "24 months": months and years are not fixed durations."""

    amount: int
    unit: str  # days | weeks | months | years

    def after(self, moment: datetime) -> datetime:
        """The moment the period is over when it starts at `moment`: "1 month" after 31 January
        is the last day of February, at the same time of day."""
        if self.unit == "days":
            return moment + timedelta(days=self.amount)
        if self.unit == "weeks":
            return moment + timedelta(weeks=self.amount)
        if self.unit not in ("months", "years"):
            raise ValueError(f"unknown period unit {self.unit!r}")
        months = self.amount * (12 if self.unit == "years" else 1)
        index = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(index, 12)
        month += 1
        return moment.replace(year=year, month=month, day=min(moment.day, _days_in(year, month)))


def _days_in(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    messages: Period | None = None
    tickets: Period | None = None
    audit: Period | None = None  # the audit log's; None: domain.audit.DEFAULT_RETENTION_YEARS


DEFAULT_CURRENCY = "EUR"  # of broadcast prices, when the config names none


@dataclass(frozen=True, slots=True, kw_only=True)
class BroadcastPolicy:
    """`broadcasts:`: how many residents the town may reach in a moving 24 h (the portfolio's
    messaging limit at Meta; None: unlimited), whether marketing templates may be broadcast,
    and the price of one delivered template message by category (for the cost estimate)."""

    daily_limit: int | None
    allow_marketing: bool = False
    currency: str = DEFAULT_CURRENCY
    prices: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class MunicipalityDefinition:
    name: str
    timezone: str  # IANA name, checked to exist when loading
    languages: tuple[str, ...]  # the first is not special; see default_language
    default_language: str
    values: Mapping[str, str]  # `municipality:` strings, the {placeholders} of the texts
    welcome: Localized
    texts: Mapping[str, Localized]  # system texts by key, see config_loader.TEXT_KEYS
    language_names: Mapping[str, str]  # code → the language's own name, for the picker
    consent: Consent
    main_menu: MainMenu
    faq: Mapping[str, FaqEntry]
    flows: Mapping[str, Flow]
    teams: Mapping[str, Team]  # in configuration order; the first is the fallback
    routing: tuple[RoutingRule, ...] = ()
    assignment: str = "least_busy"  # least_busy | round_robin
    sla: Sla | None = None
    business_hours: BusinessHours | None = None  # None: no agent hours configured
    opt_out_keywords: tuple[str, ...] = ()
    opt_in_keywords: tuple[str, ...] = ()
    menu_keywords: tuple[str, ...] = ()
    quick_replies: tuple[QuickReply, ...] = ()
    reminders: Reminders | None = None
    notifications: Mapping[str, Notification]
    templates: Mapping[str, Template]
    # config language → the code its templates are approved under at Meta, where they differ
    # ("pt" → "pt_PT": Meta has no bare "pt"); see template_language_code
    template_language_codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    csat: Csat | None = None
    retention: Retention | None = None
    tickets: Tickets | None = None  # required when a flow creates tickets or tells their status
    weekday_names: Mapping[str, tuple[str, ...]]  # language → 7 names, Monday first
    language_by_calling_code: Mapping[str, str]  # "351" → "pt": a first guess from the number
    # `topics:`, in configuration order (≤ 10: one WhatsApp list); empty: no subscriptions
    topics: Mapping[str, Topic] = field(default_factory=lambda: MappingProxyType({}))
    topics_version: str | None = None  # recorded with each (un)subscription; set with topics
    topics_keywords: tuple[str, ...] = ()  # a message that is one of them opens the topics list
    broadcasts: BroadcastPolicy | None = None  # `broadcasts:`; None: no broadcasts configured

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def fallback_team(self) -> Team:
        return next(iter(self.teams.values()))

    def text(self, key: str, language: str) -> str:
        return self.texts[key][language]

    def template_language_code(self, language: str) -> str:
        """The code Meta knows `language`'s templates by, which a template send must carry:
        the configured mapping (`template_language_codes:`), else the language itself."""
        return self.template_language_codes.get(language, language)

    def supported_language(self, code: str | None) -> str | None:
        """`code` if the bot speaks it; "pt-BR" and "pt_PT" count as "pt"."""
        if not code:
            return None
        if code in self.languages:
            return code
        base = code.replace("_", "-").split("-")[0].lower()
        return base if base in self.languages else None

    def is_staffed(self, now: datetime) -> bool:
        """Whether agents are at work at `now` (aware); always true without business hours."""
        if self.business_hours is None:
            return True
        return self.business_hours.is_open(now.astimezone(self.zone))
