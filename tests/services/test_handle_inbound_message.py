from __future__ import annotations

import dataclasses
from datetime import timedelta

from chalicelib.domain.conversations import ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority
from chalicelib.domain.replies import MenuReply, TextReply
from chalicelib.services.handle_inbound_message import handle_inbound_message
from chalicelib.whatsapp.webhook_parser import parse_webhook
from tests.services.conftest import NOW, World
from tests.webhook_fixtures import load_webhook


def _text(wa_id: str, wamid: str, body: str, *, name: str = "Maria", at=NOW):
    payload = load_webhook("message_text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id}]
    value["messages"][0].update(
        {"from": wa_id, "id": wamid, "text": {"body": body}, "timestamp": str(int(at.timestamp()))}
    )
    (message,) = parse_webhook(payload).events
    return message


def _list_reply(wa_id: str, wamid: str, row_id: str):
    payload = load_webhook("message_interactive_list_reply")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [{"profile": {"name": "Maria"}, "wa_id": wa_id}]
    message = value["messages"][0]
    message.update({"from": wa_id, "id": wamid, "timestamp": str(int(NOW.timestamp()))})
    message["interactive"]["list_reply"] = {"id": row_id, "title": row_id}
    (event,) = parse_webhook(payload).events
    return event


def _handle(world: World, message, now=NOW):
    return handle_inbound_message(
        message,
        definition=world.definition,
        residents=world.residents,
        messages=world.messages,
        outbound=world.outbound,
        now=now,
        new_id=world.new_id,
    )


def _send_all(world: World) -> None:
    world.send_all()


def test_a_first_message_is_stored_and_answered_with_welcome_and_menu(world: World) -> None:
    outcome = _handle(world, _text("351910000001", "wamid.first", "Olá"))

    assert not outcome.duplicate
    stored = world.messages.get("wamid.first")
    assert stored is not None and stored.direction is Direction.INBOUND
    assert stored.body == "Olá" and stored.reply_ids == outcome.reply_ids
    resident, conversation = world.residents.load("wa:351910000001")
    assert resident is not None and resident.profile_name == "Maria"
    assert resident.last_inbound_at == NOW and resident.window_open(NOW)
    assert conversation is not None and conversation.status is ConversationStatus.BOT
    assert world.outbound.ids(Priority.REPLY) == list(outcome.reply_ids)

    _send_all(world)
    kinds = [type(reply) for _, reply in world.sender.sent]
    assert kinds == [TextReply, MenuReply]
    assert all(recipient == "351910000001" for recipient, _ in world.sender.sent)
    welcome, menu = (reply for _, reply in world.sender.sent)
    assert welcome.text == world.definition.welcome["pt"]
    assert [row.id for row in menu.rows] == [item.id for item in world.definition.main_menu.items]
    for reply_id in outcome.reply_ids:
        assert world.messages.get(reply_id).status is DeliveryStatus.SENT


def test_the_same_message_three_times_is_stored_once_and_answered_once(world: World) -> None:
    message = _text("351910000002", "wamid.dup", "Olá")
    outcomes = [_handle(world, message) for _ in range(3)]
    _send_all(world)

    assert [o.duplicate for o in outcomes] == [False, True, True]
    inbound = [m for m in world.database.messages.values() if m.direction is Direction.INBOUND]
    assert len(inbound) == 1
    assert len(world.sender.sent) == 2  # welcome + menu, once


def test_a_duplicate_requeues_replies_the_first_delivery_never_queued(world: World) -> None:
    message = _text("351910000003", "wamid.lost", "Olá")
    first = _handle(world, message)
    world.outbound.drain()  # the worker died after saving, before SQS got the replies

    again = _handle(world, message)

    assert again.duplicate and again.reply_ids == first.reply_ids
    _send_all(world)
    assert len(world.sender.sent) == 2


def test_menu_choice_of_a_person_hands_the_conversation_to_the_team(world: World) -> None:
    _handle(world, _text("351910000004", "wamid.a", "Olá"))
    _handle(world, _list_reply("351910000004", "wamid.b", "human"))
    _, conversation = world.residents.load("wa:351910000004")
    assert conversation.status is ConversationStatus.QUEUED
    assert conversation.team == "front_desk"

    later = _handle(world, _text("351910000004", "wamid.c", "Está aí alguém?"))
    assert later.reply_ids == ()  # agents answer now, not the bot
    assert world.messages.get("wamid.c").conversation_id == conversation.id


def test_choosing_a_language_is_remembered_on_the_resident(world: World) -> None:
    _handle(world, _text("351910000005", "wamid.l1", "Hello"))
    _handle(world, _list_reply("351910000005", "wamid.l2", "language"))
    _handle(world, _list_reply("351910000005", "wamid.l3", "language:ar"))
    resident, _ = world.residents.load("wa:351910000005")
    assert resident.language == "ar"


def test_messages_out_of_order_never_move_the_window_backwards(world: World) -> None:
    later = _text("351910000006", "wamid.late", "segunda", at=NOW)
    earlier = _text("351910000006", "wamid.early", "primeira", at=NOW - timedelta(minutes=5))
    _handle(world, later)
    _handle(world, earlier)
    resident, _ = world.residents.load("wa:351910000006")
    assert resident.last_inbound_at == NOW


def test_a_resolved_conversation_is_not_reused(world: World) -> None:
    _handle(world, _text("351910000007", "wamid.r1", "Olá"))
    _, conversation = world.residents.load("wa:351910000007")
    resolved = dataclasses.replace(conversation, status=ConversationStatus.RESOLVED)
    world.database.conversations[conversation.id] = resolved

    _handle(world, _text("351910000007", "wamid.r2", "Olá de novo"))
    _, current = world.residents.load("wa:351910000007")
    assert current.id != conversation.id


def test_reactions_and_system_notices_are_stored_but_not_answered(world: World) -> None:
    _handle(world, _text("16505551234", "wamid.hi", "Olá"))
    for fixture in ("message_reaction", "message_system_user_changed_number"):
        (event,) = parse_webhook(load_webhook(fixture)).events
        outcome = _handle(world, event)
        assert outcome.reply_ids == ()
        assert world.messages.get(event.wamid) is not None
