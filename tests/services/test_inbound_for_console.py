"""What an inbound message prepares for the console: the team a hand-off is routed to, the SLA
clock, the inbox row's preview and the search index."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from chalicelib.domain.conversations import ConversationStatus
from chalicelib.domain.replies import reply_from_dict
from chalicelib.domain.sla import clock_for
from chalicelib.services.handle_inbound_message import handle_inbound_message
from tests.services.conftest import NOW, World
from tests.services.inbound_messages import ResidentPhone


def _handle(world: World, message, now=NOW):
    return handle_inbound_message(
        message, definition=world.definition, ports=world.ports, now=now, new_id=world.new_id
    )


def _consented(world: World, phone: ResidentPhone) -> None:
    _handle(world, phone.text("Olá"))
    _handle(world, phone.tap_button("consent:accept"))


def test_a_payment_question_then_asking_for_a_person_goes_to_finance(world: World) -> None:
    phone = ResidentPhone("351910000101")
    _consented(world, phone)
    _handle(world, phone.text("Tenho uma dúvida sobre o pagamento da minha fatura"))
    outcome = _handle(world, phone.tap_row("human"))

    _, conversation = world.residents.load("wa:351910000101")
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.team == "finance" and outcome.handed_off_to == "finance"
    [ack] = [reply_from_dict(m.payload) for m in world.messages.get_many(outcome.reply_ids)]
    assert world.definition.teams["finance"].display_name["pt"] in ack.text


def test_without_a_matching_rule_the_menu_team_takes_it(world: World) -> None:
    phone = ResidentPhone("351910000102")
    _consented(world, phone)
    outcome = _handle(world, phone.tap_row("human"))

    assert outcome.handed_off_to == "front_desk"


def test_the_hand_off_starts_the_sla_clock_in_business_time(world: World) -> None:
    phone = ResidentPhone("351910000103")
    _consented(world, phone)
    _handle(world, phone.tap_row("human"))

    _, conversation = world.residents.load("wa:351910000103")
    sla = world.definition.sla
    assert conversation.handed_off_at == NOW  # a Monday at 10:30, inside business hours
    assert conversation.first_response_due == NOW + sla.first_response
    assert conversation.resolution_due is not None and conversation.resolution_due > NOW
    assert conversation.sla_next_check == NOW + sla.first_response * sla.warn_at


def test_the_clock_is_not_restarted_by_later_messages(world: World) -> None:
    phone = ResidentPhone("351910000104")
    _consented(world, phone)
    _handle(world, phone.tap_row("human"))
    later = NOW + timedelta(minutes=5)
    _handle(world, phone.text("está aí alguém?", at=later), now=later)

    _, conversation = world.residents.load("wa:351910000104")
    assert conversation.handed_off_at == NOW
    assert conversation.preview == "está aí alguém?" and conversation.last_message_at == later


def test_inbox_rows_show_name_and_last_message_only_after_consent(world: World) -> None:
    phone = ResidentPhone("351910000105", name="Joana Sousa")
    _handle(world, phone.text("Olá, bom dia"))
    _, before = world.residents.load("wa:351910000105")
    assert before.resident_name is None and before.preview is None

    _handle(world, phone.tap_button("consent:accept"))
    _, after = world.residents.load("wa:351910000105")
    assert after.resident_name == "Joana Sousa" and after.preview is not None


def test_long_messages_are_shortened_for_the_inbox(world: World) -> None:
    phone = ResidentPhone("351910000106")
    _consented(world, phone)
    _handle(world, phone.text("palavra " * 100))

    _, conversation = world.residents.load("wa:351910000106")
    assert len(conversation.preview) == 120 and conversation.preview.endswith("…")


def test_a_resident_writing_wakes_a_snoozed_conversation(world: World) -> None:
    phone = ResidentPhone("351910000107")
    _consented(world, phone)
    _handle(world, phone.tap_row("human"))
    _, queued = world.residents.load("wa:351910000107")
    until = NOW + timedelta(days=1)
    # Ana took it, answered, and put it aside until tomorrow.
    snoozed = dataclasses.replace(
        queued,
        status=ConversationStatus.SNOOZED,
        assignee="ana@town.example",
        first_response_at=NOW + timedelta(minutes=1),
        snoozed_until=until,
        sla_next_check=until,
    )
    world.database.conversations[snoozed.id] = snoozed
    later = NOW + timedelta(hours=2)

    _handle(world, phone.text("Já tenho o documento", at=later), now=later)

    _, woken = world.residents.load("wa:351910000107")
    assert woken.id == snoozed.id
    assert woken.status is ConversationStatus.ASSIGNED and woken.assignee == "ana@town.example"
    assert woken.snoozed_until is None
    sla, clock = world.definition.sla, clock_for(world.definition)
    # Only the resolution's warning is left to watch (80 % of its business time).
    assert woken.sla_next_check == clock.add(NOW, sla.resolution * sla.warn_at)


def test_search_entries_are_kept_as_long_as_messages(world: World) -> None:
    phone = ResidentPhone("351910000108")
    _consented(world, phone)
    _handle(world, phone.text("Há um buraco enorme na rua"))

    [entry] = world.database.search["w:buraco"].values()
    assert entry.expires_at == datetime(2028, 11, 23, 10, 30, tzinfo=UTC)  # retention: 24 months
