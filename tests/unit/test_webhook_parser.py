"""Webhook payload → typed events, on real Cloud API payloads and on many broken ones."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.whatsapp.events import (
    AccountError,
    ContactsMessage,
    InboundMessage,
    InteractiveReply,
    LocationMessage,
    MediaMessage,
    OrderMessage,
    ParsedWebhook,
    ReactionMessage,
    Sender,
    StatusUpdate,
    SystemMessage,
    TemplateButtonReply,
    TextMessage,
    UnsupportedMessage,
    UserPreferenceUpdate,
    WebhookError,
)
from chalicelib.whatsapp.webhook_parser import envelope_for, parse_webhook
from tests.webhook_fixtures import (
    ALL_MESSAGE_FIXTURES,
    ALL_STATUS_FIXTURES,
    ALL_WEBHOOK_FIXTURES,
    load_webhook,
)

PHONE_NUMBER_ID = "106540352242922"
SHEENA = Sender(wa_id="16505551234", profile_name="Sheena Nelson")
DAVID = Sender(wa_id="972987654321", profile_name="David Lev")
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
SENT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="


def at(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, tz=UTC)


def common(
    wamid: str = WAMID, *, sender: Sender = SHEENA, timestamp: int, message_type: str
) -> dict[str, Any]:
    return {
        "wamid": wamid,
        "phone_number_id": PHONE_NUMBER_ID,
        "sender": sender,
        "timestamp": at(timestamp),
        "message_type": message_type,
    }


EXPECTED_EVENT: dict[str, object] = {
    "message_text": TextMessage(
        **common(timestamp=1749416383, message_type="text"),
        body="Does it come in another color?",
    ),
    "message_image": MediaMessage(
        **common(timestamp=1744344496, message_type="image"),
        media_id="1003383421387256",
        mime_type="image/jpeg",
        sha256="SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
        caption="Taj Mahal",
        url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...",
    ),
    "message_document": MediaMessage(
        **common(timestamp=1744344496, message_type="document"),
        media_id="622684793477189",
        mime_type="application/pdf",
        sha256="V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=",
        caption="my receipt",
        filename="receipt.pdf",
    ),
    "message_audio_voice": MediaMessage(
        **common("wamid.xyzxyz", sender=DAVID, timestamp=1697043473, message_type="audio"),
        media_id="1234567890987654321",
        mime_type="audio/ogg; codecs=opus",
        sha256="m04pFf2ERdaopTyFkGPA0+bX3i+YY2dYgVFwOgDLSDI=",
        voice=True,
    ),
    "message_video": MediaMessage(
        **common("wamid.xyzxyz", sender=DAVID, timestamp=1697044362, message_type="video"),
        media_id="765756756",
        mime_type="video/mp4",
        sha256="Jh+2ij6PzUv/J2y+grrtegr/ZMzRxkEPwc24Oyib4s03w9Jc=",
        caption="caption",
    ),
    "message_sticker": MediaMessage(
        **common(timestamp=1744344496, message_type="sticker"),
        media_id="1908647269898587",
        mime_type="image/webp",
        sha256="wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI=",
        animated=True,
    ),
    "message_location": LocationMessage(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=",
            timestamp=1744344496,
            message_type="location",
        ),
        latitude=37.44221496582,
        longitude=-122.16165924072,
        name="Philz Coffee",
        address="101 Forest Ave, Palo Alto, CA 94301",
        url="https://philzcoffee.com/",
    ),
    "message_location_current": LocationMessage(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RgA=",
            timestamp=1744344500,
            message_type="location",
        ),
        latitude=37.44221496582,
        longitude=-122.16165924072,
    ),
    "message_contacts": ContactsMessage(
        **common(timestamp=1744344496, message_type="contacts"),
        cards=(
            {
                "name": {
                    "first_name": "Lucía",
                    "last_name": "Gómez",
                    "formatted_name": "Lucía Gómez",
                },
                "org": {"company": "Google"},
                "phones": [
                    {"phone": "+1 (983) 555-2319", "wa_id": "19835552319", "type": "MOBILE"}
                ],
            },
        ),
    ),
    "message_interactive_button_reply": InteractiveReply(
        **common(
            "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQThBREYwNzc2RDc2QjA1QTIwMgA=",
            timestamp=1714510003,
            message_type="interactive",
        ),
        context_wamid="wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJBM0Y4RUU0RUNFQkFDMjYzQUMA",
        interactive_type="button_reply",
        choice_id="change-button",
        title="Change",
    ),
    "message_interactive_list_reply": InteractiveReply(
        **common(
            "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTZDMzFGRUFBQjlDMzIzMzlEQwA=",
            timestamp=1712595443,
            message_type="interactive",
        ),
        context_wamid="wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIwMjg0RkMxOEMyMkNEQUFFRDgA",
        interactive_type="list_reply",
        choice_id="priority_express",
        title="Priority Mail Express",
        description="Next Day to 2 Days",
    ),
    "message_template_button": TemplateButtonReply(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
            timestamp=1750091045,
            message_type="button",
        ),
        context_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA",
        payload="Unsubscribe",
        text="Unsubscribe",
    ),
    "message_reaction": ReactionMessage(
        **common(timestamp=1749419544, message_type="reaction"),
        target_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        emoji="👍",
    ),
    "message_reaction_removed": ReactionMessage(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RkA=",
            timestamp=1749419600,
            message_type="reaction",
        ),
        target_wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA",
        emoji="",
    ),
    "message_order": OrderMessage(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=",
            timestamp=1750096325,
            message_type="order",
        ),
        catalog_id="194836987003835",
        text="",
        product_items=(
            {
                "product_retailer_id": "di9ozbzfi4",
                "quantity": 2,
                "item_price": 30,
                "currency": "USD",
            },
            {
                "product_retailer_id": "nqryix03ez",
                "quantity": 1,
                "item_price": 25,
                "currency": "USD",
            },
        ),
    ),
    "message_system_user_changed_number": SystemMessage(
        **common(
            "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
            sender=Sender(wa_id="16505551234"),  # system messages come without contacts
            timestamp=1750269342,
            message_type="system",
        ),
        system_type="user_changed_number",
        body="User Sheena Nelson changed from 16505551234 to 12195555358",
        new_wa_id="12195555358",
    ),
    "message_unsupported": UnsupportedMessage(
        **common(
            "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
            timestamp=1750090702,
            message_type="unsupported",
        ),
        errors=(
            WebhookError(
                code=131051,
                title="Message type unknown",
                message="Message type unknown",
                details="Message type is currently not supported.",
            ),
        ),
        unsupported_type=None,
    ),
    "message_username_sender": TextMessage(
        **common(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDREVGMDEyMzQ1Njc4OUFCQwA=",
            sender=Sender(
                user_id="US.13491208655302741918", username="@sheena", profile_name="Sheena"
            ),
            timestamp=1779372805,
            message_type="text",
        ),
        body="Hola, quiero reportar un bache",
    ),
    "status_sent": StatusUpdate(
        wamid=SENT_WAMID,
        status="sent",
        timestamp=at(1750030073),
        recipient_id="16505551234",
        phone_number_id=PHONE_NUMBER_ID,
        pricing={
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing",
        },
    ),
    "status_delivered": StatusUpdate(
        wamid=SENT_WAMID,
        status="delivered",
        timestamp=at(1750030080),
        recipient_id="16505551234",
        phone_number_id=PHONE_NUMBER_ID,
        pricing={
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        },
    ),
    "status_read": StatusUpdate(
        wamid=SENT_WAMID,
        status="read",
        timestamp=at(1750030073),
        recipient_id="16505551234",
        phone_number_id=PHONE_NUMBER_ID,
    ),
    "status_failed": StatusUpdate(
        wamid="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
        status="failed",
        timestamp=at(1751142888),
        recipient_id="16505551234",
        phone_number_id=PHONE_NUMBER_ID,
        errors=(
            WebhookError(
                code=131049,
                title="This message was not delivered to maintain healthy ecosystem engagement.",
                message="This message was not delivered to maintain healthy ecosystem engagement.",
                details=(
                    "In order to maintain a healthy ecosystem engagement, "
                    "the message failed to be delivered."
                ),
            ),
        ),
    ),
    "value_errors": AccountError(
        phone_number_id=PHONE_NUMBER_ID,
        errors=(
            WebhookError(
                code=130429,
                title="Rate limit hit",
                message="Rate limit hit",
                details=(
                    "Message failed to send because there were too many messages sent from "
                    "this phone number in a short period of time"
                ),
            ),
        ),
    ),
    "user_preferences_stop": UserPreferenceUpdate(
        sender=Sender(wa_id="16505551234"),
        category="marketing_messages",
        value="stop",
        timestamp=at(1731705001),
        detail="User requested to stop marketing messages",
    ),
    "user_preferences_resume": UserPreferenceUpdate(
        sender=Sender(wa_id="16505551234"),
        category="marketing_messages",
        value="resume",
        timestamp=at(1731705721),
        detail="User requested to resume marketing messages",
    ),
}


def test_every_single_event_fixture_has_an_expectation() -> None:
    assert set(EXPECTED_EVENT) == set(ALL_WEBHOOK_FIXTURES) - {"batched"}
    assert set(ALL_MESSAGE_FIXTURES) | set(ALL_STATUS_FIXTURES) <= set(EXPECTED_EVENT)


@pytest.mark.parametrize("name", sorted(EXPECTED_EVENT))
def test_fixture_parses_into_its_event(name: str) -> None:
    parsed = parse_webhook(load_webhook(name))

    assert parsed == ParsedWebhook(events=(EXPECTED_EVENT[name],), problems=())
    assert type(parsed.events[0]) is type(EXPECTED_EVENT[name])


@pytest.mark.parametrize("name", ALL_MESSAGE_FIXTURES)
def test_inbound_messages_keep_their_raw_message_and_metadata(name: str) -> None:
    payload = load_webhook(name)
    value = payload["entry"][0]["changes"][0]["value"]

    (message,) = parse_webhook(payload).events

    assert isinstance(message, InboundMessage)
    assert message.raw == value["messages"][0]
    assert message.raw_metadata == value["metadata"]


@pytest.mark.parametrize("name", ALL_WEBHOOK_FIXTURES)
def test_timestamps_are_aware_utc(name: str) -> None:
    for event in parse_webhook(load_webhook(name)).events:
        timestamp = getattr(event, "timestamp", None)
        if timestamp is not None:
            assert timestamp.tzinfo is UTC


def test_username_sender_is_keyed_by_bsuid() -> None:
    (message,) = parse_webhook(load_webhook("message_username_sender")).events

    assert isinstance(message, InboundMessage)
    assert message.sender.key == "bsuid:US.13491208655302741918"
    assert message.text_for_bot == "Hola, quiero reportar un bache"


def test_batched_payload_yields_every_event_of_every_entry_and_change() -> None:
    parsed = parse_webhook(load_webhook("batched"))

    assert parsed.problems == ()
    assert [(type(event).__name__, getattr(event, "wamid", None)) for event in parsed.events] == [
        ("TextMessage", "wamid.BATCH1"),
        ("LocationMessage", "wamid.BATCH2"),
        ("StatusUpdate", SENT_WAMID),
        ("StatusUpdate", SENT_WAMID),
        ("MediaMessage", "wamid.BATCH3"),
        ("StatusUpdate", "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"),
        ("UserPreferenceUpdate", None),
    ]
    text, location, sent, delivered, image, failed, preference = parsed.events
    # Each message is matched to its own contact, not to contacts[0].
    assert isinstance(text, TextMessage) and text.sender == SHEENA
    assert isinstance(location, LocationMessage)
    assert location.sender == Sender(wa_id="19835552319", profile_name="Lucía Gómez")
    assert [getattr(event, "status", None) for event in (sent, delivered, failed)] == [
        "sent",
        "delivered",
        "failed",
    ]
    # The second entry belongs to another business number.
    assert isinstance(image, MediaMessage) and image.phone_number_id == "106540352242923"
    assert isinstance(failed, StatusUpdate) and failed.phone_number_id == "106540352242923"
    assert isinstance(preference, UserPreferenceUpdate)
    assert preference.sender == Sender(wa_id="19835552319") and preference.value == "stop"


# --- liberal reading --------------------------------------------------------------------------


def single_message_payload(
    message: dict[str, Any], contacts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    payload = load_webhook("message_text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [message]
    if contacts is None:
        value.pop("contacts")
    else:
        value["contacts"] = contacts
    return payload


def text_message(**fields: Any) -> dict[str, Any]:
    return {"id": "wamid.X", "timestamp": "1749416383", "type": "text", "text": {"body": "hi"}} | (
        fields
    )


def only_event(payload: object) -> Any:
    parsed = parse_webhook(payload)
    assert parsed.problems == ()
    (event,) = parsed.events
    return event


def test_sender_with_both_phone_and_bsuid_keeps_both() -> None:
    message = only_event(
        single_message_payload(
            text_message(**{"from": "919810218674", "from_user_id": "IN.1410018717833190"}),
            [
                {
                    "profile": {"name": "Krish"},
                    "wa_id": "919810218674",
                    "user_id": "IN.1410018717833190",
                    "country_code": "IN",
                }
            ],
        )
    )

    assert message.sender == Sender(
        wa_id="919810218674", user_id="IN.1410018717833190", profile_name="Krish"
    )
    assert message.sender.key == "wa:919810218674"


def test_bsuid_in_from_is_taken_as_user_id_not_phone() -> None:
    message = only_event(
        single_message_payload(
            text_message(**{"from": "US.13491208655302741918"}),
            [{"user_id": "US.13491208655302741918", "username": "sheena"}],
        )
    )

    assert message.sender == Sender(user_id="US.13491208655302741918", username="sheena")


def test_bsuid_only_message_gets_phone_from_its_contact_when_meta_knows_it() -> None:
    message = only_event(
        single_message_payload(
            text_message(from_user_id="US.1"),
            [{"profile": {"name": "Ana"}, "wa_id": "34600111222", "user_id": "US.1"}],
        )
    )

    assert message.sender == Sender(wa_id="34600111222", user_id="US.1", profile_name="Ana")


def test_message_without_matching_contact_still_has_its_sender() -> None:
    message = only_event(
        single_message_payload(
            text_message(**{"from": "34600111222"}), [{"wa_id": "1", "profile": {"name": "Other"}}]
        )
    )

    assert message.sender == Sender(wa_id="34600111222")


def test_context_forwarding_and_referral_are_kept() -> None:
    referral = {"source_url": "https://fb.me/ad", "source_type": "ad", "ctwa_clid": "abc"}
    message = only_event(
        single_message_payload(
            text_message(
                **{"from": "34600111222"},
                context={"frequently_forwarded": True},
                referral=referral,
            )
        )
    )

    assert message.forwarded is True
    assert message.context_wamid is None
    assert message.referral == referral


@pytest.mark.parametrize(
    ("message", "unsupported_type"),
    [
        ({"type": "poll", "poll": {}}, "poll"),
        ({"type": "unsupported", "unsupported": {"type": "poll"}}, "poll"),
        ({"type": "unknown"}, None),
        ({"type": "interactive", "interactive": {"type": "nfm_reply"}}, "interactive.nfm_reply"),
    ],
)
def test_types_without_a_reader_become_unsupported(
    message: dict[str, Any], unsupported_type: str | None
) -> None:
    wire = {"from": "34600111222", "id": "wamid.X", "timestamp": "1749416383"} | message

    event = only_event(single_message_payload(wire))

    assert isinstance(event, UnsupportedMessage)
    assert event.unsupported_type == unsupported_type
    assert event.message_type == message["type"]


def test_status_of_a_username_recipient_uses_recipient_user_id() -> None:
    payload = load_webhook("status_read")
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    del status["recipient_id"]
    status["recipient_user_id"] = "US.13491208655302741918"
    status["status"] = "played"
    status["biz_opaque_callback_data"] = "reminder:42"

    event = only_event(payload)

    assert event.recipient_id == "US.13491208655302741918"
    assert event.status == "played"
    assert event.biz_opaque_callback_data == "reminder:42"


def test_location_coordinates_as_strings_are_accepted() -> None:
    wire = {
        "from": "34600111222",
        "id": "wamid.X",
        "timestamp": "1749416383",
        "type": "location",
        "location": {"latitude": "40.4168", "longitude": "-3.7038"},
    }

    event = only_event(single_message_payload(wire))

    assert (event.latitude, event.longitude) == (40.4168, -3.7038)


# --- malformed payloads: never raise, say where -------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    return payload["entry"][0]["changes"][0]["value"]


def first_message(payload: dict[str, Any]) -> dict[str, Any]:
    return value_of(payload)["messages"][0]


def first_status(payload: dict[str, Any]) -> dict[str, Any]:
    return value_of(payload)["statuses"][0]


def first_preference(payload: dict[str, Any]) -> dict[str, Any]:
    return value_of(payload)["user_preferences"][0]


def replaced(fixture: str, change: Callable[[dict[str, Any]], None]) -> Callable[[], object]:
    def build() -> object:
        payload = load_webhook(fixture)
        change(payload)
        return payload

    return build


def whole(value: object) -> Callable[[], object]:
    return lambda: copy.deepcopy(value)


V = "entry[0].changes[0].value"
M = f"{V}.messages[0]"
S = f"{V}.statuses[0]"
P = f"{V}.user_preferences[0]"

# (id, payload factory, the exact problem expected)
MALFORMED: list[tuple[str, Callable[[], object], str]] = [
    ("none", whole(None), "payload: not a JSON object (NoneType)"),
    ("list", whole([]), "payload: not a JSON object (list)"),
    (
        "string",
        whole('{"object": "whatsapp_business_account"}'),
        "payload: not a JSON object (str)",
    ),
    ("number", whole(42), "payload: not a JSON object (int)"),
    (
        "wrong object",
        whole({"object": "page", "entry": []}),
        "object: expected 'whatsapp_business_account', got 'page'",
    ),
    (
        "no object",
        whole({"entry": []}),
        "object: expected 'whatsapp_business_account', got None",
    ),
    ("no entry", whole({"object": "whatsapp_business_account"}), "entry: missing or not a list"),
    (
        "entry not a list",
        whole({"object": "whatsapp_business_account", "entry": {"id": "1"}}),
        "entry: missing or not a list",
    ),
    (
        "entry item not an object",
        whole({"object": "whatsapp_business_account", "entry": ["x"]}),
        "entry[0]: not an object",
    ),
    (
        "no changes",
        whole({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}),
        "entry[0].changes: missing or not a list",
    ),
    (
        "change not an object",
        whole({"object": "whatsapp_business_account", "entry": [{"changes": [7]}]}),
        "entry[0].changes[0]: not an object",
    ),
    (
        "change without field",
        replaced("message_text", lambda p: p["entry"][0]["changes"][0].pop("field")),
        "entry[0].changes[0]: field None ignored",
    ),
    (
        "account_update field",
        replaced(
            "message_text",
            lambda p: p["entry"][0]["changes"][0].update(field="account_update"),
        ),
        "entry[0].changes[0]: field 'account_update' ignored",
    ),
    (
        "template status field",
        replaced(
            "message_text",
            lambda p: p["entry"][0]["changes"][0].update(field="message_template_status_update"),
        ),
        "entry[0].changes[0]: field 'message_template_status_update' ignored",
    ),
    (
        "value not an object",
        replaced("message_text", lambda p: p["entry"][0]["changes"][0].update(value=[])),
        f"{V}: not an object",
    ),
    (
        "empty value",
        replaced("message_text", lambda p: p["entry"][0]["changes"][0].update(value={})),
        f"{V}: no messages, statuses or errors",
    ),
    (
        "no phone_number_id",
        replaced("message_text", lambda p: value_of(p)["metadata"].pop("phone_number_id")),
        f"{V}.metadata: without phone_number_id; its messages and statuses skipped",
    ),
    (
        "no metadata",
        replaced("status_sent", lambda p: value_of(p).pop("metadata")),
        f"{V}.metadata: without phone_number_id; its messages and statuses skipped",
    ),
    (
        "messages not a list",
        replaced("message_text", lambda p: value_of(p).update(messages={"id": "x"})),
        f"{V}.messages: not a list",
    ),
    (
        "message not an object",
        replaced("message_text", lambda p: value_of(p).update(messages=["hello"])),
        f"{M}: message is not an object",
    ),
    (
        "message without type",
        replaced("message_text", lambda p: first_message(p).pop("type")),
        f"{M}: message without type",
    ),
    (
        "message without id",
        replaced("message_text", lambda p: first_message(p).pop("id")),
        f"{M}: text without id",
    ),
    (
        "message with empty id",
        replaced("message_image", lambda p: first_message(p).update(id="")),
        f"{M}: image without id",
    ),
    (
        "message without timestamp",
        replaced("message_text", lambda p: first_message(p).pop("timestamp")),
        f"{M}: text without timestamp",
    ),
    (
        "message with words for a timestamp",
        replaced("message_text", lambda p: first_message(p).update(timestamp="yesterday")),
        f"{M}: text with bad timestamp 'yesterday'",
    ),
    (
        "message with a float timestamp",
        replaced("message_text", lambda p: first_message(p).update(timestamp=1.5)),
        f"{M}: text with bad timestamp 1.5",
    ),
    (
        "message with an absurd timestamp",
        replaced("message_text", lambda p: first_message(p).update(timestamp="9" * 30)),
        f"{M}: text with out-of-range timestamp '{'9' * 30}'",
    ),
    (
        "message without sender",
        replaced("message_text", lambda p: first_message(p).pop("from")),
        f"{M}: text without sender (no wa_id or user_id)",
    ),
    (
        "text without its object",
        replaced("message_text", lambda p: first_message(p).pop("text")),
        f"{M}: text without text object",
    ),
    (
        "text without body",
        replaced("message_text", lambda p: first_message(p)["text"].pop("body")),
        f"{M}: text without body",
    ),
    (
        "image without its object",
        replaced("message_image", lambda p: first_message(p).update(image="a picture")),
        f"{M}: image without image object",
    ),
    (
        "image without id",
        replaced("message_image", lambda p: first_message(p)["image"].pop("id")),
        f"{M}: image without id",
    ),
    (
        "document without id",
        replaced("message_document", lambda p: first_message(p)["document"].pop("id")),
        f"{M}: document without id",
    ),
    (
        "audio without its object",
        replaced("message_audio_voice", lambda p: first_message(p).pop("audio")),
        f"{M}: audio without audio object",
    ),
    (
        "location without latitude",
        replaced("message_location", lambda p: first_message(p)["location"].pop("latitude")),
        f"{M}: location without latitude",
    ),
    (
        "location with words for longitude",
        replaced(
            "message_location", lambda p: first_message(p)["location"].update(longitude="west")
        ),
        f"{M}: location with bad longitude 'west'",
    ),
    (
        "location with a boolean latitude",
        replaced("message_location", lambda p: first_message(p)["location"].update(latitude=True)),
        f"{M}: location with bad latitude True",
    ),
    (
        "location with a NaN latitude",
        replaced("message_location", lambda p: first_message(p)["location"].update(latitude="nan")),
        f"{M}: location with bad latitude 'nan'",
    ),
    (
        "contacts not a list",
        replaced("message_contacts", lambda p: first_message(p).update(contacts={"name": "x"})),
        f"{M}: contacts without a list of contact cards",
    ),
    (
        "interactive without its reply object",
        replaced(
            "message_interactive_list_reply",
            lambda p: first_message(p)["interactive"].pop("list_reply"),
        ),
        f"{M}: interactive list_reply without list_reply object",
    ),
    (
        "button reply without id",
        replaced(
            "message_interactive_button_reply",
            lambda p: first_message(p)["interactive"]["button_reply"].pop("id"),
        ),
        f"{M}: interactive button_reply without id",
    ),
    (
        "template button without payload or text",
        replaced("message_template_button", lambda p: first_message(p).update(button={})),
        f"{M}: button without payload or text",
    ),
    (
        "reaction without target",
        replaced("message_reaction", lambda p: first_message(p)["reaction"].pop("message_id")),
        f"{M}: reaction without message_id",
    ),
    (
        "order without catalog",
        replaced("message_order", lambda p: first_message(p)["order"].pop("catalog_id")),
        f"{M}: order without catalog_id",
    ),
    (
        "system without type",
        replaced(
            "message_system_user_changed_number",
            lambda p: first_message(p)["system"].pop("type"),
        ),
        f"{M}: system without type",
    ),
    (
        "status not an object",
        replaced("status_sent", lambda p: value_of(p).update(statuses=[None])),
        f"{S}: status is not an object",
    ),
    (
        "status without id",
        replaced("status_sent", lambda p: first_status(p).pop("id")),
        f"{S}: status without id",
    ),
    (
        "status without status",
        replaced("status_sent", lambda p: first_status(p).pop("status")),
        f"{S}: status without status",
    ),
    (
        "status without recipient",
        replaced("status_delivered", lambda p: first_status(p).pop("recipient_id")),
        f"{S}: delivered status without recipient_id",
    ),
    (
        "status with bad timestamp",
        replaced("status_read", lambda p: first_status(p).update(timestamp="soon")),
        f"{S}: read status with bad timestamp 'soon'",
    ),
    (
        "preference without value",
        replaced("user_preferences_stop", lambda p: first_preference(p).pop("value")),
        f"{P}: user preference without value",
    ),
    (
        "preference without user",
        replaced("user_preferences_stop", lambda p: first_preference(p).pop("wa_id")),
        f"{P}: user preference without sender (no wa_id or user_id)",
    ),
    (
        "preference without timestamp",
        replaced("user_preferences_resume", lambda p: first_preference(p).pop("timestamp")),
        f"{P}: user preference without timestamp",
    ),
    (
        "preferences not a list",
        replaced("user_preferences_resume", lambda p: value_of(p).update(user_preferences="stop")),
        f"{V}.user_preferences: not a list",
    ),
    (
        "value errors without code",
        replaced("value_errors", lambda p: value_of(p)["errors"][0].pop("code")),
        f"{V}.errors[0]: error without code",
    ),
    (
        "value errors not a list",
        replaced("value_errors", lambda p: value_of(p).update(errors="boom")),
        f"{V}.errors: not a list",
    ),
]


@pytest.mark.parametrize(
    ("build", "problem"),
    [pytest.param(build, problem, id=name) for name, build, problem in MALFORMED],
)
def test_malformed_payload_is_reported_with_its_path_and_never_raises(
    build: Callable[[], object], problem: str
) -> None:
    parsed = parse_webhook(build())

    assert parsed.events == ()
    assert parsed.problems == (problem,)


def test_a_bad_error_inside_a_status_costs_only_that_error() -> None:
    payload = load_webhook("status_failed")
    first_status(payload)["errors"].insert(0, {"title": "no code"})

    parsed = parse_webhook(payload)

    assert parsed.events == (EXPECTED_EVENT["status_failed"],)
    assert parsed.problems == (f"{S}.errors[0]: error without code",)


def test_one_bad_message_costs_only_itself_and_its_path_points_at_it() -> None:
    payload = load_webhook("batched")
    second_change = payload["entry"][0]["changes"][1]["value"]
    broken_image = copy.deepcopy(load_webhook("message_image")["entry"][0]["changes"][0])
    del broken_image["value"]["messages"][0]["image"]["id"]
    second_change["messages"] = [
        first_message(load_webhook("message_text")),
        first_message(load_webhook("message_reaction")),
        broken_image["value"]["messages"][0],
        first_message(load_webhook("message_order")),
    ]
    second_change["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]

    parsed = parse_webhook(payload)

    assert parsed.problems == ("entry[0].changes[1].value.messages[2]: image without id",)
    assert [type(event).__name__ for event in parsed.events] == [
        "TextMessage",
        "LocationMessage",
        "TextMessage",
        "ReactionMessage",
        "OrderMessage",
        "StatusUpdate",
        "StatusUpdate",
        "MediaMessage",
        "StatusUpdate",
        "UserPreferenceUpdate",
    ]


def test_ignored_fields_do_not_hide_the_other_changes() -> None:
    payload = load_webhook("message_text")
    payload["entry"][0]["changes"].insert(
        0, {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    )

    parsed = parse_webhook(payload)

    assert parsed.events == (EXPECTED_EVENT["message_text"],)
    assert parsed.problems == ("entry[0].changes[0]: field 'account_update' ignored",)


def _every_path(node: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key)
            yield from _every_path(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*path, index)
            yield from _every_path(child, (*path, index))


def _set(payload: Any, path: tuple[Any, ...], value: object) -> bool:
    """Put `value` at `path` (or delete it); True when that leaves an empty list behind."""
    for step in path[:-1]:
        payload = payload[step]
    if value is _DELETE:
        del payload[path[-1]]
    else:
        payload[path[-1]] = value
    return value == [] or (isinstance(payload, list) and not payload)


_DELETE = object()
_ODD_VALUES: tuple[object, ...] = (
    _DELETE,
    None,
    "",
    "x",
    0,
    -1,
    True,
    1.5,
    [],
    {},
    [None],
    {"a": 1},
)


@pytest.mark.parametrize("name", ALL_WEBHOOK_FIXTURES)
def test_no_corruption_of_any_field_makes_the_parser_raise(name: str) -> None:
    pristine = load_webhook(name)
    for path in _every_path(pristine):
        for odd in _ODD_VALUES:
            payload = copy.deepcopy(pristine)
            emptied_a_list = _set(payload, path, odd)

            parsed = parse_webhook(payload)

            assert isinstance(parsed, ParsedWebhook), (path, odd)
            assert all(isinstance(problem, str) for problem in parsed.problems)
            # Whatever was dropped is accounted for (an emptied list just holds nothing).
            assert parsed.events or parsed.problems or emptied_a_list, (path, odd)


# --- envelope_for -------------------------------------------------------------------------------


def _inbound_messages() -> list[InboundMessage]:
    messages: list[InboundMessage] = []
    for name in (*ALL_MESSAGE_FIXTURES, "batched"):
        messages += [
            e for e in parse_webhook(load_webhook(name)).events if isinstance(e, InboundMessage)
        ]
    return messages


@pytest.mark.parametrize(
    "message", _inbound_messages(), ids=lambda m: f"{m.message_type}-{m.wamid}"
)
def test_envelope_for_round_trips(message: InboundMessage) -> None:
    envelope = envelope_for(message)

    reparsed = parse_webhook(envelope)

    assert reparsed.events == (message,)
    assert reparsed.problems == ()
    (again,) = reparsed.events
    assert isinstance(again, InboundMessage)
    assert again.raw == message.raw
    assert again.raw_metadata == message.raw_metadata


def test_envelope_is_a_minimal_webhook_with_just_that_message_and_contact() -> None:
    batched = parse_webhook(load_webhook("batched")).events
    location = batched[1]
    assert isinstance(location, LocationMessage)

    envelope = envelope_for(location)

    assert envelope == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {"profile": {"name": "Lucía Gómez"}, "wa_id": "19835552319"}
                            ],
                            "messages": [location.raw],
                        },
                    }
                ]
            }
        ],
    }


def test_system_message_envelope_has_no_contacts() -> None:
    (system,) = parse_webhook(load_webhook("message_system_user_changed_number")).events
    assert isinstance(system, SystemMessage)

    value = envelope_for(system)["entry"][0]["changes"][0]["value"]

    assert "contacts" not in value


def test_envelope_needs_a_message_that_came_from_a_webhook() -> None:
    made_up = TextMessage(**common(timestamp=1, message_type="text"), body="hi")

    with pytest.raises(ValueError, match="no raw wire object"):
        envelope_for(made_up)


def test_contacts_that_are_not_a_list_cost_only_the_profile_names() -> None:
    payload = load_webhook("message_text")
    value_of(payload)["contacts"] = {"wa_id": "16505551234"}

    parsed = parse_webhook(payload)

    (message,) = parsed.events
    assert isinstance(message, TextMessage) and message.sender == Sender(wa_id="16505551234")
    assert parsed.problems == (f"{V}.contacts: not a list; senders read without profiles",)
