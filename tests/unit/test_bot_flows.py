"""Menu flows: reporting a problem (→ a ticket request) and asking for a ticket's status."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from chalicelib.domain.bot.definition import FlowStep, StepKind
from chalicelib.domain.bot.events import FaqAnswered, PhotoAnswer, TicketRequested
from chalicelib.domain.bot.turns import BotTurn
from chalicelib.domain.replies import Button, ButtonsReply, MenuReply, MenuRow, TextReply
from chalicelib.domain.tickets import Location, Ticket, TicketLookup, TicketStatus
from tests.unit.bot_definitions import (
    MENU_STATE,
    REPORT_PROBLEM,
    TUESDAY_MORNING,
    message,
    send,
    town,
)

TOWN = town()
CATEGORY_ROWS = (
    MenuRow(id="choice:pothole", title="Pothole", description="In the road"),
    MenuRow(id="choice:street_light", title="Street light"),
)
PHOTO_PROMPT = ButtonsReply(body="A photo?", buttons=(Button(id="step:skip", title="Skip"),))
PIN = Location(latitude=38.7, longitude=-9.1, name="Rua Direita")


def at_step(step: int, **answers: Any) -> dict[str, Any]:
    return {"v": 2, "language": "en", "mode": "flow", "flow": "report_problem", "step": step,
            "answers": answers}  # fmt: skip


def test_choosing_report_a_problem_asks_the_category_as_a_list() -> None:
    turn = send(TOWN, MENU_STATE, message(reply_id="report"))
    assert turn.replies == (
        MenuReply(body="What kind of problem?", button="Choose", rows=CATEGORY_ROWS),
    )
    assert turn.state == at_step(0)


def test_a_whole_report_with_photo_and_pin() -> None:
    state: dict[str, Any] = MENU_STATE
    turns: list[BotTurn] = []
    for event in (
        message(reply_id="report"),
        message(reply_id="choice:pothole", text="Pothole"),
        message(text="A deep hole by the school"),
        message(message_type="image", media_id="media-1", mime_type="image/jpeg",
                message_id="wamid.photo"),
        message(message_type="location", location=PIN),
    ):  # fmt: skip
        turns.append(send(TOWN, state, event))
        state = turns[-1].state
    assert [turn.replies[0] for turn in turns[1:4]] == [
        TextReply(text="Describe it."),
        PHOTO_PROMPT,
        TextReply(text="Where?"),
    ]
    last = turns[-1]
    assert last.events == (
        TicketRequested(
            flow="report_problem",
            team="roads",  # the category's team
            category="pothole",
            description="A deep hole by the school",
            photos=(
                PhotoAnswer(message_id="wamid.photo", media_id="media-1", mime_type="image/jpeg"),
            ),
            location=PIN,
            language="en",
        ),
    )
    assert last.replies[0] == TextReply(text="Thanks! Reference {reference}; roads will see to it.")
    assert "{reference}" in last.replies[0].text  # type: ignore[union-attr]
    assert last.replies[1].body == "Anything else?"  # type: ignore[union-attr]
    assert last.state == MENU_STATE
    filled = last.with_reference("VNR-2026-000001")
    assert filled.replies[0].text == "Thanks! Reference VNR-2026-000001; roads will see to it."  # type: ignore[union-attr]


def test_skipping_the_photo_and_typing_the_address() -> None:
    state = at_step(2, category="street_light", description="Dark street")
    skipped = send(TOWN, state, message(reply_id="step:skip", text="Skip"))
    assert skipped.replies == (TextReply(text="Where?"),)
    assert skipped.state["answers"]["photo"] is None
    done = send(TOWN, skipped.state, message(text="Rua Direita 12"))
    (request,) = done.events
    assert request == TicketRequested(
        flow="report_problem",
        team="public_works",  # the flow's routes_to
        category="street_light",
        description="Dark street",
        address="Rua Direita 12",
        language="en",
    )
    assert done.replies[0].text == "Thanks! Reference {reference}; public works will see to it."  # type: ignore[union-attr]


def test_the_skip_label_typed_in_any_language_skips() -> None:
    for text in ("skip", "Saltar"):
        turn = send(TOWN, at_step(2, category="pothole", description="x"), message(text=text))
        assert turn.state["step"] == 3, text


def test_a_photo_sent_as_a_document_is_a_photo() -> None:
    event = message(message_type="document", media_id="d1", mime_type="image/png")
    turn = send(TOWN, at_step(2, category="pothole", description="x"), event)
    assert turn.state["answers"]["photo"] == {
        "message_id": "wamid.in",
        "media_id": "d1",
        "mime_type": "image/png",
    }


def test_without_routes_to_tickets_go_to_the_first_team() -> None:
    flow = dataclasses.replace(REPORT_PROBLEM, routes_to=None)
    turn = send(
        town(flows={**TOWN.flows, "report_problem": flow}),
        at_step(3, category="street_light", description="x", photo=None),
        message(text="Main square"),
    )
    assert turn.events[0].team == "front_desk"  # type: ignore[union-attr]


# -- wrong answers ----------------------------------------------------------------------------------


def test_the_category_typed_in_any_language_or_with_a_typo() -> None:
    for text in ("pothole", "BURACO", "street lihgt"):
        turn = send(TOWN, at_step(0), message(text=text))
        assert turn.state["step"] == 1, text


def test_a_wrong_category_gets_the_list_again() -> None:
    turn = send(TOWN, at_step(0), message(text="my neighbour's dog"))
    assert turn.replies == (
        MenuReply(body="Please pick one from the list.", button="Choose", rows=CATEGORY_ROWS),
    )
    assert turn.state == at_step(0)
    tapped = send(TOWN, at_step(0), message(reply_id="choice:gone", text="Gone"))
    assert tapped.replies[0].body == "Please pick one from the list."  # type: ignore[union-attr]
    voice = send(TOWN, at_step(0), message(message_type="audio", media_id="a"))
    assert voice.replies == (
        MenuReply(
            body="I can only read written messages here.", button="Choose", rows=CATEGORY_ROWS
        ),
    )


def test_media_where_a_description_is_expected_says_only_text_is_read() -> None:
    for message_type in ("sticker", "audio", "reaction", "image"):
        turn = send(TOWN, at_step(1, category="pothole"), message(message_type=message_type))
        assert turn.replies == (
            TextReply(text="I can only read written messages here."),
            TextReply(text="Describe it."),
        )
        assert turn.state == at_step(1, category="pothole")


def test_a_stray_tap_where_a_description_is_expected_repeats_the_question() -> None:
    turn = send(TOWN, at_step(1, category="pothole"), message(reply_id="step:skip", text="Skip"))
    assert turn.replies == (TextReply(text="Describe it."),)


def test_no_photo_gets_the_photo_question_again() -> None:
    state = at_step(2, category="pothole", description="x")
    for event in (message(text="it is big"), message(message_type="sticker", media_id="s")):
        turn = send(TOWN, state, event)
        assert turn.replies == (
            dataclasses.replace(PHOTO_PROMPT, body="Please send a photo, or skip."),
        )
        assert turn.state == state


def test_a_required_photo_cannot_be_skipped() -> None:
    photo = FlowStep(ask="photo", expect=StepKind.IMAGE, prompt=REPORT_PROBLEM.steps[2].prompt)
    steps = (*REPORT_PROBLEM.steps[:2], photo, REPORT_PROBLEM.steps[3])
    strict = town(flows={**TOWN.flows,
                         "report_problem": dataclasses.replace(REPORT_PROBLEM, steps=steps)})  # fmt: skip
    state = at_step(1, category="pothole")
    asked = send(strict, state, message(text="x"))
    assert asked.replies == (TextReply(text="A photo?"),)
    skipped = send(strict, asked.state, message(reply_id="step:skip", text="Skip"))
    assert skipped.replies == (TextReply(text="Please send a photo, or skip."),)


def test_no_place_gets_the_location_question_again() -> None:
    state = at_step(3, category="pothole", description="x", photo=None)
    for event in (message(message_type="image", media_id="i"), message(reply_id="step:skip")):
        turn = send(TOWN, state, event)
        assert turn.replies == (TextReply(text="Send a pin or type the address."),)
        assert turn.state == state


# -- leaving a flow ---------------------------------------------------------------------------------


def test_a_menu_keyword_alone_leaves_the_flow() -> None:
    turn = send(TOWN, at_step(1, category="pothole"), message(text="Menu"))
    assert turn.replies[0].body == "How can we help?"  # type: ignore[union-attr]
    assert turn.state == MENU_STATE
    kept = send(TOWN, at_step(1, category="pothole"), message(text="help, a hole"))
    assert kept.state["answers"]["description"] == "help, a hole"


def test_a_tap_on_an_earlier_menu_leaves_the_flow_for_that_option() -> None:
    turn = send(TOWN, at_step(1, category="pothole"), message(reply_id="faq_waste"))
    assert turn.events == (FaqAnswered(faq="waste", matched_by="menu"),)
    assert turn.state == MENU_STATE


def test_a_state_in_a_flow_the_town_removed_reads_as_the_menu() -> None:
    turn = send(town(flows={}), at_step(1, category="pothole"), message(text="garbage"))
    assert turn.events == (FaqAnswered(faq="waste", matched_by="keywords"),)


# -- the status of a request ----------------------------------------------------------------------


def a_ticket(**changes: Any) -> Ticket:
    ticket = Ticket(
        reference="VNR-2026-000007",
        resident_key="wa:351912345678",
        conversation_id="c1",
        flow="report_problem",
        category="street_light",
        created_at=datetime.fromisoformat("2026-07-01T23:30:00+00:00"),  # 2 July in Lisbon
        updated_at=TUESDAY_MORNING,
    )
    return dataclasses.replace(ticket, **changes)


STATUS_STATE = {"v": 2, "language": "en", "mode": "flow", "flow": "report_status", "step": 0,
                "answers": {}}  # fmt: skip


def test_asking_for_a_status() -> None:
    asked = send(TOWN, MENU_STATE, message(reply_id="status"))
    assert asked.replies == (TextReply(text="Your reference?"),)
    assert asked.state == STATUS_STATE
    lookup = TicketLookup(
        reference="VNR-2026-000007", ticket=a_ticket(status=TicketStatus.RESOLVED)
    )
    found = send(TOWN, asked.state, message(text="vnr-2026-7", ticket_lookup=lookup))
    assert [r.text if isinstance(r, TextReply) else r.body for r in found.replies] == [  # type: ignore[union-attr]
        "VNR-2026-000007 (Street light, 02/07/2026): Resolved.",
        "Anything else?",
    ]
    assert found.state == MENU_STATE
    assert found.events == ()


def test_another_residents_ticket_or_an_unknown_one_is_not_found() -> None:
    lookup = TicketLookup(reference="VNR-2026-000008", ticket=None)
    turn = send(TOWN, STATUS_STATE, message(text="VNR-2026-000008", ticket_lookup=lookup))
    assert turn.replies[0] == TextReply(text="I can't find VNR-2026-000008.")
    assert turn.state == MENU_STATE


def test_a_ticket_of_a_flow_without_categories_is_named_by_its_menu_option() -> None:
    lookup = TicketLookup(reference="VNR-2026-000007", ticket=a_ticket(category=None))
    turn = send(TOWN, STATUS_STATE, message(text="VNR-2026-000007", ticket_lookup=lookup))
    assert turn.replies[0] == TextReply(
        text="VNR-2026-000007 (Report a problem, 02/07/2026): Received."
    )


def test_text_without_a_reference_shows_an_example_of_this_year() -> None:
    turn = send(TOWN, STATUS_STATE, message(text="the one about the lamp"))
    assert turn.replies == (TextReply(text="References look like VNR-2026-000123."),)
    assert turn.state == STATUS_STATE
    new_year = datetime.fromisoformat("2026-12-31T23:30:00-01:00")  # already 2027 in Lisbon
    turn = send(TOWN, STATUS_STATE, message(text="the lamp"), new_year)
    assert turn.replies == (TextReply(text="References look like VNR-2027-000123."),)


def test_a_voice_note_instead_of_a_reference() -> None:
    turn = send(TOWN, STATUS_STATE, message(message_type="audio", media_id="a"))
    assert turn.replies == (
        TextReply(text="I can only read written messages here."),
        TextReply(text="Your reference?"),
    )
