"""One inbound message end to end in memory: what is stored, what is answered, what is queued."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from chalicelib.domain.conversations import ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.replies import (
    ButtonsReply,
    MenuReply,
    TemplateReply,
    TextReply,
    reply_to_dict,
)
from chalicelib.domain.residents import ConsentState
from chalicelib.domain.tickets import TicketStatus, media_object_key
from chalicelib.services.handle_inbound_message import handle_inbound_message
from chalicelib.services.resolve_conversation import resolve_conversation
from chalicelib.whatsapp.webhook_parser import parse_webhook
from tests.services.conftest import NOW, World
from tests.services.inbound_messages import ResidentPhone
from tests.webhook_fixtures import load_webhook


def _handle(world: World, message, now=NOW):
    return handle_inbound_message(
        message, definition=world.definition, ports=world.ports, now=now, new_id=world.new_id
    )


def _replies(world: World, outcome) -> list:
    from chalicelib.domain.replies import reply_from_dict

    return [reply_from_dict(m.payload) for m in world.messages.get_many(outcome.reply_ids)]


def _consented(world: World, phone: ResidentPhone) -> None:
    _handle(world, phone.text("Olá"))
    _handle(world, phone.tap_button("consent:accept"))


# -- consent ----------------------------------------------------------------------------------


def test_a_new_resident_is_asked_for_consent_and_nothing_personal_is_kept(world: World) -> None:
    phone = ResidentPhone("351910000001", name="Maria Silva")
    outcome = _handle(world, phone.text("Olá, quero saber do lixo", wamid="wamid.first"))

    [prompt] = _replies(world, outcome)
    assert isinstance(prompt, ButtonsReply)
    assert prompt.body == world.definition.consent.text["pt"]
    assert [b.id for b in prompt.buttons] == [
        "consent:accept",
        "consent:decline",
        "consent:language",
    ]
    stored = world.messages.get("wamid.first")
    assert stored.body is None and stored.payload == {} and stored.message_type == "text"
    resident, _ = world.residents.load("wa:351910000001")
    assert resident.consent is ConsentState.UNKNOWN
    assert resident.profile_name is None


def test_accepting_records_consent_then_welcomes_with_the_menu(world: World) -> None:
    phone = ResidentPhone("351910000002", name="Maria Silva")
    _handle(world, phone.text("Olá"))
    outcome = _handle(world, phone.tap_button("consent:accept", "Aceito"))

    welcome, menu = _replies(world, outcome)
    assert welcome == TextReply(text=world.definition.welcome["pt"])
    assert isinstance(menu, MenuReply)
    resident, _ = world.residents.load("wa:351910000002")
    assert resident.consent is ConsentState.GIVEN
    assert resident.consent_version == world.definition.consent.version
    assert resident.consent_at == NOW
    assert resident.profile_name == "Maria Silva"
    later = _handle(world, phone.text("lixo", wamid="wamid.kept"))
    assert world.messages.get("wamid.kept").body == "lixo"
    assert later.reply_ids


def test_declining_is_recorded_and_respected(world: World) -> None:
    phone = ResidentPhone("351910000003", name="Maria Silva")
    _handle(world, phone.text("Olá"))
    outcome = _handle(world, phone.tap_button("consent:decline", "Não aceito"))

    [answer] = _replies(world, outcome)
    assert answer == TextReply(text=world.definition.text("consent_declined", "pt"))
    resident, _ = world.residents.load("wa:351910000003")
    assert resident.consent is ConsentState.DECLINED and resident.consent_at == NOW
    assert resident.profile_name is None
    again = _handle(world, phone.text("o meu nome é Maria", wamid="wamid.after-decline"))
    assert world.messages.get("wamid.after-decline").body is None
    [prompt] = _replies(world, again)
    assert isinstance(prompt, ButtonsReply)  # asked again, never served without consent


def test_a_photo_before_consent_is_not_fetched(world: World) -> None:
    phone = ResidentPhone("351910000004")
    photo = phone.photo()
    _handle(world, photo)
    assert world.media.jobs == []
    assert world.messages.get(photo.wamid).media_id is None  # nothing to fetch it by later


# -- deliveries -------------------------------------------------------------------------------


def test_the_same_message_three_times_is_stored_once_and_answered_once(world: World) -> None:
    message = ResidentPhone("351910000010").text("Olá", wamid="wamid.dup")
    outcomes = []
    for _ in range(3):
        outcomes.append(_handle(world, message))
        world.send_all()
    assert [o.duplicate for o in outcomes] == [False, True, True]
    assert len(world.sender.sent) == 1


def test_a_duplicate_requeues_replies_the_first_delivery_never_queued(world: World) -> None:
    message = ResidentPhone("351910000011").text("Olá", wamid="wamid.lost")
    first = _handle(world, message)
    world.outbound.drain()  # the first delivery died before its SQS send
    second = _handle(world, message)
    assert second.duplicate and second.reply_ids == first.reply_ids
    assert [i for i, _ in world.outbound.drain()] == list(first.reply_ids)


def test_messages_out_of_order_never_move_the_window_backwards(world: World) -> None:
    phone = ResidentPhone("351910000012")
    _handle(world, phone.text("segunda", at=NOW))
    _handle(world, phone.text("primeira", at=NOW - timedelta(minutes=5)))
    resident, _ = world.residents.load("wa:351910000012")
    assert resident.last_inbound_at == NOW


def test_system_notices_are_stored_but_not_answered(world: World) -> None:
    (event,) = parse_webhook(load_webhook("message_system_user_changed_number")).events
    outcome = _handle(world, event)
    assert outcome.reply_ids == ()
    assert world.messages.get(event.wamid) is not None


def test_a_reaction_in_the_middle_of_a_flow_gets_a_re_prompt(world: World) -> None:
    phone = ResidentPhone("16505551234")
    _consented(world, phone)
    [question] = _replies(world, _handle(world, phone.tap_row("report_problem")))
    (reaction,) = parse_webhook(load_webhook("message_reaction")).events
    outcome = _handle(world, reaction)
    [prompt] = _replies(world, outcome)  # never silence: the same choices, offered again
    assert isinstance(prompt, MenuReply) and prompt.rows == question.rows


# -- report a problem → ticket → status ----------------------------------------------------


def _report_pothole(world: World, phone: ResidentPhone):
    _consented(world, phone)
    _handle(world, phone.tap_row("report_problem"))
    _handle(world, phone.tap_row("choice:pothole"))
    _handle(world, phone.text("Buraco enorme em frente à escola"))
    photo = phone.photo(media_id="4242")
    _handle(world, photo)
    return photo, _handle(world, phone.pin())


def test_a_problem_report_creates_a_ticket_with_its_photo_and_a_reference(world: World) -> None:
    phone = ResidentPhone("351910000020")
    photo, outcome = _report_pothole(world, phone)

    assert outcome.ticket == "VNR-2026-000001"
    ticket = world.tickets.get("VNR-2026-000001")
    assert ticket.resident_key == "wa:351910000020"
    assert ticket.category == "pothole" and ticket.team == "public_works"
    assert ticket.description == "Buraco enorme em frente à escola"
    assert ticket.location.latitude == 38.72 and ticket.status is TicketStatus.OPEN
    [attachment] = ticket.attachments
    assert attachment.message_id == photo.wamid
    assert attachment.media_key == media_object_key("wa:351910000020", photo.wamid)
    created = _replies(world, outcome)[0]
    assert "VNR-2026-000001" in created.text and "{reference}" not in created.text
    [job] = world.media.jobs
    assert (job.message_id, job.media_id, job.resident_key) == (
        photo.wamid,
        "4242",
        ticket.resident_key,
    )


def test_references_follow_each_other(world: World) -> None:
    _report_pothole(world, ResidentPhone("351910000021"))
    _, second = _report_pothole(world, ResidentPhone("351910000022"))
    assert second.ticket == "VNR-2026-000002"


def test_the_status_of_a_residents_own_ticket_and_no_one_elses(world: World) -> None:
    owner, other = ResidentPhone("351910000023"), ResidentPhone("351910000024")
    _report_pothole(world, owner)
    open_label = world.definition.tickets.statuses["open"]["pt"]

    mine = _replies(world, _handle(world, owner.text("vnr 2026 1")))
    assert "VNR-2026-000001" in mine[0].text and open_label in mine[0].text

    _consented(world, other)
    theirs = _replies(world, _handle(world, other.text("VNR-2026-000001")))
    not_found = world.definition.text("ticket_not_found", "pt")
    assert theirs[0].text == not_found.replace("{reference}", "VNR-2026-000001")


# -- a person, STOP and what STOP blocks ------------------------------------------------------


def test_talking_to_a_person_queues_the_conversation_and_the_bot_goes_quiet(world: World) -> None:
    phone = ResidentPhone("351910000030")
    _consented(world, phone)
    outcome = _handle(world, phone.tap_row("human"))

    [ack] = _replies(world, outcome)
    team = world.definition.teams["front_desk"].display_name["pt"]
    assert ack.text.startswith(world.definition.text("handoff", "pt").replace("{team}", team))
    _, conversation = world.residents.load("wa:351910000030")
    assert conversation.status is ConversationStatus.QUEUED and conversation.team == "front_desk"
    assert _handle(world, phone.text("está aí alguém?")).reply_ids == ()


def _bulk_template(world: World, resident_key: str, message_id: str) -> None:
    reply = TemplateReply(
        name="document_ready", language="pt", body_params=("Maria", "CC", "Balcão")
    )
    world.messages.add_outbound(
        [
            StoredMessage(
                id=message_id,
                direction=Direction.OUTBOUND,
                resident_key=resident_key,
                conversation_id=None,
                message_type="template",
                body="document_ready",
                payload=reply_to_dict(reply),
                created_at=NOW,
                status=DeliveryStatus.QUEUED,
                status_at=NOW,
                recipient=resident_key.removeprefix("wa:"),
                priority=Priority.BULK,
                sent_by="notifications",
            )
        ]
    )
    world.outbound.enqueue([message_id], Priority.BULK)


def test_after_stop_no_business_message_reaches_the_resident_until_start(world: World) -> None:
    phone = ResidentPhone("351910000031")
    _consented(world, phone)
    _handle(world, phone.tap_row("human"))  # even while a person has the conversation
    stop = _handle(world, phone.text("stop"))
    assert _replies(world, stop) == [TextReply(text=world.definition.text("opted_out", "pt"))]
    resident, _ = world.residents.load("wa:351910000031")
    assert resident.opted_out and resident.opted_out_at == NOW

    world.send_all()
    world.sender.sent.clear()
    _bulk_template(world, resident.key, "notify-1")
    world.send_all()
    assert world.sender.sent == []
    assert world.messages.get("notify-1").status is DeliveryStatus.SKIPPED

    _handle(world, phone.text("START", at=NOW + timedelta(minutes=1)))
    world.send_all()
    world.sender.sent.clear()
    _bulk_template(world, resident.key, "notify-2")
    world.send_all()
    assert [r.kind for _, r in world.sender.sent] == ["template"]


# -- satisfaction ------------------------------------------------------------------------------


def _resolve(world: World, resident_key: str, now=NOW):
    from tests.services.console_world import Console

    console = Console.on(world)
    return resolve_conversation(
        resident_key,
        resolved_by="agent-1",
        definition=world.definition,
        ports=console.ports,
        now=now,
        new_id=console.new_id,
    )


def test_a_resolved_conversation_asks_for_a_rating_and_stores_it(world: World) -> None:
    phone = ResidentPhone("351910000040")
    _consented(world, phone)
    _handle(world, phone.tap_row("human"))
    _, conversation = world.residents.load("wa:351910000040")

    resolution = _resolve(world, "wa:351910000040")
    assert resolution.csat_asked
    world.send_all()
    survey = world.sender.sent[-1][1]
    assert isinstance(survey, MenuReply) and survey.body == world.definition.csat.question["pt"]
    assert [row.id for row in survey.rows] == [f"csat:{n}" for n in range(1, 6)]

    thanks = _handle(world, phone.tap_row("csat:4"))
    assert _replies(world, thanks) == [TextReply(text=world.definition.csat.thanks["pt"])]
    _, rated = world.residents.load("wa:351910000040")
    assert rated.id == conversation.id and rated.status is ConversationStatus.RESOLVED
    assert rated.csat_score == 4 and rated.csat_at == NOW


def test_after_resolution_anything_but_a_rating_starts_a_new_conversation(world: World) -> None:
    phone = ResidentPhone("351910000041")
    _consented(world, phone)
    _, first = world.residents.load("wa:351910000041")
    _resolve(world, "wa:351910000041")
    _handle(world, phone.text("lixo"))
    _, current = world.residents.load("wa:351910000041")
    assert current.id != first.id and current.csat_score is None


def test_no_rating_is_asked_outside_the_window_or_after_stop(world: World) -> None:
    late, stopped = ResidentPhone("351910000042"), ResidentPhone("351910000043")
    for phone in (late, stopped):
        _consented(world, phone)
    _handle(world, stopped.text("SAIR"))
    assert not _resolve(world, "wa:351910000042", now=NOW + timedelta(hours=25)).csat_asked
    assert not _resolve(world, "wa:351910000043").csat_asked
    _, conversation = world.residents.load("wa:351910000042")
    assert conversation.status is ConversationStatus.RESOLVED


def test_resolving_twice_or_without_a_conversation_changes_nothing(world: World) -> None:
    assert _resolve(world, "wa:351999999999").conversation_id is None
    phone = ResidentPhone("351910000044")
    _consented(world, phone)
    first = _resolve(world, "wa:351910000044")
    second = _resolve(world, "wa:351910000044")
    assert second.conversation_id == first.conversation_id and not second.csat_asked


def test_a_conversation_resolved_directly_is_not_reused(world: World) -> None:
    phone = ResidentPhone("351910000045")
    _consented(world, phone)
    _, conversation = world.residents.load("wa:351910000045")
    resolved = dataclasses.replace(conversation, status=ConversationStatus.RESOLVED)
    world.database.conversations[conversation.id] = resolved
    _handle(world, phone.text("Olá de novo"))
    _, current = world.residents.load("wa:351910000045")
    assert current.id != conversation.id
