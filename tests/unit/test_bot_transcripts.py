"""The bot engine, driven by golden transcripts of the bundled example town in every language.

A transcript (tests/fixtures/transcripts/<language>.yaml) lists conversations; each starts with
an empty bot state and a resident (`resident:` of the file, overridden by the conversation's:
language, phone, consent) and is a list of turns: what the resident sends (`in`) — or
`ask_csat: true`, the question sent when an agent resolves the conversation — at what time (`at`,
else the conversation's, else the file's `now`), and exactly what the bot answers (`out`) and
decides (`events`).

Between turns the runner does what the service does (services/handle_inbound_message.py): the
state goes through JSON; the resident's language, consent, opt-out and topics follow the events
(`resident: {subscriptions: [topic, ...]}` sets the topics a conversation starts with); a
reference typed by a consenting resident is looked up among the file's `tickets` (another
resident's ticket reads as not found); after a rating question, a message that is not a rating
starts a new conversation. "{reference}" in a reply is left as the engine returns it (the service
fills it with the new ticket's number). Lists name their rows from the file's `row_sets`.

After an intended change of texts or behaviour, regenerate the expected answers with
`.venv/bin/python -m tests.unit.test_bot_transcripts` and review the diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_loader import load_definition
from chalicelib.domain.bot.definition import MunicipalityDefinition, StartFlow
from chalicelib.domain.bot.engine import BotInput, BotTurn, advance, ask_csat, is_csat_answer
from chalicelib.domain.bot.events import (
    BotEvent,
    ConsentDeclined,
    ConsentGiven,
    LanguageChosen,
    OptedIn,
    OptedOut,
    SubscriptionChanged,
    event_to_dict,
)
from chalicelib.domain.bot.phrasebook import Phrasebook
from chalicelib.domain.bot.topics import topics_list
from chalicelib.domain.replies import (
    ButtonsReply,
    MediaReply,
    MenuReply,
    Reply,
    TemplateReply,
    TextReply,
)
from chalicelib.domain.residents import ConsentState
from chalicelib.domain.tickets import (
    Location,
    Ticket,
    TicketLookup,
    TicketStatus,
    find_reference,
)
from chalicelib.settings import BUNDLED_CONFIG

TRANSCRIPTS = Path(__file__).parents[1] / "fixtures" / "transcripts"
SHIPPED_LANGUAGES = ("pt", "es", "en", "ar")
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Lisbon is on UTC in winter
SATURDAY_EVENING = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
THIS_RESIDENT = "wa:resident"


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


@pytest.fixture(scope="module")
def town_data() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


# -- replaying a transcript ------------------------------------------------------------------------


@dataclass
class Resident:
    """What the service keeps about the resident, as far as the bot sees it."""

    language: str | None = None
    phone: str | None = None
    consent: ConsentState = ConsentState.GIVEN
    consent_version: str | None = None
    opted_out: bool = False
    subscriptions: frozenset[str] = frozenset()

    def apply(self, event: BotEvent) -> None:
        match event:
            case LanguageChosen(language=language):
                self.language = language
            case ConsentGiven(version=version):
                self.consent, self.consent_version = ConsentState.GIVEN, version
            case ConsentDeclined(version=version):
                self.consent, self.consent_version = ConsentState.DECLINED, version
            case OptedOut():
                self.opted_out = True
            case OptedIn():
                self.opted_out = False
            case SubscriptionChanged(topic=topic, subscribed=True):
                self.subscriptions |= {topic}
            case SubscriptionChanged(topic=topic, subscribed=False):
                self.subscriptions -= {topic}


def resident_for(
    town: MunicipalityDefinition, transcript: Mapping[str, Any], conversation: Mapping[str, Any]
) -> Resident:
    spec = {**transcript.get("resident", {}), **conversation.get("resident", {})}
    consent = ConsentState(spec.get("consent", "given"))
    return Resident(
        language=spec.get("language"),
        phone=spec.get("phone"),
        consent=consent,
        consent_version=town.consent.version if consent is ConsentState.GIVEN else None,
        opted_out=bool(spec.get("opted_out", False)),
        subscriptions=frozenset(spec.get("subscriptions", ())),
    )


def known_tickets(transcript: Mapping[str, Any]) -> dict[str, Ticket]:
    tickets = {}
    for spec in transcript.get("tickets", []):
        created = as_datetime(spec["created_at"])
        tickets[spec["reference"]] = Ticket(
            reference=spec["reference"],
            resident_key=THIS_RESIDENT if spec.get("resident") == "self" else "wa:someone-else",
            conversation_id="c0",
            flow=spec["flow"],
            category=spec.get("category"),
            status=TicketStatus(spec["status"]),
            created_at=created,
            updated_at=created,
        )
    return tickets


def inbound(
    spec: Mapping[str, Any],
    resident: Resident,
    town: MunicipalityDefinition,
    tickets: Mapping[str, Ticket],
) -> BotInput:
    """`{text: ...}`, `{reply: <row id>, text: <row title>}`, `{type: image, media_id: ...}`,
    `{type: location, location: {latitude: ..., longitude: ...}}` and the like."""
    message_type = spec.get("type") or ("interactive" if "reply" in spec else "text")
    location = Location(**spec["location"]) if "location" in spec else None
    return BotInput(
        message_type=message_type,
        text=spec.get("text"),
        reply_id=spec.get("reply"),
        message_id=spec.get("id", "wamid.inbound"),
        media_id=spec.get("media_id"),
        mime_type=spec.get("mime_type"),
        location=location,
        resident_language=resident.language,
        resident_phone=resident.phone,
        consent=resident.consent,
        consent_version=resident.consent_version,
        opted_out=resident.opted_out,
        subscriptions=resident.subscriptions,
        ticket_lookup=lookup(spec.get("text"), resident, town, tickets),
    )


def lookup(
    text: str | None,
    resident: Resident,
    town: MunicipalityDefinition,
    tickets: Mapping[str, Ticket],
) -> TicketLookup | None:
    if town.tickets is None or resident.consent is not ConsentState.GIVEN:
        return None
    reference = find_reference(town.tickets.reference_prefix, text)
    if reference is None:
        return None
    ticket = tickets.get(reference)
    if ticket is not None and ticket.resident_key != THIS_RESIDENT:
        ticket = None
    return TicketLookup(reference=reference, ticket=ticket)


def replay(
    town: MunicipalityDefinition, transcript: Mapping[str, Any], conversation: Mapping[str, Any]
) -> list[tuple[BotTurn, list[dict[str, Any]], list[dict[str, Any]]]]:
    """Every turn of the conversation: the engine's turn, its rendered replies and events."""
    resident = resident_for(town, transcript, conversation)
    tickets = known_tickets(transcript)
    state: dict[str, Any] = {}
    played = []
    for turn_spec in conversation["turns"]:
        now = as_datetime(turn_spec.get("at") or conversation.get("at") or transcript["now"])
        if turn_spec.get("ask_csat"):
            turn = ask_csat(town, state.get("language") or resident.language or "")
        else:
            event = inbound(turn_spec["in"], resident, town, tickets)
            if state.get("mode") == "awaiting_csat" and not is_csat_answer(state, event):
                state = {}  # the service starts a new conversation
            turn = advance(town, state, event, now)
        for bot_event in turn.events:
            resident.apply(bot_event)
        played.append((turn, *render_turn(turn)))
        state = json.loads(json.dumps(turn.state))
    return played


def render_reply(reply: Reply) -> dict[str, Any]:
    match reply:
        case TextReply(text=text, preview_url=preview):
            return {"text": text, "preview": True} if preview else {"text": text}
        case MenuReply(body=body, button=button, rows=rows):
            rendered_rows = [
                [row.id, row.title, *([row.description] if row.description else [])] for row in rows
            ]
            return {"menu": {"body": body, "button": button, "rows": rendered_rows}}
        case ButtonsReply(body=body, buttons=buttons):
            return {"buttons": {"body": body, "buttons": [[b.id, b.title] for b in buttons]}}
        case MediaReply():
            media = {
                "type": reply.media_type,
                "link": reply.link,
                "caption": reply.caption,
                "filename": reply.filename,
            }
            return {"media": {key: value for key, value in media.items() if value is not None}}
    raise AssertionError(f"the bot sent an unexpected reply {reply!r}")


def render_turn(turn: BotTurn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = json.loads(json.dumps([event_to_dict(e) for e in turn.events]))
    return [render_reply(r) for r in turn.replies], events


def expand_rows(expected: Sequence[Mapping[str, Any]], row_sets: Mapping[str, Any]) -> list[Any]:
    """Replace `rows: <name>` with the named row set."""
    expanded = []
    for reply in expected:
        if "menu" in reply and isinstance(reply["menu"]["rows"], str):
            reply = {"menu": {**reply["menu"], "rows": row_sets[reply["menu"]["rows"]]}}
        expanded.append(reply)
    return expanded


def as_datetime(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _transcript_cases() -> list[Any]:
    cases = []
    for path in sorted(TRANSCRIPTS.glob("*.yaml")):
        transcript = yaml.safe_load(path.read_text(encoding="utf-8"))
        for conversation in transcript["conversations"]:
            case_id = f"{path.stem}: {conversation['name']}"
            cases.append(pytest.param(transcript, conversation, id=case_id))
    return cases


def test_there_is_a_transcript_for_every_shipped_language(town: MunicipalityDefinition) -> None:
    assert town.languages == SHIPPED_LANGUAGES
    found = {path.stem for path in TRANSCRIPTS.glob("*.yaml")}
    assert found == set(SHIPPED_LANGUAGES)


def test_every_transcript_covers_the_same_conversations() -> None:
    names = {
        path.stem: [c["name"] for c in yaml.safe_load(path.read_text())["conversations"]]
        for path in TRANSCRIPTS.glob("*.yaml")
    }
    assert len({tuple(conversations) for conversations in names.values()}) == 1, names


@pytest.mark.parametrize(("transcript", "conversation"), _transcript_cases())
def test_golden_transcript(
    town: MunicipalityDefinition, transcript: Mapping[str, Any], conversation: Mapping[str, Any]
) -> None:
    played = replay(town, transcript, conversation)
    for number, (turn_spec, (turn, replies, events)) in enumerate(
        zip(conversation["turns"], played, strict=True), start=1
    ):
        where = f"turn {number} ({turn_spec.get('in', 'ask_csat')})"
        assert replies == expand_rows(turn_spec["out"], transcript["row_sets"]), where
        assert events == turn_spec.get("events", []), where
        if "mode" in turn_spec:
            assert turn.state["mode"] == turn_spec["mode"], where


# -- properties over the whole bundled configuration ---------------------------------------------


def assert_fits_whatsapp(reply: Reply) -> None:
    match reply:
        case TextReply(text=text):
            assert 0 < len(text) <= limits.TEXT_BODY
        case MenuReply(body=body, button=button, rows=rows):
            assert 0 < len(body) <= limits.INTERACTIVE_BODY
            assert 0 < len(button) <= limits.LIST_BUTTON
            assert 1 <= len(rows) <= limits.LIST_ROWS
            assert len({row.id for row in rows}) == len(rows)
            for row in rows:
                assert 0 < len(row.id) <= limits.ROW_ID
                assert 0 < len(row.title) <= limits.ROW_TITLE, row.title
                assert row.description is None or len(row.description) <= limits.ROW_DESCRIPTION
        case ButtonsReply(body=body, buttons=buttons):
            assert 0 < len(body) <= limits.INTERACTIVE_BODY
            assert 1 <= len(buttons) <= limits.REPLY_BUTTONS
            assert len({b.id for b in buttons}) == len(buttons)
            assert len({b.title for b in buttons}) == len(buttons)
            for button in buttons:
                assert 0 < len(button.title) <= limits.BUTTON_TITLE, button.title
        case MediaReply(caption=caption, link=link):
            assert link and link.startswith("https://")
            assert caption is None or len(caption) <= limits.MEDIA_CAPTION
        case TemplateReply():
            raise AssertionError("the bot does not send templates")


def every_first_answer(town: MunicipalityDefinition, language: str, now: datetime) -> list[BotTurn]:
    """The consent prompt, then every menu option, language and flow step's first prompt."""
    newcomer = BotInput(message_type="text", text="?", resident_language=language)
    consented = replace(newcomer, consent=ConsentState.GIVEN, consent_version=town.consent.version)
    turns = [advance(town, {}, newcomer, now), ask_csat(town, language)]
    first = advance(town, {}, consented, now)
    turns.append(first)
    for row in first.replies[-1].rows:  # type: ignore[union-attr]
        turns.append(advance(town, first.state, replace(consented, reply_id=row.id), now))
    picker = advance(town, first.state, replace(consented, reply_id="language"), now)
    for row in picker.replies[0].rows:  # type: ignore[union-attr]
        turns.append(advance(town, picker.state, replace(consented, reply_id=row.id), now))
    for flow in town.flows.values():
        for step, _ in enumerate(flow.steps):
            state = {"v": 2, "language": language, "mode": "flow", "flow": flow.id, "step": step,
                     "answers": {}}  # fmt: skip
            for wrong in ({"text": "?"}, {"message_type": "sticker"}):
                turns.append(advance(town, state, replace(consented, **wrong), now))
    turns.append(advance(town, {"v": 2, "language": language, "mode": "menu", "misses": 1},
                         replace(consented, text="qwerty"), now))  # fmt: skip
    return turns


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("now", [TUESDAY_MORNING, SATURDAY_EVENING], ids=["open", "closed"])
def test_every_answer_fits_whatsapp_and_has_no_placeholder_left(
    town: MunicipalityDefinition, language: str, now: datetime
) -> None:
    for turn in every_first_answer(town, language, now):
        assert turn.replies
        for reply in turn.with_reference("VNR-2026-000123").replies:
            assert_fits_whatsapp(reply)
            rendered = json.dumps(render_reply(reply), ensure_ascii=False)
            assert not re.search(r"\{\w*\}", rendered), rendered


def test_every_flow_of_the_menu_runs(town: MunicipalityDefinition) -> None:
    flows = {i.action.flow for i in town.main_menu.items if isinstance(i.action, StartFlow)}
    assert flows - {"choose_language", "choose_topics"} == set(town.flows)


def test_without_business_hours_there_is_no_out_of_hours_note(
    town_data: dict[str, Any],
) -> None:
    data = {key: value for key, value in town_data.items() if key != "business_hours"}
    town = load_definition(data)
    state = {"v": 2, "language": "en", "mode": "menu"}
    event = BotInput(message_type="interactive", reply_id="human", consent=ConsentState.GIVEN,
                     consent_version=town.consent.version)  # fmt: skip
    turn = advance(town, state, event, SATURDAY_EVENING)
    assert turn.replies == (
        TextReply(
            text="All right. A person from our Front Desk team will answer you here, in this "
            "chat.\n\nWe usually answer within 15 minutes."
        ),
    )


def test_holidays_and_opening_hours_are_read_in_the_towns_time_zone(
    town: MunicipalityDefinition,
) -> None:
    lisbon_summer_opening = datetime(2026, 7, 6, 8, 0, tzinfo=UTC)  # Monday 09:00 WEST
    assert town.is_staffed(lisbon_summer_opening)
    assert not town.is_staffed(lisbon_summer_opening.replace(hour=7, minute=59))
    christmas_morning = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    assert not town.is_staffed(christmas_morning)
    assert town.is_staffed(datetime(2026, 12, 24, 17, 29, tzinfo=UTC))
    assert not town.is_staffed(datetime(2026, 12, 24, 17, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "faq"),
    [
        ("RENOVACION del carne", "documents"),  # accents and case ignored
        ("a recolha do LIXO", "waste_collection"),
        ("lixeira", None),  # whole words only
        ("renew my waste bin licence", "documents"),  # more keywords of documents than of waste
        ("waste renewal", "waste_collection"),  # a tie: the first FAQ listed wins
        ("جمع الزبالة", "waste_collection"),
        ("اريد تاشيرة", "documents"),  # "تأشيرة" written without its hamza
        ("تجديد الرخصه", "documents"),  # ta marbuta written as ha: one letter
        ("quando passa a reciclagen", "waste_collection"),  # a typo
        ("pelo menos", None),  # a word of the town's own texts is not a typo of "monos"
    ],
)
def test_keyword_matching(town: MunicipalityDefinition, text: str, faq: str | None) -> None:
    state = {"v": 2, "language": "en", "mode": "menu"}
    event = BotInput(message_type="text", text=text, consent=ConsentState.GIVEN,
                     consent_version=town.consent.version)  # fmt: skip
    turn = advance(town, state, event, TUESDAY_MORNING)
    assert [e.faq for e in turn.events] == ([faq] if faq else [])  # type: ignore[union-attr]


# -- regenerating the transcripts after an intended change -----------------------------------------


@dataclass
class _RowSets:
    named: dict[str, Any]
    used: set[str] = field(default_factory=set)

    def name(self, rows: Any) -> str | None:
        name = next((n for n, known in self.named.items() if rows == known), None)
        if name is not None:
            self.used.add(name)
        return name


def _row_sets(town: MunicipalityDefinition) -> _RowSets:
    named: dict[str, Any] = {}
    for code in town.languages:
        state = {"v": 2, "language": code, "mode": "menu"}
        event = BotInput(message_type="text", text="menu", consent=ConsentState.GIVEN,
                         consent_version=town.consent.version)  # fmt: skip
        turn = advance(town, state, event, TUESDAY_MORNING)
        named[f"main_{code}"] = render_reply(turn.replies[-1])["menu"]["rows"]
        for flow in town.flows.values():
            for number, step in enumerate(flow.steps):
                if step.choices:
                    flow_state = {**state, "mode": "flow", "flow": flow.id, "step": number,
                                  "answers": {}}  # fmt: skip
                    turn = advance(town, flow_state, replace(event, text="?"), TUESDAY_MORNING)
                    named[f"{step.ask}_{code}"] = render_reply(turn.replies[-1])["menu"]["rows"]
        if town.topics:
            topics = render_reply(topics_list(Phrasebook(town, code), frozenset()))
            named[f"topics_{code}"] = topics["menu"]["rows"]
        if town.csat is not None and town.csat.question is not None:
            named[f"csat_{code}"] = render_reply(ask_csat(town, code).replies[0])["menu"]["rows"]
    picker = {"v": 2, "language": town.default_language, "mode": "menu"}
    event = BotInput(message_type="interactive", reply_id="language", consent=ConsentState.GIVEN,
                     consent_version=town.consent.version)  # fmt: skip
    turn = advance(town, picker, event, TUESDAY_MORNING)
    named["languages"] = render_reply(turn.replies[-1])["menu"]["rows"]
    return _RowSets(named)


def rewrite_transcript(path: Path, town: MunicipalityDefinition) -> None:
    """Replay the `in` of every turn and write what the bot answers now as the expected `out`
    and `events`. Review the diff before committing: that is the point of golden files."""
    text = path.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    transcript = yaml.safe_load(text)
    row_sets = _row_sets(town)
    for conversation in transcript["conversations"]:
        for turn_spec, (_, replies, events) in zip(
            conversation["turns"], replay(town, transcript, conversation), strict=True
        ):
            for reply in replies:
                if "menu" in reply and (name := row_sets.name(reply["menu"]["rows"])):
                    reply["menu"]["rows"] = name
            turn_spec["out"] = replies
            turn_spec.pop("events", None)
            if events:
                turn_spec["events"] = events
    transcript["row_sets"] = {n: rows for n, rows in row_sets.named.items() if n in row_sets.used}
    order = ("language", "now", "resident", "tickets", "row_sets", "conversations")
    transcript = {key: transcript[key] for key in order if key in transcript}
    body = yaml.dump(
        transcript, Dumper=_TranscriptDumper, allow_unicode=True, sort_keys=False, width=200
    )
    path.write_text(header + body, encoding="utf-8")


class _TranscriptDumper(yaml.SafeDumper):
    """Rows and buttons on one line each, multi-line texts as blocks, no &anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    row = bool(data) and len(data) <= 3 and all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=row)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_TranscriptDumper.add_representer(list, _represent_list)
_TranscriptDumper.add_representer(str, _represent_str)


if __name__ == "__main__":  # .venv/bin/python -m tests.unit.test_bot_transcripts
    bundled = load_municipality_file(BUNDLED_CONFIG)
    for transcript_path in sorted(TRANSCRIPTS.glob("*.yaml")):
        rewrite_transcript(transcript_path, bundled)
        print(f"rewrote {transcript_path}")
