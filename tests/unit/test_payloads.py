"""Reply → exact Graph API message body, and Meta's limits named by field."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.replies import (
    Button,
    ButtonsReply,
    MediaReply,
    MenuReply,
    MenuRow,
    Reply,
    TemplateReply,
    TextReply,
)
from chalicelib.whatsapp.payloads import PayloadError, build_message_payload

WA_ID = "16505551234"
BSUID = "US.13491208655302741918"
BASE = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234"}


def rows(count: int) -> tuple[MenuRow, ...]:
    return tuple(MenuRow(id=f"row-{index}", title=f"Option {index}") for index in range(count))


def buttons(*titles: str) -> tuple[Button, ...]:
    return tuple(Button(id=f"b{index}", title=title) for index, title in enumerate(titles))


# --- exact bodies -------------------------------------------------------------------------------


def test_text() -> None:
    reply = TextReply(text="As requested, here's the link: https://www.meta.com/", preview_url=True)

    assert build_message_payload(WA_ID, reply) == BASE | {
        "type": "text",
        "text": {
            "preview_url": True,
            "body": "As requested, here's the link: https://www.meta.com/",
        },
    }


def test_text_as_quoted_reply() -> None:
    payload = build_message_payload(WA_ID, TextReply(text="Got it"), context_wamid="wamid.IN")

    assert payload == BASE | {
        "type": "text",
        "text": {"preview_url": False, "body": "Got it"},
        "context": {"message_id": "wamid.IN"},
    }


def test_menu_becomes_an_interactive_list_with_one_section() -> None:
    reply = MenuReply(
        header="Choose Shipping Option",
        body="Which shipping option do you prefer?",
        footer="Lucky Shrub: Your gateway to succulents",
        button="Shipping Options",
        section_title="I want it ASAP!",
        rows=(
            MenuRow(
                id="priority_express",
                title="Priority Mail Express",
                description="Next Day to 2 Days",
            ),
            MenuRow(id="ground", title="Ground"),
        ),
    )

    assert build_message_payload(WA_ID, reply) == BASE | {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": {"type": "text", "text": "Choose Shipping Option"},
            "body": {"text": "Which shipping option do you prefer?"},
            "footer": {"text": "Lucky Shrub: Your gateway to succulents"},
            "action": {
                "button": "Shipping Options",
                "sections": [
                    {
                        "title": "I want it ASAP!",
                        "rows": [
                            {
                                "id": "priority_express",
                                "title": "Priority Mail Express",
                                "description": "Next Day to 2 Days",
                            },
                            {"id": "ground", "title": "Ground"},
                        ],
                    }
                ],
            },
        },
    }


def test_menu_without_section_title_uses_the_button_label_and_skips_empty_extras() -> None:
    reply = MenuReply(
        body="¿Qué trámite?", button="Ver trámites", rows=rows(1), header="", footer=None
    )

    assert build_message_payload(WA_ID, reply)["interactive"] == {
        "type": "list",
        "body": {"text": "¿Qué trámite?"},
        "action": {
            "button": "Ver trámites",
            "sections": [{"title": "Ver trámites", "rows": [{"id": "row-0", "title": "Option 0"}]}],
        },
    }


def test_buttons_become_interactive_reply_buttons() -> None:
    reply = ButtonsReply(
        header="Workshop",
        body="Your workshop is at 9am tomorrow. Need to reschedule?",
        footer="Lucky Shrub",
        buttons=(
            Button(id="change-button", title="Change"),
            Button(id="cancel-button", title="Cancel"),
        ),
    )

    assert build_message_payload(WA_ID, reply) == BASE | {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Workshop"},
            "body": {"text": "Your workshop is at 9am tomorrow. Need to reschedule?"},
            "footer": {"text": "Lucky Shrub"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "change-button", "title": "Change"}},
                    {"type": "reply", "reply": {"id": "cancel-button", "title": "Cancel"}},
                ]
            },
        },
    }


def test_template_with_body_parameters_and_quick_reply_payloads() -> None:
    reply = TemplateReply(
        name="appointment_reminder",
        language="es_ES",
        body_params=("Ana", "martes 10:00"),
        button_payloads=("CONFIRM:42", "CANCEL:42"),
    )

    assert build_message_payload(WA_ID, reply) == BASE | {
        "type": "template",
        "template": {
            "name": "appointment_reminder",
            "language": {"code": "es_ES"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "martes 10:00"},
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "CONFIRM:42"}],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "CANCEL:42"}],
                },
            ],
        },
    }


def test_minimal_template_has_no_components() -> None:
    payload = build_message_payload(WA_ID, TemplateReply(name="hello_world", language="en_US"))

    assert payload == BASE | {
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            MediaReply(media_type="image", media_id="1479537139650973", caption="The best?"),
            {"type": "image", "image": {"id": "1479537139650973", "caption": "The best?"}},
        ),
        (
            MediaReply(
                media_type="document",
                link="https://example.com/invoice.pdf",
                filename="invoice.pdf",
                caption="Your invoice",
            ),
            {
                "type": "document",
                "document": {
                    "link": "https://example.com/invoice.pdf",
                    "filename": "invoice.pdf",
                    "caption": "Your invoice",
                },
            },
        ),
        (
            MediaReply(media_type="video", link="https://example.com/v.mp4", caption="Tour"),
            {"type": "video", "video": {"link": "https://example.com/v.mp4", "caption": "Tour"}},
        ),
        (
            MediaReply(media_type="audio", media_id="99"),
            {"type": "audio", "audio": {"id": "99"}},
        ),
        (
            MediaReply(media_type="sticker", link="http://example.com/s.webp", caption=""),
            {"type": "sticker", "sticker": {"link": "http://example.com/s.webp"}},
        ),
    ],
)
def test_media_by_link_or_id(reply: MediaReply, expected: dict[str, Any]) -> None:
    assert build_message_payload(WA_ID, reply) == BASE | expected


# --- recipients ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "addressee"),
    [
        ("16505551234", {"to": "+16505551234"}),
        ("+16505551234", {"to": "+16505551234"}),
        ("+1 (650) 555-1234", {"to": "+16505551234"}),
        (" 34600111222 ", {"to": "+34600111222"}),
        (BSUID, {"recipient": BSUID}),
        ("US.ENT.11815799212886844830", {"recipient": "US.ENT.11815799212886844830"}),
    ],
)
def test_phone_numbers_go_in_to_with_a_plus_and_bsuids_in_recipient(
    recipient: str, addressee: dict[str, str]
) -> None:
    payload = build_message_payload(recipient, TextReply(text="hola"))

    assert {key: payload[key] for key in ("to", "recipient") if key in payload} == addressee


@pytest.mark.parametrize("recipient", ["", "   "])
def test_empty_recipient_is_refused(recipient: str) -> None:
    with pytest.raises(PayloadError, match=r"^to: empty recipient$"):
        build_message_payload(recipient, TextReply(text="hola"))


# --- limits -------------------------------------------------------------------------------------

ROW = "interactive.action.sections[0].rows"
BUTTON = "interactive.action.buttons"

LIMIT_VIOLATIONS: list[tuple[str, Reply, str]] = [
    ("text too long", TextReply(text="x" * 4097), "text.body: 4097 characters, at most 4096"),
    ("text empty", TextReply(text=""), "text.body: empty"),
    ("text blank", TextReply(text="  \n"), "text.body: empty"),
    (
        "menu with 11 rows",
        MenuReply(body="b", button="Open", rows=rows(11)),
        f"{ROW}: 11 rows, 1 to 10 allowed",
    ),
    (
        "menu with no rows",
        MenuReply(body="b", button="Open", rows=()),
        f"{ROW}: 0 rows, 1 to 10 allowed",
    ),
    (
        "row title",
        MenuReply(body="b", button="Open", rows=(*rows(3), MenuRow(id="r3", title="t" * 27))),
        f"{ROW}[3].title: 27 characters, at most 24",
    ),
    (
        "row description",
        MenuReply(
            body="b", button="Open", rows=(MenuRow(id="r", title="t", description="d" * 73),)
        ),
        f"{ROW}[0].description: 73 characters, at most 72",
    ),
    (
        "row id",
        MenuReply(body="b", button="Open", rows=(MenuRow(id="i" * 201, title="t"),)),
        f"{ROW}[0].id: 201 characters, at most 200",
    ),
    (
        "row id repeated",
        MenuReply(
            body="b", button="Open", rows=(MenuRow(id="a", title="A"), MenuRow(id="a", title="B"))
        ),
        f"{ROW}[1].id: 'a' repeats {ROW}[0]",
    ),
    (
        "list button",
        MenuReply(body="b", button="B" * 21, rows=rows(1)),
        "interactive.action.button: 21 characters, at most 20",
    ),
    (
        "list button empty",
        MenuReply(body="b", button="", rows=rows(1)),
        "interactive.action.button: empty",
    ),
    (
        "section title",
        MenuReply(body="b", button="Open", rows=rows(1), section_title="s" * 25),
        "interactive.action.sections[0].title: 25 characters, at most 24",
    ),
    (
        "list header",
        MenuReply(body="b", button="Open", rows=rows(1), header="h" * 61),
        "interactive.header.text: 61 characters, at most 60",
    ),
    (
        "list footer",
        MenuReply(body="b", button="Open", rows=rows(1), footer="f" * 61),
        "interactive.footer.text: 61 characters, at most 60",
    ),
    (
        "list body",
        MenuReply(body="b" * 1025, button="Open", rows=rows(1)),
        "interactive.body.text: 1025 characters, at most 1024",
    ),
    (
        "four buttons",
        ButtonsReply(body="b", buttons=buttons("A", "B", "C", "D")),
        f"{BUTTON}: 4 buttons, 1 to 3 allowed",
    ),
    ("no buttons", ButtonsReply(body="b", buttons=()), f"{BUTTON}: 0 buttons, 1 to 3 allowed"),
    (
        "button title",
        ButtonsReply(body="b", buttons=buttons("Yes", "t" * 21)),
        f"{BUTTON}[1].reply.title: 21 characters, at most 20",
    ),
    (
        "button title empty",
        ButtonsReply(body="b", buttons=buttons("")),
        f"{BUTTON}[0].reply.title: empty",
    ),
    (
        "button titles repeated",
        ButtonsReply(body="b", buttons=buttons("Yes", "No", "Yes")),
        f"{BUTTON}[2].reply.title: 'Yes' repeats {BUTTON}[0]",
    ),
    (
        "button ids repeated",
        ButtonsReply(body="b", buttons=(Button(id="x", title="A"), Button(id="x", title="B"))),
        f"{BUTTON}[1].reply.id: 'x' repeats {BUTTON}[0]",
    ),
    (
        "button id too long",
        ButtonsReply(body="b", buttons=(Button(id="i" * 257, title="A"),)),
        f"{BUTTON}[0].reply.id: 257 characters, at most 256",
    ),
    (
        "button id with spaces",
        ButtonsReply(body="b", buttons=(Button(id=" yes", title="A"),)),
        f"{BUTTON}[0].reply.id: leading or trailing spaces",
    ),
    (
        "buttons body",
        ButtonsReply(body="b" * 1025, buttons=buttons("A")),
        "interactive.body.text: 1025 characters, at most 1024",
    ),
    (
        "buttons body empty",
        ButtonsReply(body="", buttons=buttons("A")),
        "interactive.body.text: empty",
    ),
    (
        "buttons header",
        ButtonsReply(body="b", buttons=buttons("A"), header="h" * 61),
        "interactive.header.text: 61 characters, at most 60",
    ),
    (
        "buttons footer",
        ButtonsReply(body="b", buttons=buttons("A"), footer="f" * 61),
        "interactive.footer.text: 61 characters, at most 60",
    ),
    ("template name", TemplateReply(name="", language="es"), "template.name: empty"),
    (
        "template language",
        TemplateReply(name="t", language=""),
        "template.language.code: empty",
    ),
    (
        "template empty parameter",
        TemplateReply(name="t", language="es", body_params=("Ana", "")),
        "template.components[0].parameters[1].text: empty",
    ),
    (
        "template empty payload",
        TemplateReply(name="t", language="es", body_params=("Ana",), button_payloads=("",)),
        "template.components[1].parameters[0].payload: empty",
    ),
    (
        "caption",
        MediaReply(media_type="image", media_id="1", caption="c" * 1025),
        "image.caption: 1025 characters, at most 1024",
    ),
    (
        "caption on audio",
        MediaReply(media_type="audio", media_id="1", caption="listen"),
        "audio.caption: not allowed for audio",
    ),
    (
        "caption on sticker",
        MediaReply(media_type="sticker", media_id="1", caption="lol"),
        "sticker.caption: not allowed for sticker",
    ),
    (
        "filename on image",
        MediaReply(media_type="image", media_id="1", filename="a.jpg"),
        "image.filename: not allowed for image",
    ),
    (
        "neither link nor id",
        MediaReply(media_type="document"),
        "document: exactly one of link or id is required",
    ),
    (
        "both link and id",
        MediaReply(media_type="video", media_id="1", link="https://example.com/v.mp4"),
        "video: exactly one of link or id is required",
    ),
    (
        "link not http",
        MediaReply(media_type="image", link="file:///etc/passwd"),
        "image.link: not an http(s) URL",
    ),
    (
        "unknown media type",
        MediaReply(media_type="gif", media_id="1"),
        "type: 'gif' is not a media type (image, video, document, audio, sticker)",
    ),
]


@pytest.mark.parametrize(
    ("reply", "message"),
    [pytest.param(reply, message, id=name) for name, reply, message in LIMIT_VIOLATIONS],
)
def test_limit_violation_names_the_field(reply: Reply, message: str) -> None:
    with pytest.raises(PayloadError) as raised:
        build_message_payload(WA_ID, reply)

    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "reply",
    [
        TextReply(text="x" * 4096),
        MenuReply(
            body="b" * 1024,
            button="B" * 20,
            header="h" * 60,
            footer="f" * 60,
            section_title="s" * 24,
            rows=tuple(
                MenuRow(id=f"{index}" + "i" * 190, title="t" * 24, description="d" * 72)
                for index in range(10)
            ),
        ),
        ButtonsReply(
            body="b" * 1024, header="h" * 60, footer="f" * 60, buttons=buttons("A" * 20, "B", "C")
        ),
        MediaReply(media_type="document", media_id="1", caption="c" * 1024, filename="f.pdf"),
    ],
    ids=["text", "menu", "buttons", "media"],
)
def test_everything_exactly_at_the_limits_is_accepted(reply: Reply) -> None:
    assert build_message_payload(WA_ID, reply)["messaging_product"] == "whatsapp"


def test_limits_count_characters_not_bytes() -> None:
    accented = "ñ" * 24  # 48 bytes in UTF-8

    reply = MenuReply(body="b", button="Abrir", rows=(MenuRow(id="r", title=accented),))

    assert (
        build_message_payload(WA_ID, reply)["interactive"]["action"]["sections"][0]["rows"][0][
            "title"
        ]
        == accented
    )


def test_something_that_is_not_a_reply_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        build_message_payload(WA_ID, "hello")  # type: ignore[arg-type]


def test_callback_data_rides_along_and_is_bounded() -> None:
    from chalicelib.whatsapp.payloads import CALLBACK_DATA_MAX, PayloadError

    payload = build_message_payload("351912345678", TextReply(text="Olá"), callback_data="msg-1")
    assert payload["biz_opaque_callback_data"] == "msg-1"
    with pytest.raises(PayloadError, match="biz_opaque_callback_data"):
        build_message_payload(
            "351912345678", TextReply(text="Olá"), callback_data="x" * (CALLBACK_DATA_MAX + 1)
        )
