"""Subscribing to topics through the bot, in memory with the bundled town: what is kept on the
resident (subscriptions, the consent history with versions and times) and what is answered."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.replies import MenuReply, reply_from_dict
from chalicelib.domain.residents import ConsentAction, ConsentEvent, TopicSubscription
from chalicelib.services.handle_inbound_message import handle_inbound_message
from tests.services.conftest import NOW, World
from tests.services.inbound_messages import ResidentPhone


def _handle(world: World, message, now=NOW):
    return handle_inbound_message(
        message, definition=world.definition, ports=world.ports, now=now, new_id=world.new_id
    )


def _last_reply(world: World, outcome) -> MenuReply:
    [*_, last] = [reply_from_dict(m.payload) for m in world.messages.get_many(outcome.reply_ids)]
    assert isinstance(last, MenuReply)
    return last


def test_consent_opt_out_and_topics_are_kept_in_the_consent_history(world: World) -> None:
    phone = ResidentPhone("351910000071")
    key = f"wa:{phone.wa_id}"
    version = world.definition.consent.version
    topics_version = world.definition.topics_version
    at = [NOW + timedelta(minutes=n) for n in range(6)]

    _handle(world, phone.text("Olá", at=at[0]), now=at[0])
    _handle(world, phone.tap_button("consent:accept", at=at[1]), now=at[1])
    topics = _last_reply(world, _handle(world, phone.tap_row("alerts", at=at[2]), now=at[2]))
    assert [row.id for row in topics.rows] == [
        "subscribe:waste",
        "subscribe:roadworks",
        "subscribe:culture",
        "subscribe:emergencies",
    ]
    _handle(world, phone.tap_row("subscribe:roadworks", at=at[3]), now=at[3])
    _handle(world, phone.text("PARAR", at=at[4]), now=at[4])
    opted_out = _last_reply(
        world, _handle(world, phone.tap_row("subscribe:emergencies", at=at[5]), now=at[5])
    )

    resident = world.residents.get(key)
    assert resident is not None
    assert resident.opted_out is True  # subscribing does not undo STOP
    assert opted_out.body == world.definition.text("subscribed_opted_out", "pt").replace(
        "{topic}", "Emergências"
    )
    assert resident.subscriptions == (
        TopicSubscription(
            topic="roadworks", subscribed=True, at=at[3], text_version=topics_version
        ),
        TopicSubscription(
            topic="emergencies", subscribed=True, at=at[5], text_version=topics_version
        ),
    )
    assert resident.consent_history == (
        ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=at[1], text_version=version),
        ConsentEvent(
            action=ConsentAction.SUBSCRIBED,
            at=at[3],
            text_version=topics_version,
            topic="roadworks",
        ),
        ConsentEvent(action=ConsentAction.OPTED_OUT, at=at[4]),
        ConsentEvent(
            action=ConsentAction.SUBSCRIBED,
            at=at[5],
            text_version=topics_version,
            topic="emergencies",
        ),
    )


def test_start_resumes_with_the_topics_as_they_were(world: World) -> None:
    phone = ResidentPhone("351910000072")
    _handle(world, phone.text("Olá"))
    _handle(world, phone.tap_button("consent:accept"))
    _handle(world, phone.tap_row("subscribe:culture"))
    _handle(world, phone.text("STOP", at=NOW + timedelta(minutes=1)))
    _handle(world, phone.text("START", at=NOW + timedelta(minutes=2)))

    resident = world.residents.get(f"wa:{phone.wa_id}")
    assert resident is not None
    assert resident.opted_out is False and resident.subscribed_to("culture")
    assert [e.action for e in resident.consent_history][-2:] == [
        ConsentAction.OPTED_OUT,
        ConsentAction.OPTED_IN,
    ]


def test_declining_consent_is_recorded_with_the_version(world: World) -> None:
    phone = ResidentPhone("351910000073")
    _handle(world, phone.text("Olá"))
    _handle(world, phone.tap_button("consent:decline"))

    resident = world.residents.get(f"wa:{phone.wa_id}")
    assert resident is not None
    assert resident.consent_history == (
        ConsentEvent(
            action=ConsentAction.CONSENT_DECLINED,
            at=NOW,
            text_version=world.definition.consent.version,
        ),
    )
    assert resident.subscriptions == ()


def test_a_redelivered_tap_records_the_subscription_once(world: World) -> None:
    phone = ResidentPhone("351910000074")
    _handle(world, phone.text("Olá"))
    _handle(world, phone.tap_button("consent:accept"))
    tap = phone.tap_row("subscribe:waste")
    _handle(world, tap)
    assert _handle(world, tap).duplicate is True

    resident = world.residents.get(f"wa:{phone.wa_id}")
    assert resident is not None
    assert [e.action for e in resident.consent_history] == [
        ConsentAction.CONSENT_GIVEN,
        ConsentAction.SUBSCRIBED,
    ]
