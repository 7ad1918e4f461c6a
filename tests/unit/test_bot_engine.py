"""The bot engine, driven by golden transcripts of the bundled example town in every language.

A transcript (tests/fixtures/transcripts/<language>.yaml) lists conversations; each starts with
an empty bot state and is a list of turns: what the resident sends (`in`), at what time (`at`,
else the file's `now`), and exactly what the bot answers (`out`) and decides (`events`). Menus
name their rows from the file's `row_sets` to keep the files readable. The state is passed
through JSON between turns, as it is when stored in DynamoDB.

After an intended change of texts or behaviour, regenerate the expected answers with
`.venv/bin/python -m tests.unit.test_bot_engine` and review the diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.domain.bot import limits
from chalicelib.domain.bot.config_loader import load_definition
from chalicelib.domain.bot.definition import MunicipalityDefinition
from chalicelib.domain.bot.engine import BotInput, BotTurn, advance
from chalicelib.domain.bot.events import (
    FaqAnswered,
    HandoffRequested,
    LanguageChosen,
    event_to_dict,
)
from chalicelib.domain.replies import (
    ButtonsReply,
    MediaReply,
    MenuReply,
    Reply,
    TemplateReply,
    TextReply,
)
from chalicelib.settings import BUNDLED_CONFIG

TRANSCRIPTS = Path(__file__).parents[1] / "fixtures" / "transcripts"
SHIPPED_LANGUAGES = ("pt", "es", "en", "ar")
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # Lisbon is on UTC in winter
SATURDAY_EVENING = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def town() -> MunicipalityDefinition:
    return load_municipality_file(BUNDLED_CONFIG)


@pytest.fixture(scope="module")
def town_data() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))


# -- transcripts -------------------------------------------------------------------------------


def inbound(spec: Mapping[str, Any], resident_language: str | None) -> BotInput:
    """`{text: ...}`, `{reply: <row id>, text: <row title>}` or `{type: image}` and the like."""
    message_type = spec.get("type") or ("interactive" if "reply" in spec else "text")
    return BotInput(
        message_type=message_type,
        text=spec.get("text"),
        reply_id=spec.get("reply"),
        resident_language=resident_language,
        resident_phone="351912345678",
    )


def render_reply(reply: Reply) -> dict[str, Any]:
    match reply:
        case TextReply(text=text, preview_url=preview):
            return {"text": text, "preview": True} if preview else {"text": text}
        case MenuReply(body=body, button=button, rows=rows):
            rendered_rows = [
                [row.id, row.title, *([row.description] if row.description else [])] for row in rows
            ]
            return {"menu": {"body": body, "button": button, "rows": rendered_rows}}
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
    return [render_reply(r) for r in turn.replies], [event_to_dict(e) for e in turn.events]


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


@pytest.mark.parametrize(("transcript", "conversation"), _transcript_cases())
def test_golden_transcript(
    town: MunicipalityDefinition, transcript: Mapping[str, Any], conversation: Mapping[str, Any]
) -> None:
    state: dict[str, Any] = {}
    for number, turn in enumerate(conversation["turns"], start=1):
        event = inbound(turn["in"], conversation.get("resident_language"))
        now = as_datetime(turn.get("at") or conversation.get("at") or transcript["now"])
        result = advance(town, state, event, now)
        replies, events = render_turn(result)
        where = f"turn {number} ({turn['in']})"
        assert replies == expand_rows(turn["out"], transcript["row_sets"]), where
        assert events == turn.get("events", []), where
        if "mode" in turn:
            assert result.state["mode"] == turn["mode"], where
        state = json.loads(json.dumps(result.state))


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
        case MediaReply(caption=caption, link=link):
            assert link and link.startswith("https://")
            assert caption is None or len(caption) <= limits.MEDIA_CAPTION
        case ButtonsReply() | TemplateReply():
            raise AssertionError(f"the bot does not send {reply.kind} yet")


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("now", [TUESDAY_MORNING, SATURDAY_EVENING], ids=["open", "closed"])
def test_every_menu_choice_answers_within_whatsapp_limits_and_without_placeholders(
    town: MunicipalityDefinition, language: str, now: datetime
) -> None:
    first = advance(town, {}, inbound({"text": "?"}, language), now)
    choices = [row.id for row in first.replies[-1].rows]  # type: ignore[union-attr]
    turns = [first]
    for choice in choices:
        turns.append(advance(town, first.state, inbound({"reply": choice}, language), now))
    picker = advance(town, first.state, inbound({"reply": "language"}, language), now)
    for row in picker.replies[0].rows:  # type: ignore[union-attr]
        turns.append(advance(town, picker.state, inbound({"reply": row.id}, language), now))
    for turn in turns:
        assert turn.replies
        for reply in turn.replies:
            assert_fits_whatsapp(reply)
            assert not re.search(r"\{\w*\}", json.dumps(render_reply(reply), ensure_ascii=False))


# -- behaviour the transcripts do not spell out --------------------------------------------------


def test_now_must_be_timezone_aware(town: MunicipalityDefinition) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        advance(town, {}, inbound({"text": "Olá"}, "pt"), datetime(2026, 11, 24, 10, 0))  # noqa: DTZ001


def test_the_state_is_plain_json(town: MunicipalityDefinition) -> None:
    turn = advance(town, {}, inbound({"text": "Olá"}, "pt"), TUESDAY_MORNING)
    assert json.loads(json.dumps(turn.state)) == turn.state
    assert turn.state == {"v": 1, "language": "pt", "mode": "menu"}
    assert type(turn.state["mode"]) is str


def test_the_conversation_keeps_its_language_over_the_residents_stored_one(
    town: MunicipalityDefinition,
) -> None:
    state = {"v": 1, "language": "es", "mode": "menu"}
    turn = advance(town, state, inbound({"text": "???"}, "en"), TUESDAY_MORNING)
    assert turn.replies[0].body.startswith("Disculpe")  # type: ignore[union-attr]


def test_a_language_the_town_no_longer_offers_falls_back(town: MunicipalityDefinition) -> None:
    state = {"v": 1, "language": "fr", "mode": "menu"}
    turn = advance(town, state, inbound({"text": "???"}, "en"), TUESDAY_MORNING)
    assert turn.state["language"] == "en"
    state = {"v": 1, "language": "fr", "mode": "menu"}
    turn = advance(town, state, inbound({"text": "???"}, "de"), TUESDAY_MORNING)
    assert turn.state["language"] == "pt"


def test_an_unknown_mode_in_the_state_is_treated_as_the_menu(
    town: MunicipalityDefinition,
) -> None:
    state = {"v": 1, "language": "en", "mode": "from_a_future_version"}
    turn = advance(town, state, inbound({"reply": "faq_documents"}, "en"), TUESDAY_MORNING)
    assert turn.events == (FaqAnswered(faq="documents", matched_by="menu"),)
    assert turn.state["mode"] == "menu"


def test_handed_off_conversations_stay_silent_and_unchanged(
    town: MunicipalityDefinition,
) -> None:
    state = {"v": 1, "language": "pt", "mode": "with_person", "team": "front_desk"}
    for spec in ({"text": "Olá"}, {"reply": "language:en"}, {"type": "location"}):
        turn = advance(town, state, inbound(spec, "pt"), TUESDAY_MORNING)
        assert turn == BotTurn(state=state)


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
    ],
)
def test_keyword_matching(town: MunicipalityDefinition, text: str, faq: str | None) -> None:
    state = {"v": 1, "language": "en", "mode": "menu"}
    turn = advance(town, state, inbound({"text": text}, "en"), TUESDAY_MORNING)
    expected = (FaqAnswered(faq=faq, matched_by="keywords"),) if faq else ()
    assert turn.events == expected


def test_a_photo_caption_is_not_taken_as_a_question(town: MunicipalityDefinition) -> None:
    state = {"v": 1, "language": "en", "mode": "menu"}
    photo = BotInput(message_type="image", text="garbage on my street", reply_id=None,
                     resident_language="en", resident_phone=None)  # fmt: skip
    turn = advance(town, state, photo, TUESDAY_MORNING)
    assert turn.events == ()
    assert turn.replies[0].body.startswith("Sorry")  # type: ignore[union-attr]


def test_a_language_typed_outside_the_picker_is_not_a_language_choice(
    town: MunicipalityDefinition,
) -> None:
    state = {"v": 1, "language": "pt", "mode": "menu"}
    turn = advance(town, state, inbound({"text": "English"}, "pt"), TUESDAY_MORNING)
    assert turn.events == ()


def test_a_flow_without_routes_to_goes_to_the_first_team(
    town: MunicipalityDefinition,
) -> None:
    assert town.flows["report_status"].routes_to is None
    state = {"v": 1, "language": "en", "mode": "menu"}
    turn = advance(town, state, inbound({"reply": "report_status"}, "en"), TUESDAY_MORNING)
    assert turn.events == (
        HandoffRequested(team="front_desk", reason="flow_unavailable", flow="report_status"),
    )


def test_without_business_hours_there_is_no_out_of_hours_note(
    town_data: dict[str, Any],
) -> None:
    data = {key: value for key, value in town_data.items() if key != "business_hours"}
    town = load_definition(data)
    state = {"v": 1, "language": "en", "mode": "menu"}
    turn = advance(town, state, inbound({"reply": "human"}, "en"), SATURDAY_EVENING)
    assert turn.replies == (
        TextReply(
            text="All right. A person from our Front Desk team will answer you here, in this chat."
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


def test_language_choice_events_carry_a_supported_code(town: MunicipalityDefinition) -> None:
    state = {"v": 1, "language": "pt", "mode": "choosing_language"}
    turn = advance(town, state, inbound({"reply": "language:xx"}, "pt"), TUESDAY_MORNING)
    assert not any(isinstance(e, LanguageChosen) for e in turn.events)
    assert turn.replies[0].body.startswith("Desculpe")  # type: ignore[union-attr]


def test_bot_input_and_turn_are_frozen() -> None:
    event = BotInput(message_type="text", text="hi", reply_id=None, resident_language=None,
                     resident_phone=None)  # fmt: skip
    with pytest.raises(AttributeError):
        event.text = "changed"  # type: ignore[misc]
    assert replace(event, text="x").text == "x"


# -- regenerating the transcripts after an intended change -----------------------------------------


def rewrite_transcript(path: Path, town: MunicipalityDefinition) -> None:
    """Replay the `in` of every turn and write what the bot answers now as the expected `out`
    and `events`. Review the diff before committing: that is the point of golden files."""
    text = path.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    transcript = yaml.safe_load(text)
    named = {f"main_{code}": _menu_rows(town, {"language": code}, "zzz") for code in town.languages}
    named["languages"] = _menu_rows(town, {"language": town.default_language}, "language")
    used: set[str] = set()
    for conversation in transcript["conversations"]:
        state: dict[str, Any] = {}
        for turn in conversation["turns"]:
            now = as_datetime(turn.get("at") or conversation.get("at") or transcript["now"])
            event = inbound(turn["in"], conversation.get("resident_language"))
            result = advance(town, state, event, now)
            replies, events = render_turn(result)
            for reply in replies:
                rows = reply.get("menu", {}).get("rows")
                name = next((n for n, known in named.items() if rows == known), None)
                if name is not None:
                    reply["menu"]["rows"] = name
                    used.add(name)
            turn["out"] = replies
            turn.pop("events", None)
            if events:
                turn["events"] = events
            state = json.loads(json.dumps(result.state))
    transcript["row_sets"] = {name: rows for name, rows in named.items() if name in used}
    body = yaml.dump(
        transcript, Dumper=_TranscriptDumper, allow_unicode=True, sort_keys=False, width=200
    )
    path.write_text(header + body, encoding="utf-8")


def _menu_rows(town: MunicipalityDefinition, state: dict[str, Any], reply_id: str) -> Any:
    spec = {"reply": reply_id} if reply_id == "language" else {"text": reply_id}
    turn = advance(town, {"v": 1, "mode": "menu", **state}, inbound(spec, None), TUESDAY_MORNING)
    return render_reply(turn.replies[-1])["menu"]["rows"]


class _TranscriptDumper(yaml.SafeDumper):
    """Rows on one line each, multi-line texts as blocks."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    row = bool(data) and len(data) <= 3 and all(isinstance(item, str) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=row)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_TranscriptDumper.add_representer(list, _represent_list)
_TranscriptDumper.add_representer(str, _represent_str)


if __name__ == "__main__":  # .venv/bin/python -m tests.unit.test_bot_engine
    bundled = load_municipality_file(BUNDLED_CONFIG)
    for transcript_path in sorted(TRANSCRIPTS.glob("*.yaml")):
        rewrite_transcript(transcript_path, bundled)
        print(f"rewrote {transcript_path}")
